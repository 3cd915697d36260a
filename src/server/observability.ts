import type { ServerConfig } from '../config/server-config.js';
import { pools } from '../pool/registry.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { AccessLog } from './access-log.js';
import { ServerMetrics } from './metrics.js';
import { RateLimitedLog } from './rate-limited-log.js';

/** One serving process's metrics, access log and rate-limited proxy error log. */
export interface Observability {
  metrics: ServerMetrics;
  accessLog: AccessLog | null;
  /** The dyups proxy's errors about upstream groups: to stderr, one line per group per second. */
  proxyErrors: RateLimitedLog;
  /** Flushes the access log and the suppressed-error counts, and stops listening for SIGUSR2. */
  close(): void;
}

/**
 * Starts what a serving process reports through: its metrics (the scheduler's and the pools' read at
 * scrape time), the access log when `accessLog.path` is set, reopened on SIGUSR2 (nginx's USR1, which
 * Node keeps for its inspector).
 */
export function startObservability(config: ServerConfig, scheduler: Scheduler): Observability {
  const metrics = new ServerMetrics();
  metrics.sources.schedulers.push(() => scheduler.stats());
  metrics.sources.pools.push(() => pools.stats());
  const settings = config.accessLog;
  const accessLog =
    settings.path === null
      ? null
      : new AccessLog({ path: settings.path, format: settings.format, buffer: settings.buffer, flush: settings.flush });
  const proxyErrors = new RateLimitedLog((line) => process.stderr.write(`${line}\n`));
  const reopen = (): void => {
    try {
      accessLog?.reopen();
    } catch (err) {
      process.stderr.write(`cosocket: could not reopen the access log ${settings.path}: ${(err as Error).message}\n`);
    }
  };
  process.on('SIGUSR2', reopen);
  return {
    metrics,
    accessLog,
    proxyErrors,
    close: () => {
      process.off('SIGUSR2', reopen);
      accessLog?.close();
      proxyErrors.flush();
    },
  };
}
