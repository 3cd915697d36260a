import type { PoolStats } from '../../pool/keepalive-pool.js';
import type { SchedulerStats } from '../../runtime/scheduler.js';
import type { ServerHealth } from '../balancer.js';
import type { UpstreamTable } from '../table.js';

/** One server as the dashboard shows it: its switches, and its live state where requests are balanced. */
export interface DashboardServer {
  address: string;
  weight: number;
  backup: boolean;
  down: boolean;
  drain: boolean;
  /** null where this process does not balance and no worker answered */
  health: ServerHealth | null;
}

export interface DashboardGroup {
  name: string;
  balancer: string;
  servers: DashboardServer[];
}

/** The scheduler and the pools of the process that serves requests. */
export interface DashboardStatus {
  scheduler: SchedulerStats;
  pools: Array<PoolStats & { kind: string }>;
}

/**
 * What one Server-Sent Event carries: the whole picture at `at` (ms since the epoch). Counters are
 * totals; the page turns them into rates between two snapshots.
 */
export interface DashboardSnapshot {
  at: number;
  /** the table's version: changes when a group or server is changed */
  version: number;
  groups: DashboardGroup[];
  /** null when this process has no such figures (a cluster's primary serves no requests) */
  status: DashboardStatus | null;
}

export interface SnapshotSources {
  table: UpstreamTable;
  health?: ((name: string) => Map<string, ServerHealth> | Promise<Map<string, ServerHealth>>) | undefined;
  status?: (() => DashboardStatus | Promise<DashboardStatus>) | undefined;
}

/** The table, each group's live state and the status, read now; groups in name order. */
export async function takeSnapshot(sources: SnapshotSources): Promise<DashboardSnapshot> {
  const { table } = sources;
  const version = table.version;
  const groups = [...table.all()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const healths = await Promise.all(groups.map(async (g) => sources.health?.(g.name)));
  const status = (await sources.status?.()) ?? null;
  return {
    at: Date.now(),
    version,
    groups: groups.map((group, i) => ({
      name: group.name,
      balancer: group.balancer.kind,
      servers: group.servers.map((s) => ({
        address: s.address,
        weight: s.weight,
        backup: s.backup,
        down: s.down,
        drain: s.drain,
        health: healths[i]?.get(s.address) ?? null,
      })),
    })),
    status,
  };
}
