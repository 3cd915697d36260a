import { InvalidArgumentError, WaitAbandonedError } from '../../errors/index.js';
import { Effect } from '../effect.js';
import type { EffectKind } from '../effect.js';
import type { Task } from '../task.js';

const CANCELLED: EffectKind = {
  name: 'cancelled',
  start(task) {
    task.settleWait(task.cancelling, false);
  },
  abandon() {},
};

const SELF: EffectKind = {
  name: 'self',
  start(task) {
    task.settleWait(task, false);
  },
  abandon() {},
};

const ABORTABLE: EffectKind = {
  name: 'abortable',
  start(task, effect) {
    const controller = new AbortController();
    const run = effect.a as (signal: AbortSignal) => PromiseLike<unknown>;
    const promise = run(controller.signal);
    task.waitHandle = controller;
    task.waitPromise(promise);
  },
  abandon(task) {
    task.forgetPromise();
    const controller = task.waitHandle as AbortController;
    controller.abort(task.reason ?? new WaitAbandonedError());
  },
};

/** True when the coroutine is being cancelled: use it in `finally` to tell cancellation from a normal exit. */
export function cancelled(): Effect<boolean> {
  return new Effect(CANCELLED);
}

/** The Task of the coroutine that yields it. */
export function self(): Effect<Task<unknown>> {
  return new Effect(SELF);
}

/**
 * Runs a promise-returning function with an AbortSignal that fires when the coroutine stops waiting
 * (cancelled, timed out, lost a race): the bridge for promise APIs that accept a signal.
 */
export function abortable<T>(run: (signal: AbortSignal) => PromiseLike<T>): Effect<T> {
  if (typeof run !== 'function') throw new InvalidArgumentError('abortable() needs a function (signal) => promise');
  return new Effect(ABORTABLE, run);
}
