import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config/server-config.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { cosocketPlugin } from './plugin.js';
import { statusRoutes } from './status.js';
import type { RedisDescription } from './status.js';
import { testRoutes } from './test-routes.js';

export interface AppDeps {
  config: ServerConfig;
  scheduler: Scheduler;
  redisUrl: string;
  redis: RedisDescription;
}

/** The app listener: fastify with the coroutine plugin, /status and the /test routes. */
export async function buildApp({ config, scheduler, redisUrl, redis }: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.limits.bodySize,
    routerOptions: { maxParamLength: 500 },
    http: { maxHeaderSize: config.limits.headerSize },
    // during shutdown, requests arriving on kept-alive connections get 503 + Connection: close
    return503OnClosing: true,
  });
  await app.register(cosocketPlugin, { scheduler, output: config.output });
  await app.register(statusRoutes, { scheduler, redis });
  await app.register(testRoutes, { redisUrl, ...config.test });
  return app;
}
