import { InvalidArgumentError, SemaphoreOverReleaseError, TimeoutError } from '../errors/index.js';
import { Effect } from './effect.js';
import type { EffectKind, Operable, Operation } from './effect.js';
import { LinkedQueue } from './queue.js';
import type { QueueNode } from './queue.js';
import type { Task } from './task.js';

interface Waiter {
  task: Task<unknown>;
  timer: NodeJS.Timeout | null;
}

const ACQUIRE: EffectKind = {
  name: 'semaphore.acquire',
  start(task, effect) {
    (effect.a as Semaphore).enter(task, effect.b as number);
  },
  abandon(task, effect) {
    (effect.a as Semaphore).leave(task.waitHandle as QueueNode<Waiter>);
  },
};

function onAcquireTimeout(semaphore: Semaphore, node: QueueNode<Waiter>, ms: number): void {
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
  private readonly waiters = new LinkedQueue<Waiter>();

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
    return new Effect(ACQUIRE, this, timeoutMs);
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
      next.task.settleWait(undefined, false);
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
  enter(task: Task<unknown>, timeoutMs: number): void {
    if (this.tryAcquire()) {
      task.settleWait(undefined, false);
      return;
    }
    if (timeoutMs === 0) {
      task.settleWait(new TimeoutError(`acquire of semaphore '${this.name}'`, 0), true);
      return;
    }
    const waiter: Waiter = { task, timer: null };
    const node = this.waiters.push(waiter);
    if (Number.isFinite(timeoutMs)) waiter.timer = setTimeout(onAcquireTimeout, timeoutMs, this, node, timeoutMs);
    task.waitHandle = node;
  }

  /** @internal */
  leave(node: QueueNode<Waiter>): void {
    if (this.waiters.remove(node) && node.value.timer !== null) clearTimeout(node.value.timer);
  }

  /** @internal */
  expire(node: QueueNode<Waiter>, ms: number): void {
    if (!this.waiters.remove(node)) return;
    node.value.task.settleWait(new TimeoutError(`acquire of semaphore '${this.name}'`, ms), true);
  }
}
