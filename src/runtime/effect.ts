import type { Task } from './task.js';

/** Anything a coroutine may `yield`: an effect (usually through `yield*`) or a promise. */
export type Yieldable = Effect<unknown> | PromiseLike<unknown>;

/** A coroutine body: `function* (): Operation<string> { ... }`. */
export type Operation<T> = Generator<Yieldable, T, unknown>;

/** What `yield*` accepts and types: effects, tasks and operations all qualify. */
export interface Operable<T> {
  [Symbol.iterator](): Iterator<Yieldable, T, unknown>;
}

/**
 * How one kind of effect waits. `start` must eventually call `task.settleWait(...)` exactly once
 * (it may do so synchronously) unless `abandon` is called first; `abandon` must detach every
 * callback so that nothing reaches the task afterwards (clear the timer, leave the queue, abort).
 */
export interface EffectKind {
  readonly name: string;
  start(task: Task<unknown>, effect: Effect<unknown>): void;
  abandon(task: Task<unknown>, effect: Effect<unknown>): void;
}

const IDLE = 0;
const ITERATED = 1;
const YIELDED = 2;

/**
 * One request to the scheduler, made by `yield*`.
 *
 * An Effect is its own iterator and its own iterator result: `yield*` calls `next()`, gets the
 * effect back with `done: false`, and (per the spec, for sync generators) hands that very object
 * to whoever resumed the outer generator — the runner — with no wrapper allocated. When the runner
 * resumes with a value, `next(value)` returns the effect again with `done: true, value`. One class
 * for every kind keeps the shape monomorphic on the hot path; the behaviour lives in `kind`.
 *
 * The same Effect may be reused one `yield*` after another; if it is iterated again while still in
 * flight (two coroutines sharing it), a separate iterator is handed out.
 */
export class Effect<T> implements Iterator<Yieldable, T, unknown> {
  done = false;
  value: unknown = undefined;
  phase = IDLE;
  readonly kind: EffectKind;
  readonly a: unknown;
  readonly b: unknown;

  constructor(kind: EffectKind, a?: unknown, b?: unknown) {
    this.kind = kind;
    this.a = a;
    this.b = b;
  }

  [Symbol.iterator](): Iterator<Yieldable, T, unknown> {
    if (this.phase !== IDLE) return new SharedEffectIterator<T>(this);
    this.phase = ITERATED;
    return this;
  }

  next(resumed?: unknown): IteratorResult<Yieldable, T> {
    if (this.phase === ITERATED) {
      this.phase = YIELDED;
      this.done = false;
      this.value = this;
    } else {
      this.phase = IDLE;
      this.done = true;
      this.value = resumed;
    }
    return this as unknown as IteratorResult<Yieldable, T>;
  }

  return(value?: unknown): IteratorResult<Yieldable, T> {
    this.phase = IDLE;
    return { done: true, value: value as T };
  }

  throw(err?: unknown): IteratorResult<Yieldable, T> {
    this.phase = IDLE;
    throw err;
  }
}

class SharedEffectIterator<T> implements Iterator<Yieldable, T, unknown> {
  private yielded = false;
  private readonly effect: Effect<T>;

  constructor(effect: Effect<T>) {
    this.effect = effect;
  }

  next(resumed?: unknown): IteratorResult<Yieldable, T> {
    if (!this.yielded) {
      this.yielded = true;
      return { done: false, value: this.effect };
    }
    return { done: true, value: resumed as T };
  }

  return(value?: unknown): IteratorResult<Yieldable, T> {
    return { done: true, value: value as T };
  }

  throw(err?: unknown): IteratorResult<Yieldable, T> {
    throw err;
  }
}

export function isEffect(value: unknown): value is Effect<unknown> {
  return value instanceof Effect;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

export function isIterator(value: unknown): value is Iterator<Yieldable, unknown, unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { next?: unknown }).next === 'function' &&
    typeof (value as { throw?: unknown }).throw === 'function'
  );
}
