import type { ServerConfig } from '../config/server-config.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { buildAdminApp } from './admin.js';
import { Balancers } from './balancer.js';
import { buildProxyApp } from './proxy.js';
import { loadState } from './state-file.js';
import { UpstreamTable } from './table.js';

export interface DyupsListeners {
  banner: string;
  table: UpstreamTable;
  close(): Promise<void>;
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
  hooks: { table?: UpstreamTable; afterChange?: (version: number) => Promise<void>; ready?: Promise<void> } = {},
): Promise<DyupsListeners | null> {
  const settings = config.dyups;
  if (settings.adminPort === 0 && settings.proxyPort === 0) return null;
  const stateFile = settings.stateFile === '' ? null : settings.stateFile;
  // a worker's table is a replica of the primary's: no state file of its own
  const table = hooks.table ?? new UpstreamTable({ stateFile: role === 'worker' ? null : stateFile }, role === 'worker' || stateFile === null ? [] : loadState(stateFile));
  const balancers = new Balancers();
  for (const group of table.all()) balancers.set(group, group.name);
  table.onChange((name, group) => balancers.set(group, name));
  const parts: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  if (settings.adminPort !== 0 && role !== 'worker') {
    const admin = await buildAdminApp(table, {
      token: settings.token === '' ? null : settings.token,
      allowRemote: settings.allowRemote === 'yes',
      ...(hooks.afterChange ? { afterChange: hooks.afterChange } : {}),
    });
    await admin.listen({ host: settings.adminHost, port: settings.adminPort });
    const port = (admin.server.address() as { port: number }).port;
    parts.push(`dyups admin on http://${settings.adminHost}:${port}`);
    closers.push(() => admin.close());
  }
  if (settings.proxyPort !== 0 && role !== 'primary') {
    await hooks.ready; // a worker serves once it has the primary's table
    const proxy = await buildProxyApp(table, balancers, {
      scheduler,
      connectTimeout: settings.connectTimeout,
      readTimeout: settings.readTimeout,
      bodyLimit: settings.bodySize,
    });
    await proxy.listen({ host: settings.proxyHost, port: settings.proxyPort });
    const port = (proxy.server.address() as { port: number }).port;
    parts.push(`dyups proxy on http://${settings.proxyHost}:${port}`);
    closers.push(() => proxy.close());
  }
  parts.push(`${table.all().length} upstream group(s)${stateFile === null ? ', in memory only' : ` from ${stateFile}`}`);
  return {
    banner: `cosocket ${parts.join('; ')}`,
    table,
    close: async () => {
      for (const close of closers) await close();
    },
  };
}
