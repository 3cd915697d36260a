import { redactUrl } from '../config/server-config.js';
import type { ServerConfig } from '../config/server-config.js';
import { DyupsSyncError } from '../errors/index.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { buildAdminApp } from './admin.js';
import { Balancers } from './balancer.js';
import type { ServerHealth } from './balancer.js';
import { HealthChecker } from './health-check.js';
import { buildProxyServer } from './proxy.js';
import { guardRequests } from '../fastify/server-options.js';
import { loadState } from './state-file.js';
import { claimStateFile } from './state-file-owner.js';
import { RedisSync } from './redis-sync.js';
import { UpstreamTable } from './table.js';
import { UpstreamPools } from './upstream-pools.js';
import type { Change } from './table.js';

export { DyupsSyncError } from '../errors/index.js';

export interface DyupsListeners {
  banner: string;
  table: UpstreamTable;
  /** each server's live state as this process's balancers see it */
  health: (name: string) => Map<string, ServerHealth>;
  /** Stops accepting and resolves once every open request on the admin and proxy listeners ended. */
  close(): Promise<void>;
  /** Cuts every open connection of the admin and proxy listeners (a shutdown's grace period ran out). */
  cutAll(): void;
}

export type DyupsRole = 'single' | 'primary' | 'worker';

/**
 * Starts dyups as configured: loads the state file before listening (a file that does not parse stops
 * the start with its line and reason), then the admin interface and the proxy listener.
 */
export async function startDyups(
  config: ServerConfig,
  scheduler: Scheduler,
  role: DyupsRole = 'single',
  hooks: {
    table?: UpstreamTable;
    afterChange?: (version: number) => Promise<void>;
    ready?: Promise<void>;
    redisUrl?: string;
    /** where live server state comes from when this process does not balance (a cluster primary) */
    health?: (name: string) => Promise<Map<string, ServerHealth>>;
  } = {},
): Promise<DyupsListeners | null> {
  const settings = config.dyups;
  if (settings.adminPort === 0 && settings.proxyPort === 0) return null;
  const stateFile = settings.stateFile;
  // a worker's table is a replica of the primary's: no state file of its own; a cluster primary passes its own table
  const claim = hooks.table === undefined && role !== 'worker' && stateFile !== null ? claimStateFile(stateFile) : null;
  let table: UpstreamTable;
  try {
    table =
      hooks.table ?? new UpstreamTable({ stateFile: claim?.path ?? null }, claim === null ? [] : loadState(claim.path));
  } catch (err) {
    claim?.release();
    throw err;
  }
  const balancers = new Balancers();
  for (const group of table.all()) balancers.set(group, group.name);
  // active checks run where requests are balanced: a single server, or each worker
  const checker = settings.proxyPort !== 0 && role !== 'primary' ? new HealthChecker(balancers) : null;
  for (const group of table.all()) checker?.set(group, group.name);
  const upstreamPools = new UpstreamPools();
  upstreamPools.update(table.all());
  table.onChange((name, group) => {
    balancers.set(group, name);
    checker?.set(group, name);
    upstreamPools.update(table.all());
  });
  const parts: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const cutters: Array<() => void> = [];
  const listenerClosers: Array<() => Promise<void>> = [];
  if (checker !== null) closers.push(async () => checker.close());
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
    sync = new RedisSync(table, { url: syncUrl });
    try {
      await sync.start();
    } catch (err) {
      await sync.close();
      throw new DyupsSyncError(redactUrl(syncUrl), err);
    }
    closers.push(() => sync!.close());
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
    });
    guardRequests(admin.server);
    await admin.listen({ host: settings.adminHost, port: settings.adminPort });
    const port = (admin.server.address() as { port: number }).port;
    parts.push(`dyups admin on http://${settings.adminHost}:${port}`);
    listenerClosers.push(() => admin.close());
    cutters.push(() => admin.server.closeAllConnections());
  }
  if (settings.proxyPort !== 0 && role !== 'primary') {
    await hooks.ready; // a worker serves once it has the primary's table
    const proxy = buildProxyServer(table, balancers, {
      scheduler,
      connectTimeout: settings.connectTimeout,
      readTimeout: settings.readTimeout,
      sendTimeout: settings.sendTimeout,
      tunnelTimeout: settings.tunnelTimeout,
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
    const port = (proxy.address() as { port: number }).port;
    parts.push(`dyups proxy on http://${settings.proxyHost}:${port}`);
    listenerClosers.push(() => proxy.close());
    cutters.push(() => proxy.closeAllConnections());
  }
  parts.push(
    `${table.all().length} upstream group(s)${stateFile === null ? ', in memory only' : ` from ${stateFile}`}`,
  );
  if (sync !== null && syncUrl !== null) parts.push(`synced through ${redactUrl(syncUrl)}`);
  return {
    banner: `cosocket ${parts.join('; ')}`,
    table,
    health: (name) => balancers.health(name),
    close: async () => {
      // the listeners first and together (one long request on one must not keep the other accepting)
      await Promise.all(listenerClosers.map((close) => close()));
      for (const close of closers) await close();
      claim?.release();
    },
    cutAll: () => {
      for (const cut of cutters) cut();
    },
  };
}
