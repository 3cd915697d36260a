import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AggregatorRegistry } from 'prom-client';
import { isLoopback } from '../dyups/admin.js';
import { checkOrigin } from '../fastify/origin-guard.js';
import type { ServerView } from './cluster-gather.js';
import { METRICS_CONTENT_TYPE, aggregateMetrics } from './metrics.js';
import type { MetricsJson } from './metrics.js';
import { serverStatus } from './status.js';
import type { RedisDescription, StatusBody } from './status.js';

/** What the admin listener's dashboard reads: the server's /status (upstream pools in full) and its metrics. */
export interface ServerSnapshot {
  status: StatusBody;
  /** Every metric summed over the workers, as prom-client's JSON (name, help, type, values with labels). */
  metrics: MetricsJson;
}

/** The server's state at this moment, summed over its workers. */
export async function serverSnapshot(view: ServerView, redis: RedisDescription): Promise<ServerSnapshot> {
  const [status, metrics] = await Promise.all([serverStatus(view, redis, true), summedMetricsJson(view)]);
  return { status, metrics };
}

async function summedMetricsJson(view: ServerView): Promise<MetricsJson> {
  return AggregatorRegistry.aggregate(await view.metrics()).getMetricsAsJSON();
}

async function sendMetrics(view: ServerView, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const query = request.query as { format?: string } | undefined;
  if (query?.format === 'json') return reply.send(await summedMetricsJson(view));
  return reply.type(METRICS_CONTENT_TYPE).send(await aggregateMetrics(await view.metrics()));
}

/**
 * The admin listener's observability routes (its own guard — loopback, Host/Origin, token — runs first):
 * GET /metrics (Prometheus text; `?format=json`: prom-client's JSON), GET /status (the server's, upstream
 * pools in full), GET /snapshot (both as one JSON: ServerSnapshot).
 */
export function adminObservabilityRoutes(view: ServerView, redis: RedisDescription): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/metrics', (request, reply) => sendMetrics(view, request, reply));
    app.get('/status', async () => serverStatus(view, redis, true));
    app.get('/snapshot', async () => serverSnapshot(view, redis));
  };
}

/** `metrics.expose: app`: GET /metrics on the app listener too, for loopback clients that name it as its own. */
export async function appMetricsRoute(app: FastifyInstance, options: { view: ServerView }): Promise<void> {
  app.get('/metrics', async (request, reply) => {
    if (!isLoopback(request.socket.remoteAddress))
      return reply.code(403).type('text/plain').send('forbidden: /metrics answers loopback clients only\n');
    const origin = checkOrigin(request.headers, {
      address: request.socket.localAddress,
      port: request.socket.localPort,
    });
    if (!origin.ok) return reply.code(origin.status).type('text/plain').send(`forbidden: ${origin.reason}\n`);
    return sendMetrics(options.view, request, reply);
  });
}
