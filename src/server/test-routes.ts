import type { FastifyInstance } from 'fastify';
import { connect as redisConnect } from '../../adapters/redis/index.js';
import type { RedisConnectOptions, RedisMode } from '../../adapters/redis/index.js';
import type { TestMode } from '../config/server-config.js';
import { TestValueTooLargeError } from '../errors/index.js';
import type { Operation } from '../runtime/effect.js';
import type { HandlerContext } from '../fastify/context.js';
import { co } from '../fastify/plugin.js';

export interface TestRouteOptions {
  redisUrl: string;
  mode: TestMode;
  poolSize: number;
  backlog: number;
  connectTimeout: number;
  readTimeout: number;
  /** the most of key `test` /test reads; a longer value answers 502 */
  maxValueSize: number;
}

/** The seed's /test: GET of key `test` from Redis, 10 bytes back, in each connection mode. */
export async function testRoutes(app: FastifyInstance, options: TestRouteOptions): Promise<void> {
  const connectOptions = (mode: RedisMode): RedisConnectOptions => ({
    url: options.redisUrl,
    mode,
    poolSize: options.poolSize,
    backlog: options.backlog,
    timeouts: { connect: options.connectTimeout, read: options.readTimeout },
  });
  const byMode: Record<RedisMode, RedisConnectOptions> = {
    short: connectOptions('short'),
    keepalive: connectOptions('keepalive'),
    shared: connectOptions('shared'),
  };
  const handlerFor = (mode: RedisMode) =>
    co(
      function* test(ctx: HandlerContext): Operation<void> {
        const red = yield* redisConnect(byMode[mode]);
        // GETRANGE reads one byte past the limit at most, so Redis never sends more than that
        const value = yield* red.call<string>('getrange', 'test', 0, options.maxValueSize);
        red.setkeepalive();
        if (Buffer.byteLength(value) > options.maxValueSize) throw new TestValueTooLargeError(options.maxValueSize);
        ctx.print(value);
      },
      { name: `test/${mode}` },
    );
  app.get('/test/short', handlerFor('short'));
  app.get('/test/keepalive', handlerFor('keepalive'));
  app.get('/test/shared', handlerFor('shared'));
  app.get('/test', handlerFor(options.mode));
}
