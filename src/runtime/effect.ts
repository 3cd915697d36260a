import type { EffectKind, Waiter, Yieldable } from './types.js';

export type { Body, EffectKind, Operable, Operation, Waiter, Yieldable } from './types.js';

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
 * for every kind keeps the shape monomorphic on the hot path; the behaviour lives in `kind`, which
 * gets `a` and `b` typed when the effect was made by the constructor `defineKind` returned.
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

  /** Untyped operands; `defineKind` gives a constructor that checks them against the kind. */
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

/** The operands an effect constructor takes: trailing ones that may be undefined may be left out. */
type Operands<A, B> = undefined extends B ? (undefined extends A ? [a?: A, b?: B] : [a: A, b?: B]) : [a: A, b: B];

/** Makes the effects of one kind; `T` is what `yield*` returns, inferred from the caller's return type. */
export type EffectConstructor<A, B> = <T = unknown>(...operands: Operands<A, B>) => Effect<T>;

/**
 * Declares an effect kind and returns the constructor of its effects, so that the kind's `start` and
 * `abandon` get the operands (`a: A`, `b: B`) and the waiter's handle (`H`) typed:
 *
 *     const SLEEP = defineKind<number, undefined, NodeJS.Timeout>({
 *       name: 'sleep',
 *       start(waiter, ms) { waiter.waitHandle = setTimeout(wake, ms, waiter); },
 *       abandon(waiter) { clearTimeout(waiter.waitHandle); },
 *     });
 *     const sleep = (ms: number): Effect<void> => SLEEP(ms);
 */
export function defineKind<A = undefined, B = undefined, H = unknown, W extends Waiter<H> = Waiter<H>>(
  kind: EffectKind<A, B, H, W>,
): EffectConstructor<A, B> {
  // two plain parameters rather than a rest parameter: making an effect allocates the effect only
  function make<T>(a?: A, b?: B): Effect<T> {
    return new Effect<T>(kind, a, b);
  }
  return make;
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
