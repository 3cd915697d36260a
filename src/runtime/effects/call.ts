import { InvalidArgumentError } from '../../errors/index.js';
import { defineKind, isIterator, isThenable } from '../effect.js';
import type { Effect, Operation } from '../effect.js';
import type { FiberWaiter } from '../task.js';

type Target = ((...args: unknown[]) => unknown) | PromiseLike<unknown>;

const CALL = defineKind<Target, unknown[] | undefined, unknown, FiberWaiter>({
  name: 'call',
  start(fiber, target, args) {
    if (typeof target !== 'function') {
      fiber.waitPromise(target);
      return;
    }
    const out: unknown = target(...args!);
    if (isIterator(out)) {
      const err = fiber.pushFrame(out, target.name || 'anonymous');
      fiber.settleWait(err ?? undefined, err !== null);
    } else if (isThenable(out)) {
      fiber.waitPromise(out);
    } else {
      fiber.settleWait(out, false);
    }
  },
  abandon(fiber) {
    fiber.forgetPromise();
  },
  describe(target) {
    return typeof target === 'function' ? `call(${target.name || 'anonymous'})` : 'call(promise)';
  },
});

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
    // eslint-disable-next-line prefer-rest-params -- a rest parameter would allocate on every call, promises too
    for (let i = 1; i < arguments.length; i++) args[i - 1] = arguments[i];
    return CALL(target as (...args: unknown[]) => unknown, args);
  }
  if (!isThenable(target)) {
    throw new InvalidArgumentError(
      `call() needs a function or a promise, got ${target === null ? 'null' : typeof target}`,
    );
  }
  return CALL(target);
}
