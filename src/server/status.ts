import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import { pools } from '../pool/registry.js';
import type { PoolStats } from '../pool/keepalive-pool.js';
import type { Scheduler, SchedulerStats } from '../runtime/scheduler.js';
import type { ProcessStatus, ServerView } from './cluster-gather.js';
import type { RouteStats } from '../fastify/plugin.js';
import { UPSTREAM_POOL_PREFIX } from '../dyups/upstream-pools.js';
import { tunnelStatus } from '../dyups/tunnel-status.js';
import type { TunnelStatus } from '../dyups/tunnel-status.js';
import { VERSION } from '../version.js';

export type { ProcessStatus } from './cluster-gather.js';

export interface RedisDescription {
  /** Where it is, password redacted. */
  url: string;
  embedded: boolean;
  version?: string;
}

export interface StatusOptions {
  view: ServerView;
  redis: RedisDescription;
}

export interface StatusBody {
  version: string;
  /** The server's (the primary's with --workers) */
  pid: number;
  /** Each serving process's pid (one without --workers). */
  workers: number[];
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

/** This process's part of /status. */
export function processStatus(scheduler: Scheduler, routes: () => RouteStats[], startedAt: number): ProcessStatus {
  return {
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    scheduler: scheduler.stats(),
    pools: pools.stats(),
    routes: routes(),
    tunnels: tunnelStatus(),
  };
}

type Numeric<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T];

function sumInto<T extends object>(sum: T, add: T, fields: ReadonlyArray<Numeric<T>>): void {
  for (const field of fields) (sum[field] as number) += add[field] as number;
}

const SCHEDULER_SUMS = [
  'live',
  'liveRoots',
  'queued',
  'started',
  'completed',
  'failed',
  'cancelled',
  'timedOut',
  'rejected',
] as const;
const POOL_SUMS = [
  'size',
  'open',
  'idle',
  'inUse',
  'waiting',
  'created',
  'reused',
  'evicted',
  'discarded',
  'connectFailures',
  'backoffRejections',
] as const;
const ROUTE_SUMS = ['requests', '2xx', '3xx', '4xx', '5xx', 'aborted'] as const;

/** The server's /status from every serving process's part: counts summed, pools and routes by name. */
export function mergeStatus(parts: readonly ProcessStatus[], serverPid: number): Omit<StatusBody, 'version' | 'redis'> {
  const first = parts[0];
  const scheduler: SchedulerStats =
    first === undefined ? emptyScheduler() : { ...first.scheduler, limits: { ...first.scheduler.limits } };
  const poolsByKey = new Map<string, PoolStats & { kind: string }>();
  const routes = new Map<string, RouteStats>();
  const tunnels: TunnelStatus = {
    upgrades: 0,
    open: 0,
    idleClosed: 0,
    groups: Object.create(null) as TunnelStatus['groups'],
  };
  for (const [i, part] of parts.entries()) {
    tunnels.upgrades += part.tunnels.upgrades;
    tunnels.open += part.tunnels.open;
    tunnels.idleClosed += part.tunnels.idleClosed;
    for (const [name, group] of Object.entries(part.tunnels.groups)) {
      const sum = (tunnels.groups[name] ??= { open: 0, total: 0 });
      sum.open += group.open;
      sum.total += group.total;
    }
    if (i > 0) {
      sumInto(scheduler, part.scheduler, SCHEDULER_SUMS);
      scheduler.deepestChain = Math.max(scheduler.deepestChain, part.scheduler.deepestChain);
    }
    for (const pool of part.pools) {
      const key = `${pool.kind} ${pool.name}`;
      const known = poolsByKey.get(key);
      if (known === undefined) poolsByKey.set(key, { ...pool });
      else sumInto(known, pool, POOL_SUMS);
    }
    for (const route of part.routes) {
      const known = routes.get(route.route);
      if (known === undefined) routes.set(route.route, { ...route });
      else sumInto(known, route, ROUTE_SUMS);
    }
  }
  return {
    pid: serverPid,
    workers: parts.map((p) => p.pid),
    uptimeSeconds: Math.max(0, ...parts.map((p) => p.uptimeSeconds)),
    scheduler,
    pools: [...poolsByKey.values()],
    routes: [...routes.values()],
    tunnels,
  };
}

function emptyScheduler(): SchedulerStats {
  return {
    name: 'http',
    live: 0,
    liveRoots: 0,
    queued: 0,
    started: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    timedOut: 0,
    rejected: 0,
    deepestChain: 0,
    limits: { concurrency: 0, backlog: 0, maxDepth: 0, fairnessSteps: 0, deadline: 0 },
  };
}

/** The server's /status: summed over its processes; `detail` keeps each upstream pool (the admin listener's). */
export async function serverStatus(view: ServerView, redis: RedisDescription, detail: boolean): Promise<StatusBody> {
  const merged = mergeStatus(await view.statuses(), serverPid());
  return {
    version: VERSION,
    ...merged,
    pools: detail ? merged.pools : appPoolStats(merged.pools),
    redis,
  };
}

/** The pid of the server: the primary's when this is a worker. */
function serverPid(): number {
  return cluster.isWorker ? process.ppid : process.pid;
}

/** `GET /status` on the app listener: the server's stats summed over its workers, upstream pools summed too. */
export async function statusRoutes(app: FastifyInstance, options: StatusOptions): Promise<void> {
  app.get('/status', async (): Promise<StatusBody> => serverStatus(options.view, options.redis, false));
}
