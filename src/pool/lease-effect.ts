import { defineKind } from '../runtime/effect.js';
import type { Effect, EffectConstructor, Waiter } from '../runtime/effect.js';
import type { Task } from '../runtime/types.js';
import { Lease } from './lease.js';

/** Where leases come from: a KeepalivePool, or an UnpooledSource that opens a connection per lease. */
export interface LeaseSource<R> {
  /** An idle connection right now, or null. */
  tryAcquireIdle(): Lease<R> | null;
  /** An idle or a new connection; rejects with the connect error. */
  acquire(): Promise<Lease<R>>;
  /** Closes a lease nobody will use. */
  discard(lease: Lease<R>): void;
}

/** One lease effect: where the connection comes from, and what the coroutine gets for it. */
export interface LeaseRequest<R, T> {
  readonly source: LeaseSource<R>;
  /** The object the coroutine gets for `lease` (a cosocket), owned by `owner`, its root coroutine. */
  take(lease: Lease<R>, owner: Task<unknown>): T;
}

/** A source without a pool: every lease is a connection of its own, opened for it and closed when discarded. */
export class UnpooledSource<R> implements LeaseSource<R> {
  constructor(
    private readonly open: () => Promise<R>,
    private readonly destroy: (connection: R) => void,
  ) {}

  tryAcquireIdle(): null {
    return null;
  }

  acquire(): Promise<Lease<R>> {
    return this.open().then(newLease);
  }

  discard(lease: Lease<R>): void {
    if (lease.connection !== null) this.destroy(lease.connection);
  }
}

function newLease<R>(connection: R): Lease<R> {
  return new Lease(connection, null);
}

/** A lease whose coroutine stopped waiting before it came: it is discarded when it comes. */
class LeaseWait {
  abandoned = false;
}

/** The lease handed over: the coroutine's object for it, or, if making that fails, the lease discarded. */
function handOver<R, T>(request: LeaseRequest<R, T>, lease: Lease<R>, waiter: LeaseWaiter): void {
  let taken: T;
  try {
    taken = request.take(lease, waiter.task.root);
  } catch (err) {
    request.source.discard(lease);
    waiter.settleWait(err, true);
    return;
  }
  waiter.settleWait(taken, false);
}

type AnyLeaseRequest = LeaseRequest<unknown, unknown>;
type LeaseWaiter = Waiter<LeaseWait>;

function startLease(waiter: LeaseWaiter, request: AnyLeaseRequest): void {
  const source = request.source;
  const idle = source.tryAcquireIdle();
  if (idle !== null) {
    handOver(request, idle, waiter);
    return;
  }
  const wait = new LeaseWait();
  waiter.waitHandle = wait;
  source.acquire().then(
    (lease) => {
      if (wait.abandoned) source.discard(lease);
      else handOver(request, lease, waiter);
    },
    (err: unknown) => {
      if (!wait.abandoned) waiter.settleWait(err, true);
    },
  );
}

function abandonLease(waiter: LeaseWaiter): void {
  waiter.waitHandle.abandoned = true;
}

/** The lease effects of one adapter, its kind named for coroutine chains ('tcp.connect', 'redis.connect'). */
export type LeaseKind = EffectConstructor<AnyLeaseRequest, undefined>;

export function leaseKind(name: string): LeaseKind {
  return defineKind<AnyLeaseRequest, undefined, LeaseWait>({ name, start: startLease, abandon: abandonLease });
}

/**
 * Waits for a connection from `request.source`: an idle one at once (no promise), else a new or
 * released one. A connection that arrives after the coroutine stopped waiting (cancelled) is
 * discarded, never leaked. `yield*` it to get `request.take(lease, root)`.
 */
export function lease<R, T>(kind: LeaseKind, request: LeaseRequest<R, T>): Effect<T> {
  return kind<T>(request);
}
