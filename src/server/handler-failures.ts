import type { FastifyBaseLogger } from 'fastify';
import { SocketError } from '../errors/index.js';
import type { FailureLog } from '../fastify/plugin.js';
import type { RateLimitedLog } from './rate-limited-log.js';

/**
 * The app listener's handler failures, rate-limited per target: a failure reaching a backend (Redis, an
 * upstream) is one warn line per backend address per second, without a stack; any other failure keeps
 * its stack, one per route and status per second.
 */
export function handlerFailureLog(log: FastifyBaseLogger, limiter: RateLimitedLog): FailureLog {
  return ({ err, status, coroutine, route }) => {
    if (err instanceof SocketError) {
      const target = err.peer;
      const text = err.message.includes(target) ? err.message : `${target}: ${err.message}`;
      limiter.report(target, (note) =>
        log.warn({ target, status, route, coroutine }, `${text} (answered ${status})${note}`),
      );
      return;
    }
    limiter.report(`route ${route ?? '(none)'} ${status}`, (note) => {
      if (status === 500) log.error({ err, coroutine, route }, `coroutine handler failed${note}`);
      else log.warn({ err, coroutine, route }, `coroutine handler answered ${status}${note}`);
    });
  };
}
