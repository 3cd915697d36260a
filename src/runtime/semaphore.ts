import { InvalidArgumentError, SemaphoreOverReleaseError, TimeoutError } from '../errors/index.js';
import { defineKind } from './effect.js';
import type { Effect, Operable, Operation } from './effect.js';
import { LinkedQueue } from './queue.js';
import type { QueueNode } from './queue.js';
import type { Waiter } from './types.js';

interface Queued {
  waiter: Waiter<QueueNode<Queued>>;
  timer: NodeJS.Timeout | null;
}

const ACQUIRE = defineKind<Semaphore, number, QueueNode<Queued>>({
  name: 'semaphore.acquire',
  start(waiter, semaphore, timeoutMs) {
    semaphore.enter(waiter, timeoutMs);
  },
  abandon(waiter, semaphore) {
    semaphore.leave(waiter.waitHandle);
  },
  // a permit handed to a coroutine cancelled before it ran goes on to the next waiter
  unclaimed(_permit, semaphore) {
    semaphore.release();
  },
});

function onAcquireTimeout(semaphore: Semaphore, node: QueueNode<Queued>, ms: number): void {
  semaphore.expire(node, ms);
}

/**
 * Counting semaphore for coroutines, with FIFO waiters, timed acquire and cancellation that
 * leaves the queue. `yield* sem.use(op)` holds a permit for the length of `op`.
 */
export class Semaphore {
  readonly name: string;
  readonly permits: number;
  private free: number;
  private readonly waiters = new LinkedQueue<Queued>();

  constructor(permits: number, name = 'semaphore') {
    if (!Number.isInteger(permits) || permits < 1) {
      throw new InvalidArgumentError(`Semaphore needs a whole number of permits >= 1, got ${String(permits)}`);
    }
    this.permits = permits;
    this.free = permits;
    this.name = name;
  }

  get available(): number {
    return this.free;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Waits for a permit; with `timeoutMs`, throws TimeoutError when none came in time. */
  acquire(timeoutMs = Infinity): Effect<void> {
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw new InvalidArgumentError(
        `acquire() timeout must be a number of milliseconds >= 0, got ${String(timeoutMs)}`,
      );
    }
    return ACQUIRE(this, timeoutMs);
  }

  /** Takes a permit if one is free right now. */
  tryAcquire(): boolean {
    if (this.free > 0 && this.waiters.length === 0) {
      this.free--;
      return true;
    }
    return false;
  }

  /** Gives a permit back: to the longest waiter if any. */
  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) {
      if (next.timer !== null) clearTimeout(next.timer);
      next.waiter.settleWait(undefined, false);
      return;
    }
    if (this.free >= this.permits) {
      throw new SemaphoreOverReleaseError(this.name);
    }
    this.free++;
  }

  /** Runs `op` holding a permit, released however `op` ends. */
  *use<T>(op: Operable<T>, timeoutMs = Infinity): Operation<T> {
    yield* this.acquire(timeoutMs);
    try {
      return yield* op;
    } finally {
      this.release();
    }
  }

  /** @internal */
  enter(waiter: Waiter<QueueNode<Queued>>, timeoutMs: number): void {
    if (this.tryAcquire()) {
      waiter.settleWait(undefined, false);
      return;
    }
    if (timeoutMs === 0) {
      waiter.settleWait(new TimeoutError(`acquire of semaphore '${this.name}'`, 0), true);
      return;
    }
    const queued: Queued = { waiter, timer: null };
    const node = this.waiters.push(queued);
    if (Number.isFinite(timeoutMs)) queued.timer = setTimeout(onAcquireTimeout, timeoutMs, this, node, timeoutMs);
    waiter.waitHandle = node;
  }

  /** @internal */
  leave(node: QueueNode<Queued>): void {
    if (this.waiters.remove(node) && node.value.timer !== null) clearTimeout(node.value.timer);
  }

  /** @internal */
  expire(node: QueueNode<Queued>, ms: number): void {
    if (!this.waiters.remove(node)) return;
    node.value.waiter.settleWait(new TimeoutError(`acquire of semaphore '${this.name}'`, ms), true);
  }
}
