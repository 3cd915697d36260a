import { defineKind } from './effect.js';
import type { Effect } from './effect.js';
import type { Waiter } from './types.js';

/** A waiter's handle: its timer when the wait has a timeout. */
type SignalWaiter = Waiter<NodeJS.Timeout | null>;

const WAIT = defineKind<Signal, number, NodeJS.Timeout | null>({
  name: 'signal.wait',
  start(waiter, signal, ms) {
    signal.add(waiter);
    if (Number.isFinite(ms)) waiter.waitHandle = setTimeout(onWaitTimeout, ms, signal, waiter);
  },
  abandon(waiter, signal) {
    signal.remove(waiter);
    if (waiter.waitHandle !== null) clearTimeout(waiter.waitHandle);
  },
});

function onWaitTimeout(signal: Signal, waiter: SignalWaiter): void {
  signal.remove(waiter);
  waiter.settleWait(false, false);
}

/**
 * A condition for coroutines: `yield* signal.wait()` parks until someone calls `notify()`, which wakes
 * every coroutine waiting then. Check the condition again after waking, as with any condition variable.
 * A cancelled waiter leaves.
 */
export class Signal {
  private waiters: SignalWaiter[] = [];

  /** Parks until notify(): true; or false once `ms` passed without one. */
  wait(ms = Infinity): Effect<boolean> {
    return WAIT(this, ms);
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (waiter.waitHandle !== null) clearTimeout(waiter.waitHandle);
      waiter.settleWait(true, false);
    }
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** @internal */
  add(waiter: SignalWaiter): void {
    this.waiters.push(waiter);
  }

  /** @internal */
  remove(waiter: SignalWaiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}
