import { InvalidArgumentError, OutsideCoroutineError } from '../errors/index.js';
import { isOperable, isThenable } from './effect.js';
import type { ReleaseFn } from './releases.js';
import { currentTask } from './run-loop.js';
import { Fiber } from './task.js';
import type { Operable, Operation, Yieldable } from './types.js';

/** What a release may return: an operation (it may wait), a promise, or nothing. */
export type Release = Operable<unknown> | PromiseLike<unknown> | void;

/** The coroutine whose step runs now: the owner of what `where` acquires. */
export function owner(where: string): Fiber<unknown> {
  const task = currentTask();
  if (!(task instanceof Fiber)) throw new OutsideCoroutineError(where);
  return task;
}

/**
 * Acquires a value with `acquire` (an operation or a promise) and hands `release(value)` to the calling
 * coroutine: it runs when that coroutine ends — returned, failed or cancelled — after its children,
 * last acquired first. A release may wait (a generator function, or a function returning a promise); a
 * cancellation does not cut it short, the coroutine's deadline does. If `acquire` fails or is cancelled,
 * nothing is registered.
 */
export function resource<T>(acquire: Operable<T> | PromiseLike<T>, release: (value: T) => Release): Operation<T> {
  if (!isOperable(acquire) && !isThenable(acquire)) {
    throw new InvalidArgumentError(
      `resource() needs an operation or a promise to acquire with, got ${acquire === null ? 'null' : typeof acquire}`,
    );
  }
  if (typeof release !== 'function') {
    throw new InvalidArgumentError(`resource() needs a release function, got ${describe(release)}`);
  }
  return acquireAndOwn(acquire, release as ReleaseFn);
}

function* acquireAndOwn<T>(
  acquire: Operable<T> | PromiseLike<T>,
  release: ReleaseFn,
): Generator<Yieldable, T, unknown> {
  const value = isOperable(acquire) ? yield* acquire : ((yield acquire) as T);
  owner('resource()').addRelease(release, value);
  return value;
}

/**
 * Runs `release()` when the calling coroutine ends, however it ends, in reverse order with the
 * releases of `resource()`: `yield* ensure(() => socket.close())`.
 */
export function ensure(release: () => Release): Operation<void> {
  if (typeof release !== 'function') {
    throw new InvalidArgumentError(`ensure() needs a function to run, got ${describe(release)}`);
  }
  return own(release);
}

function* own(release: ReleaseFn): Generator<Yieldable, void, unknown> {
  owner('ensure()').addRelease(release, undefined);
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value;
}
