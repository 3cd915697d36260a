import { pools } from '../pool/registry.js';
import type { UpstreamGroup } from './upstream.js';

/** What the names of the dyups proxy's keepalive pools start with. */
export const UPSTREAM_POOL_PREFIX = 'dyups:';

/** The keepalive pool the dyups proxy uses for a server address (the name it passes to tcp.connect). */
export function upstreamPoolName(address: string): string {
  return `${UPSTREAM_POOL_PREFIX}${address}`;
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
    for (const address of this.referenced) if (!now.has(address)) pools.retireFamily('tcp', upstreamPoolName(address));
    this.referenced = now;
  }
}
