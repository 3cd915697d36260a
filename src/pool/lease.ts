import type { Expirable } from '../runtime/deadlines.js';
import type { QueueNode } from '../runtime/queue.js';

/** Where an idle lease is parked: told once when the lease's idle time has run out. */
export interface IdlePlace<R> {
  expired(lease: Lease<R>): void;
}

/** A connection while it belongs to the pool's bookkeeping; handed to users by `acquire`. */
export class Lease<R> implements Expirable {
  /** Times this connection was handed out before this use (OpenResty's getreusedtimes). */
  reusedTimes = -1;
  /** @internal set once it is being closed: it is destroyed once */
  closing = false;
  /** @internal its connection moved to another pool: forgetting the lease must not close it */
  handedOff = false;
  /** @internal while parked: when its idle time runs out (ms since epoch) */
  deadlineAt = 0;
  /** @internal while parked: where, to be told when its idle time ran out */
  parkedIn: IdlePlace<R> | null = null;
  /** @internal its node in the idle deadline lanes, reused from one idle spell to the next */
  idleNode: QueueNode<Lease<R>> | null = null;
  /** @internal the idle time of its current (or last) spell, in ms: the lane its node is in */
  idleMs = 0;

  constructor(
    readonly connection: R | null,
    readonly error: Error | null,
  ) {}

  /** @internal */
  expire(): void {
    const place = this.parkedIn;
    if (place !== null) place.expired(this);
  }
}
