import type { FastifyInstance } from 'fastify';
import { pools } from '../pool/registry.js';
import type { PoolStats } from '../pool/keepalive-pool.js';
import type { Scheduler, SchedulerStats } from '../runtime/scheduler.js';
import type { RouteStats } from '../fastify/plugin.js';
import { UPSTREAM_POOL_PREFIX } from '../dyups/upstream-pools.js';
import { tunnelStatus } from '../dyups/tunnel-status.js';
import type { TunnelStatus } from '../dyups/tunnel-status.js';
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
  pools: AppPoolStats[];
  routes: RouteStats[];
  redis: RedisDescription;
  /** the dyups proxy's WebSocket/Upgrade tunnels: open, in all, per group */
  tunnels: TunnelStatus;
}

/** A pool as /status shows it; the summed `dyups` entry says how many upstream addresses it covers. */
export type AppPoolStats = PoolStats & { kind: string; addresses?: number };

/**
 * The pools as the app listener shows them: the dyups proxy's pools summed into one entry named
 * `dyups`, so the app listener does not reveal internal upstream addresses (the admin has them).
 */
export function appPoolStats(all: Array<PoolStats & { kind: string }>): AppPoolStats[] {
  const upstream = all.filter((p) => p.name.startsWith(UPSTREAM_POOL_PREFIX));
  const shown: AppPoolStats[] = all.filter((p) => !p.name.startsWith(UPSTREAM_POOL_PREFIX));
  if (upstream.length === 0) return shown;
  const sum = (field: keyof Omit<PoolStats, 'name' | 'backlog'>): number =>
    upstream.reduce((total, p) => total + p[field], 0);
  shown.push({
    kind: upstream[0]!.kind,
    name: 'dyups',
    addresses: upstream.length,
    size: sum('size'),
    backlog: null,
    open: sum('open'),
    idle: sum('idle'),
    inUse: sum('inUse'),
    waiting: sum('waiting'),
    created: sum('created'),
    reused: sum('reused'),
    evicted: sum('evicted'),
    discarded: sum('discarded'),
    connectFailures: sum('connectFailures'),
    backoffRejections: sum('backoffRejections'),
  });
  return shown;
}

/** `GET /status`: the scheduler's stats and where Redis is, as JSON. */
export async function statusRoutes(app: FastifyInstance, options: StatusOptions): Promise<void> {
  const startedAt = Date.now();
  app.get('/status', async (): Promise<StatusBody> => ({
    version: VERSION,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    scheduler: options.scheduler.stats(),
    pools: appPoolStats(pools.stats()),
    routes: app.cosocket?.routeStats() ?? [],
    redis: options.redis,
    tunnels: tunnelStatus(),
  }));
}
