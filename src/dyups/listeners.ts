import { redactUrl } from '../config/server-config.js';
import { loadListenerTls, schemeOf } from '../config/listener-tls.js';
import type { ServerConfig } from '../config/server-config.js';
import { DyupsSyncError } from '../errors/index.js';
import { Scheduler } from '../runtime/scheduler.js';
import { createScope } from '../runtime/scope.js';
import type { Scope } from '../runtime/scope.js';
import { buildAdminApp } from './admin.js';
import { Balancers } from './balancer.js';
import { loadBalancerModules } from './balancer-modules.js';
import type { ServerHealth } from './balancer.js';
import { HealthChecker } from './health-check.js';
import { buildProxyServer } from './proxy.js';
import { guardRequests } from '../fastify/server-options.js';
import { pools } from '../pool/registry.js';
import { loadState } from './state-file.js';
import { claimStateFile } from './state-file-owner.js';
import { RedisSync } from './redis-sync.js';
import { UpstreamTable } from './table.js';
import { UpstreamPools } from './upstream-pools.js';
import type { Change } from './table.js';
import type { FastifyInstance } from 'fastify';
import type { DashboardStatus } from './dashboard/snapshot.js';
import type { AccessLog } from '../server/access-log.js';
import type { ServerMetrics } from '../server/metrics.js';
import { proxyObserver } from '../server/proxy-observer.js';
import type { RateLimitedLog } from '../server/rate-limited-log.js';

export { DyupsSyncError } from '../errors/index.js';

export interface DyupsListeners {
  banner: string;
  table: UpstreamTable;
  /** each server's live state as this process's balancers see it */
  health: (name: string) => Map<string, ServerHealth>;
  /** Stops accepting and resolves once every open request on the admin and proxy listeners ended. */
  close(): Promise<void>;
  /**
   * A reload's retirement of a worker: the proxy stops accepting and answers every request still coming
   * on its kept-alive connections (Connection: close), closing one once quiet for `quietMs`; resolves
   * when every connection has closed. close() follows.
   */
  retire(quietMs: number): Promise<void>;
  /** Cuts every open connection of the admin and proxy listeners (a shutdown's grace period ran out). */
  cutAll(): void;
  /** What runs besides requests (health checks, Redis sync, the state file's claim): `close()` closes it last. */
  background: Scope;
}

export type DyupsRole = 'single' | 'primary' | 'worker';

/** What serve passes in for its role (a cluster's primary and workers). */
export interface DyupsHooks {
  table?: UpstreamTable;
  afterChange?: (version: number) => Promise<void>;
  ready?: Promise<void>;
  redisUrl?: string;
  /** where live server state comes from when this process does not balance (a cluster primary) */
  health?: (name: string) => Promise<Map<string, ServerHealth>>;
  /** More admin routes (the server's /metrics, /status), behind the admin's guard. */
  adminRoutes?: (app: FastifyInstance) => void;
  /** The server's scheduler and pools for the dashboard, summed over its workers (default: this process's). */
  status?: () => Promise<DashboardStatus>;
  /** Where the proxy's requests are counted and logged. */
  metrics?: ServerMetrics | null;
  accessLog?: AccessLog | null;
  /** The proxy's errors about an upstream group: rate-limited, one line per group per second. */
  errors?: RateLimitedLog;
}

/**
 * Starts dyups as configured: loads the state file before listening (a file that does not parse stops
 * the start with its line and reason), then the admin interface and the proxy listener.
 */
export async function startDyups(
  config: ServerConfig,
  scheduler: Scheduler,
  role: DyupsRole = 'single',
  hooks: DyupsHooks = {},
): Promise<DyupsListeners | null> {
  const settings = config.dyups;
  if (settings.adminPort === 0 && settings.proxyPort === 0) return null;
  // what runs besides requests — the health checks, the Redis sync, the claim of the state file — belongs
  // to one scope: closing it stops all of it, at shutdown or when the start fails half-way
  const background = createScope({ name: 'dyups', scheduler: new Scheduler({ name: 'dyups background' }) });
  const listenerClosers: Array<() => Promise<void>> = [];
  try {
    return await listen(config, scheduler, role, hooks, background, listenerClosers);
  } catch (err) {
    await Promise.allSettled(listenerClosers.map((close) => close()));
    await background.close().catch(() => {});
    throw err;
  }
}

