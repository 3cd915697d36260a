import { guardRequests, listenerOptions } from '../fastify/server-options.js';
import { clientErrorHandler } from '../fastify/client-errors.js';
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
import type { AccessLog } from './access-log.js';
import type { ServerView } from './cluster-gather.js';
import { handlerFailureLog } from './handler-failures.js';
import type { ServerMetrics } from './metrics.js';
import { appMetricsRoute } from './metrics-routes.js';
import { observeRequests } from './observe-requests.js';
import { refusedObserver } from './observe-refused.js';
import { RateLimitedLog } from './rate-limited-log.js';
import { singleView } from './cluster-gather.js';
import { processStatus } from './status.js';

export interface AppDeps {
  config: ServerConfig;
  scheduler: Scheduler;
  redisUrl: string;
  redis: RedisDescription;
  /** The whole server's stats and metrics (every worker's), for /status and /metrics; default: this process's. */
  view?: ServerView;
  /** Default: none. */
  metrics?: ServerMetrics | null;
  accessLog?: AccessLog | null;
  /** Where handler failures go, one line per target per second; default: to the app's logger. */
  errors?: RateLimitedLog;
}

/** The app listener: fastify with the coroutine plugin, /status and the /test routes. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, scheduler, redisUrl, redis } = deps;
  const metrics = deps.metrics ?? null;
  // fastify makes a child logger per request whenever it logs at all; below 'info' there are no
  // request logs to write, so one app-level logger reports handler warnings and errors instead
  const requestLogging = config.logLevel === 'info' || config.logLevel === 'debug' || config.logLevel === 'trace';
  const log = pino({ level: config.logLevel });
  const refused = refusedObserver('app', metrics, deps.accessLog ?? null);
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
    // requests refused before routing (a malformed or too large head, a head too slow) are logged too
    ...(refused ? { clientErrorHandler: clientErrorHandler(refused) } : {}),
  });
  guardRequests(app.server);
  observeRequests(app, metrics, deps.accessLog ?? null);
  await app.register(cosocketPlugin, {
    scheduler,
    output: config.output,
    ...(requestLogging ? {} : { log }),
    failureLog: handlerFailureLog(
      log,
      deps.errors ?? new RateLimitedLog((line, target, suppressed) => log.warn({ target, suppressed }, line)),
    ),
  });
  const startedAt = Date.now();
  const view =
    deps.view ??
    singleView({
      status: () => processStatus(scheduler, () => app.cosocket.routeStats(), startedAt),
      metrics: () => metrics?.json() ?? Promise.resolve([]),
    });
  await app.register(statusRoutes, { view, redis });
  if (config.metrics.expose === 'app') await app.register(appMetricsRoute, { view });
  await app.register(testRoutes, { redisUrl, ...config.test });
  if (config.send.root !== null)
    await app.register(sendRoutes, { ...config.send, root: config.send.root, ...(metrics ? { metrics } : {}) });
  return app;
}
