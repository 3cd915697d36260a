import { Effect } from './effect.js';
import type { EffectKind } from './effect.js';
import type { Task } from './task.js';

const WAIT: EffectKind = {
  name: 'signal.wait',
  start(task, effect) {
    (effect.a as Signal).add(task);
  },
  abandon(task, effect) {
    (effect.a as Signal).remove(task);
  },
};

/**
 * A condition for coroutines: `yield* signal.wait()` parks until someone calls `notify()`, which wakes
 * every coroutine waiting then. Check the condition again after waking, as with any condition variable.
 * A cancelled waiter leaves.
 */
export class Signal {
  private waiters: Array<Task<unknown>> = [];

  wait(): Effect<void> {
    return new Effect<void>(WAIT, this);
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const task of waiters) task.settleWait(undefined, false);
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** @internal */
  add(task: Task<unknown>): void {
    this.waiters.push(task);
  }

  /** @internal */
  remove(task: Task<unknown>): void {
    const i = this.waiters.indexOf(task);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}
