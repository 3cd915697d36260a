import { InvalidArgumentError } from '../../errors/index.js';
import { Effect, isIterator, isThenable } from '../effect.js';
import type { EffectKind, Operation } from '../effect.js';

const CALL: EffectKind = {
  name: 'call',
  start(task, effect) {
    const target = effect.a;
    if (typeof target !== 'function') {
      task.waitPromise(target as PromiseLike<unknown>);
      return;
    }
    const out: unknown = (target as (...args: unknown[]) => unknown)(...(effect.b as unknown[]));
    if (isIterator(out)) {
      const err = task.pushFrame(out, target.name || 'anonymous');
      task.settleWait(err ?? undefined, err !== null);
    } else if (isThenable(out)) {
      task.waitPromise(out);
    } else {
      task.settleWait(out, false);
    }
  },
  abandon(task) {
    task.forgetPromise();
  },
};

/**
 * Waits for a promise, or calls a function inside the coroutine: a generator function runs as a
 * named frame of this coroutine (counted against maxDepth, shown in error chains); a function that
 * returns a promise is awaited; any other return value is returned.
 */
export function call<T, A extends unknown[]>(fn: (...args: A) => Operation<T>, ...args: A): Effect<T>;
export function call<T, A extends unknown[]>(fn: (...args: A) => PromiseLike<T> | T, ...args: A): Effect<T>;
export function call<T>(promise: PromiseLike<T>): Effect<T>;
export function call(target: unknown): Effect<unknown> {
  if (typeof target === 'function') {
    // copy the extra arguments without a rest parameter: the promise form (the hot one) allocates none
    const args = new Array<unknown>(arguments.length - 1);
    for (let i = 1; i < arguments.length; i++) args[i - 1] = arguments[i];
    return new Effect(CALL, target, args);
  }
  if (!isThenable(target)) {
    throw new InvalidArgumentError(
      `call() needs a function or a promise, got ${target === null ? 'null' : typeof target}`,
    );
  }
  return new Effect(CALL, target);
}
