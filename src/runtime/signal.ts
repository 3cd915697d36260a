import { Effect } from './effect.js';
import type { EffectKind } from './effect.js';
import type { Task } from './task.js';

const WAIT: EffectKind = {
  name: 'signal.wait',
  start(task, effect) {
    const signal = effect.a as Signal;
    signal.add(task);
    const ms = effect.b as number;
    if (Number.isFinite(ms)) task.waitHandle = setTimeout(onWaitTimeout, ms, signal, task);
  },
  abandon(task, effect) {
    (effect.a as Signal).remove(task);
    if (task.waitHandle !== null) clearTimeout(task.waitHandle as NodeJS.Timeout);
  },
};

function onWaitTimeout(signal: Signal, task: Task<unknown>): void {
  signal.remove(task);
  task.settleWait(false, false);
}

/**
 * A condition for coroutines: `yield* signal.wait()` parks until someone calls `notify()`, which wakes
 * every coroutine waiting then. Check the condition again after waking, as with any condition variable.
 * A cancelled waiter leaves.
 */
export class Signal {
  private waiters: Array<Task<unknown>> = [];

  /** Parks until notify(): true; or false once `ms` passed without one. */
  wait(ms = Infinity): Effect<boolean> {
    return new Effect<boolean>(WAIT, this, ms);
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const task of waiters) {
      if (task.waitHandle !== null) clearTimeout(task.waitHandle as NodeJS.Timeout);
      task.settleWait(true, false);
    }
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
