import { DeadlineList } from '../runtime/deadlines.js';
import type { QueueNode } from '../runtime/queue.js';
import type { IdlePlace, Lease } from './lease.js';

/** Every pool's idle connections: one deadline lane, and one timer, per distinct idle time. */
const idleLanes = new DeadlineList<Lease<unknown>>();

/**
 * A pool's idle connections, most recently used on top, each closed when its own idle time runs out.
 * This is the only idle expiry there is: the times sit in the runtime's deadline lanes, so parking and
 * taking a connection move a list node (allocated once per connection) and arm no timer of their own.
 */
export class IdleStack<R> implements IdlePlace<R> {
  private readonly leases: Array<Lease<R>> = [];

  /** `onExpired` gets each lease whose idle time ran out, already taken off the stack. */
  constructor(private readonly onExpired: (lease: Lease<R>) => void) {}

  get length(): number {
    return this.leases.length;
  }

  /** Parks `lease` on top for at most `idleMs`. */
  push(lease: Lease<R>, idleMs: number): void {
    lease.parkedIn = this;
    lease.idleMs = idleMs;
    const node = lease.idleNode;
    if (node === null) lease.idleNode = idleLanes.add(lease, idleMs) as QueueNode<Lease<R>>;
    else idleLanes.renew(node, idleMs);
    this.leases.push(lease);
  }

  /** The most recently parked lease, no longer idle; null when there is none. */
  pop(): Lease<R> | null {
    const lease = this.leases.pop();
    if (lease === undefined) return null;
    unpark(lease);
    return lease;
  }

  /** Every parked lease, no longer idle, oldest first. */
  takeAll(): Array<Lease<R>> {
    const all = this.leases.splice(0);
    for (const lease of all) unpark(lease);
    return all;
  }

  /** @internal from the lanes: `lease` was idle for its whole idle time */
  expired(lease: Lease<R>): void {
    lease.parkedIn = null;
    const at = this.leases.indexOf(lease);
    if (at < 0) return;
    this.leases.splice(at, 1);
    this.onExpired(lease);
  }
}

function unpark<R>(lease: Lease<R>): void {
  lease.parkedIn = null;
  idleLanes.remove(lease.idleNode!, lease.idleMs);
}