async function listen(
  config: ServerConfig,
  scheduler: Scheduler,
  role: DyupsRole,
  hooks: DyupsHooks,
  background: Scope,
  listenerClosers: Array<() => Promise<void>>,
): Promise<DyupsListeners> {
  const settings = config.dyups;
  const stateFile = settings.stateFile;
  // every process that validates or balances groups knows the coroutine balancers before the state file names them
  await loadBalancerModules(settings.balancers);
  // a worker's table is a replica of the primary's: no state file of its own; a cluster primary passes its own table
  const claim = hooks.table === undefined && role !== 'worker' && stateFile !== null ? claimStateFile(stateFile) : null;
  if (claim !== null) background.ensure(() => claim.release());
  const table =
    hooks.table ?? new UpstreamTable({ stateFile: claim?.path ?? null }, claim === null ? [] : loadState(claim.path));
  const balancers = new Balancers();
  for (const group of table.all()) balancers.set(group, group.name);
  // active checks run where requests are balanced: a single server, or each worker
  const checker = settings.proxyPort !== 0 && role !== 'primary' ? new HealthChecker(balancers, background) : null;
  for (const group of table.all()) checker?.set(group, group.name);
  const upstreamPools = new UpstreamPools();
  upstreamPools.update(table.all());
  table.onChange((name, group) => {
    balancers.set(group, name);
    checker?.set(group, name);
    upstreamPools.update(table.all());
  });
  const parts: string[] = [];
  const cutters: Array<() => void> = [];
  const retirers: Array<(quietMs: number) => Promise<void>> = [];
  // instances agree through Redis: load its table before serving, and make every change there first
  let sync: RedisSync | null = null;
  // `redis`: the Redis the server already uses (--redis), as dyups-sync is usually set up
  const syncUrl =
    settings.sync === null
      ? null
      : settings.sync === 'server-redis'
        ? (hooks.redisUrl ?? config.redis)
        : settings.sync.url;
  if (syncUrl !== null && role !== 'worker') {
    const redisSync = new RedisSync(table, { url: syncUrl });
    sync = redisSync;
    background.ensure(() => redisSync.close());
    try {
      await redisSync.start();
    } catch (err) {
      throw new DyupsSyncError(redactUrl(syncUrl), err);
    }
  }
  if (settings.adminPort !== 0 && role !== 'worker') {
    const redisSync = sync;
    const admin = await buildAdminApp(table, {
      token: settings.token,
      headerTimeout: config.limits.headerTimeout,
      requestTimeout: config.limits.requestTimeout,
      allowRemote: settings.allowRemote,
      hostNames: ['0.0.0.0', '::', ''].includes(settings.adminHost) ? [] : [settings.adminHost],
      ...(hooks.afterChange ? { afterChange: hooks.afterChange } : {}),
      ...(redisSync !== null ? { change: (change: Change) => redisSync.change(change) } : {}),
      ...(role === 'single'
        ? { health: (name: string) => balancers.health(name) }
        : hooks.health
          ? { health: hooks.health }
          : {}),
      trylock: settings.trylock,
      tls: loadListenerTls(config.tls.admin, 'tls.admin'),
      ...(hooks.adminRoutes ? { routes: hooks.adminRoutes } : {}),
      // a cluster's primary serves no requests: its own scheduler and pools would say nothing
      ...(hooks.status
        ? { status: hooks.status }
        : role === 'single'
          ? { status: () => ({ scheduler: scheduler.stats(), pools: pools.stats() }) }
          : {}),
    });
    guardRequests(admin.server);
    listenerClosers.push(() => admin.close());
    await admin.listen({ host: settings.adminHost, port: settings.adminPort });
    const port = (admin.server.address() as { port: number }).port;
    parts.push(`dyups admin on ${schemeOf(config.tls.admin)}://${settings.adminHost}:${port}`);
    cutters.push(() => admin.server.closeAllConnections());
  }
  if (settings.proxyPort !== 0 && role !== 'primary') {
    await hooks.ready; // a worker serves once it has the primary's table
    const observer = proxyObserver(hooks.metrics ?? null, hooks.accessLog ?? null);
    hooks.metrics?.sources.upstreams.push(() =>
      table.all().flatMap((group) =>
        [...balancers.health(group.name)].map(([server, h]) => ({
          group: group.name,
          server,
          up: h.available && h.check !== 'down',
          active: h.active,
        })),
      ),
    );
    const errors = hooks.errors;
    const proxy = buildProxyServer(table, balancers, {
      ...(observer ? { observer } : {}),
      ...(errors ? { upstreamErrorLog: (target: string, line: string) => errors.error(target, line) } : {}),
      scheduler,
      connectTimeout: settings.connectTimeout,
      readTimeout: settings.readTimeout,
      sendTimeout: settings.sendTimeout,
      tunnelTimeout: settings.tunnelTimeout,
      tls: loadListenerTls(config.tls.proxy, 'tls.proxy'),
      bodyLimit: settings.bodySize,
      headerTimeout: config.limits.headerTimeout,
      buffering: {
        buffering: settings.buffering,
        bufferSize: settings.bufferSize,
        buffers: settings.buffers,
        busyBuffersSize: settings.busyBuffersSize,
        maxTempFileSize: settings.maxTempFileSize,
        tempFileWriteSize: settings.tempFileWriteSize,
        ...(settings.tempPath !== null ? { tempPath: settings.tempPath } : {}),
      },
    });
    await proxy.listen({ host: settings.proxyHost, port: settings.proxyPort });
    listenerClosers.push(() => proxy.close());
    const port = (proxy.address() as { port: number }).port;
    parts.push(`dyups proxy on ${schemeOf(config.tls.proxy)}://${settings.proxyHost}:${port}`);
    cutters.push(() => proxy.closeAllConnections());
    retirers.push((quietMs) => proxy.retire(quietMs));
  }
  parts.push(
    `${table.all().length} upstream group(s)${stateFile === null ? ', in memory only' : ` from ${stateFile}`}`,
  );
  if (sync !== null && syncUrl !== null) parts.push(`synced through ${redactUrl(syncUrl)}`);
  return {
    banner: `cosocket ${parts.join('; ')}`,
    table,
    health: (name) => balancers.health(name),
    background,
    close: async () => {
      // the listeners first and together (one long request on one must not keep the other accepting),
      // then the background work: health checks stopped, Redis sync disconnected, the state file released
      await Promise.all(listenerClosers.map((close) => close()));
      await background.close();
    },
    retire: async (quietMs) => {
      await Promise.all(retirers.map((retire) => retire(quietMs)));
    },
    cutAll: () => {
      for (const cut of cutters) cut();
    },
  };
}
