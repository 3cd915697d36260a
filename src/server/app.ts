import { guardRequests, listenerOptions } from '../fastify/server-options.js';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { ServerConfig } from '../config/server-config.js';
import { fastifyTlsOptions, loadListenerTls } from '../config/listener-tls.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { cosocketPlugin } from '../fastify/plugin.js';
import { statusRoutes } from './status.js';
import type { RedisDescription } from './status.js';
import { sendRoutes } from './send-routes.js';
import { testRoutes } from './test-routes.js';

export interface AppDeps {
  config: ServerConfig;
  scheduler: Scheduler;
  redisUrl: string;
  redis: RedisDescription;
}

/** The app listener: fastify with the coroutine plugin, /status and the /test routes. */
export async function buildApp({ config, scheduler, redisUrl, redis }: AppDeps): Promise<FastifyInstance> {
  // fastify makes a child logger per request whenever it logs at all; below 'info' there are no
  // request logs to write, so one app-level logger reports handler warnings and errors instead
  const requestLogging = config.logLevel === 'info' || config.logLevel === 'debug' || config.logLevel === 'trace';
  const log = pino({ level: config.logLevel });
  const listener = listenerOptions(config.limits.headerTimeout, config.limits.requestTimeout, config.limits.headerSize);
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- tsc needs it
    ...(requestLogging ? { loggerInstance: log as FastifyBaseLogger } : { logger: false }),
    bodyLimit: config.limits.bodySize,
    routerOptions: { maxParamLength: 500 },
    ...listener,
    ...fastifyTlsOptions(loadListenerTls(config.tls.app, 'tls.app'), listener.http),
    // during shutdown, requests arriving on kept-alive connections get 503 + Connection: close
    return503OnClosing: true,
  });
  guardRequests(app.server);
  await app.register(cosocketPlugin, { scheduler, output: config.output, ...(requestLogging ? {} : { log }) });
  await app.register(statusRoutes, { scheduler, redis });
  await app.register(testRoutes, { redisUrl, ...config.test });
  if (config.send.root !== null) await app.register(sendRoutes, { ...config.send, root: config.send.root });
  return app;
}
