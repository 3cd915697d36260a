import { InvalidArgumentError, WaitAbandonedError } from '../../errors/index.js';
import { defineKind } from '../effect.js';
import type { Effect } from '../effect.js';
import type { Task } from '../types.js';

const CANCELLED = defineKind({
  name: 'cancelled',
  start(waiter) {
    waiter.settleWait(waiter.task.cancelling, false);
  },
  abandon() {},
});

const SELF = defineKind({
  name: 'self',
  start(waiter) {
    waiter.settleWait(waiter.task, false);
  },
  abandon() {},
});

const ABORTABLE = defineKind<(signal: AbortSignal) => PromiseLike<unknown>, undefined, AbortController>({
  name: 'abortable',
  start(waiter, run) {
    const controller = new AbortController();
    const promise = run(controller.signal);
    waiter.waitHandle = controller;
    waiter.waitPromise(promise);
  },
  abandon(waiter) {
    waiter.forgetPromise();
    waiter.waitHandle.abort(waiter.task.reason ?? new WaitAbandonedError());
  },
});

/** True when the coroutine is being cancelled: use it in `finally` to tell cancellation from a normal exit. */
export function cancelled(): Effect<boolean> {
  return CANCELLED();
}

/** The Task of the coroutine that yields it. */
export function self(): Effect<Task<unknown>> {
  return SELF();
}

/**
 * Runs a promise-returning function with an AbortSignal that fires when the coroutine stops waiting
 * (cancelled, timed out, lost a race): the bridge for promise APIs that accept a signal.
 */
export function abortable<T>(run: (signal: AbortSignal) => PromiseLike<T>): Effect<T> {
  if (typeof run !== 'function') throw new InvalidArgumentError('abortable() needs a function (signal) => promise');
  return ABORTABLE(run);
}
