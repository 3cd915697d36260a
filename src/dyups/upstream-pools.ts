import { pools } from '../pool/registry.js';
import type { UpstreamGroup } from './upstream.js';

/** What the names of the dyups proxy's keepalive pools start with. */
export const UPSTREAM_POOL_PREFIX = 'dyups:';

/** The keepalive pool the dyups proxy uses for a server address (the name it passes to tcp.connect). */
export function upstreamPoolName(address: string): string {
  return `${UPSTREAM_POOL_PREFIX}${address}`;
}

/**
 * The pool the dyups proxy opens WebSocket/Upgrade connections from: apart from the keepalive one, whose
 * size caps requests in flight, so long-lived tunnels never starve plain requests (nor are capped by it).
 */
export function upstreamTunnelPoolName(address: string): string {
  return `${UPSTREAM_POOL_PREFIX}tunnel:${address}`;
}

/**
 * Frees the keepalive pool of every server address no group references any more (after a delete, a
 * replace or a removed server): idle connections close at once, in-flight requests finish first.
 */
export class UpstreamPools {
  private referenced = new Set<string>();

  /** Call after every change with the whole table. */
  update(groups: Iterable<UpstreamGroup>): void {
    const now = new Set<string>();
    for (const group of groups) for (const server of group.servers) now.add(server.address);
    for (const address of this.referenced) {
      if (now.has(address)) continue;
      // the plain pools and their TLS variants
      pools.retireFamily('tcp', upstreamPoolName(address));
      pools.retireFamily('tcp', upstreamTunnelPoolName(address));
    }
    this.referenced = now;
  }
}
