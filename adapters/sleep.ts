import { InvalidArgumentError } from '../src/errors/index.js';
import { defineKind } from '../src/runtime/effect.js';
import type { Effect, Waiter } from '../src/runtime/effect.js';

function wake(waiter: Waiter): void {
  waiter.settleWait(undefined, false);
}

const SLEEP = defineKind<number, undefined, NodeJS.Timeout>({
  name: 'sleep',
  start(waiter, ms) {
    waiter.waitHandle = setTimeout(wake, ms, waiter);
  },
  abandon(waiter) {
    clearTimeout(waiter.waitHandle);
  },
  describe(ms) {
    return `sleep(${ms})`;
  },
});

/** sleep(0): one turn of the event loop. */
const NEXT_TURN = defineKind<undefined, undefined, NodeJS.Immediate>({
  name: 'sleep',
  start(waiter) {
    waiter.waitHandle = setImmediate(wake, waiter);
  },
  abandon(waiter) {
    clearImmediate(waiter.waitHandle);
  },
  describe() {
    return 'sleep(0)';
  },
});

/**
 * Suspends the coroutine for `ms` milliseconds (like ngx.sleep, but in ms). `sleep(0)` yields to the
 * event loop once (setImmediate), letting I/O and other coroutines run. Cancellation clears the timer.
 */
export function sleep(ms: number): Effect<void> {
  if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(`sleep() needs a finite number of milliseconds >= 0, got ${String(ms)}`);
  }
  return ms === 0 ? NEXT_TURN() : SLEEP(ms);
}
