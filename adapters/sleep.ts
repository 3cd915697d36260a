import { InvalidArgumentError } from '../src/errors/index.js';
import { defineKind } from '../src/runtime/effect.js';
import type { Effect, Waiter } from '../src/runtime/effect.js';
import { keepShape } from '../src/runtime/shapes.js';

function wake(waiter: Waiter): void {
  waiter.settleWait(undefined, false);
}

function noop(): void {}

/** True once a timeout and an immediate are kept for their shapes. */
let timerShapesKept = false;

/**
 * Keeps one cleared timeout and one cleared immediate alive for good (src/runtime/shapes.ts): a waiter's
 * handle holds them, and the fiber code that reads it is built on their hidden classes.
 */
function keepTimerShapes(): void {
  timerShapesKept = true;
  const timeout = setTimeout(noop, 1);
  clearTimeout(timeout);
  keepShape(timeout);
  const immediate = setImmediate(noop);
  clearImmediate(immediate);
  keepShape(immediate);
}

const SLEEP = defineKind<number, undefined, NodeJS.Timeout>({
  name: 'sleep',
  start(waiter, ms) {
    if (!timerShapesKept) keepTimerShapes();
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
    if (!timerShapesKept) keepTimerShapes();
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
