import type { FastifyInstance } from 'fastify';
import { pools } from '../pool/registry.js';
import type { PoolStats } from '../pool/keepalive-pool.js';
import type { Scheduler, SchedulerStats } from '../runtime/scheduler.js';
import type { RouteStats } from './plugin.js';
import { VERSION } from '../version.js';

export interface RedisDescription {
  /** Where it is, password redacted. */
  url: string;
  embedded: boolean;
  version?: string;
}

export interface StatusOptions {
  scheduler: Scheduler;
  redis: RedisDescription;
}

export interface StatusBody {
  version: string;
  pid: number;
  uptimeSeconds: number;
  scheduler: SchedulerStats;
  pools: Array<PoolStats & { kind: string }>;
  routes: RouteStats[];
  redis: RedisDescription;
}

/** `GET /status`: the scheduler's stats and where Redis is, as JSON. */
export async function statusRoutes(app: FastifyInstance, options: StatusOptions): Promise<void> {
  const startedAt = Date.now();
  app.get('/status', async (): Promise<StatusBody> => ({
    version: VERSION,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    scheduler: options.scheduler.stats(),
    pools: pools.stats(),
    routes: app.cosocket?.routeStats() ?? [],
    redis: options.redis,
  }));
}
