import type { GroupTunnels } from './balancer.js';
import type { TunnelCounts } from './upgrade.js';

/** The WebSocket/Upgrade tunnels of this process's dyups proxies, as the app listener's /status shows them. */
export interface TunnelStatus extends TunnelCounts {
  /** by group name, summed over its servers (whose addresses /status never shows) */
  groups: Record<string, GroupTunnels>;
}

/** One proxy listener's counts, and the balancers whose servers count its groups' tunnels. */
export interface TunnelSource {
  counts: TunnelCounts;
  balancers: { tunnels(): Map<string, GroupTunnels> };
}

const sources = new Set<TunnelSource>();

/** Counts `source` in tunnelStatus() until the returned function is called. */
export function registerTunnelSource(source: TunnelSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

/** The tunnels of every proxy listener of the process (summed when there are several). */
export function tunnelStatus(): TunnelStatus {
  // no prototype: a group may be named __proto__
  const status: TunnelStatus = {
    upgrades: 0,
    open: 0,
    idleClosed: 0,
    groups: Object.create(null) as Record<string, GroupTunnels>,
  };
  // listeners sharing balancers share their servers' counts: each set of balancers is counted once
  const balancers = new Set<TunnelSource['balancers']>();
  for (const { counts, balancers: one } of sources) {
    status.upgrades += counts.upgrades;
    status.open += counts.open;
    status.idleClosed += counts.idleClosed;
    balancers.add(one);
  }
  for (const one of balancers) {
    for (const [name, group] of one.tunnels()) {
      const sum = (status.groups[name] ??= { open: 0, total: 0 });
      sum.open += group.open;
      sum.total += group.total;
    }
  }
  return status;
}
