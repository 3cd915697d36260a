import type { EffectKind, Operable, Waiter, Yieldable } from './types.js';

export type { Body, EffectKind, Operable, Operation, Waiter, Yieldable } from './types.js';

// Effect.phase. FRESH and SPENT are both idle: SPENT was used (iterated, or handed to all/race/spawn) at
// least once, which the unyielded-effect check (unyielded.ts) reads; HELD is an unused effect it watches.
/** Made and never used. */
export const FRESH = 0;
/** Idle again after a use. */
export const SPENT = 1;
const ITERATED = 2;
const YIELDED = 3;
/** Unused when the coroutine that made it yielded: watched until it is used, collected, or the coroutine ends. */
export const HELD = 4;

/** Set by unyielded.ts while the check is on: told of every effect made, and of a held one being used. */
let onMade: ((effect: Effect<unknown>) => void) | null = null;
let onHeldUsed: ((effect: Effect<unknown>) => void) | null = null;

/** @internal unyielded.ts turns the tracking of effects on (both hooks) and off (null, null). */
export function trackEffects(
  made: ((effect: Effect<unknown>) => void) | null,
  heldUsed: ((effect: Effect<unknown>) => void) | null,
): void {
  onMade = made;
  onHeldUsed = heldUsed;
}

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
  phase = FRESH;
  readonly kind: EffectKind;
  readonly a: unknown;
  readonly b: unknown;

  /** Untyped operands; `defineKind` gives a constructor that checks them against the kind. */
  constructor(kind: EffectKind, a?: unknown, b?: unknown) {
    this.kind = kind;
    this.a = a;
    this.b = b;
    if (onMade !== null) onMade(this);
  }

  [Symbol.iterator](): Iterator<Yieldable, T, unknown> {
    if (this.phase >= ITERATED) {
      if (this.phase !== HELD) return new SharedEffectIterator<T>(this);
      if (onHeldUsed !== null) onHeldUsed(this);
    }
    this.phase = ITERATED;
    return this;
  }

  next(resumed?: unknown): IteratorResult<Yieldable, T> {
    if (this.phase === ITERATED) {
      this.phase = YIELDED;
      this.done = false;
      this.value = this;
    } else {
      this.phase = SPENT;
      this.done = true;
      this.value = resumed;
    }
    return this as unknown as IteratorResult<Yieldable, T>;
  }

  return(value?: unknown): IteratorResult<Yieldable, T> {
    this.phase = SPENT;
    return { done: true, value: value as T };
  }

  throw(err?: unknown): IteratorResult<Yieldable, T> {
    this.phase = SPENT;
    throw err;
  }
}

/**
 * Counts `value`, if it is an effect, as used: for what takes an effect to run it elsewhere (all, race,
 * timeout and spawn hand it to a child coroutine), so that its maker is not told it never yielded it.
 */
export function markUsed(value: unknown): void {
  if (!(value instanceof Effect)) return;
  if (value.phase === HELD && onHeldUsed !== null) onHeldUsed(value);
  if (value.phase === FRESH || value.phase === HELD) value.phase = SPENT;
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

/**
 * A promise of the engine's own: its `then` never calls back synchronously and never throws, so a group
 * may wait on it directly, with no child coroutine (a promise cannot be cancelled, only left), and it calls
 * back in the async context `then()` was called in.
 */
export function isNativePromise(op: unknown): op is Promise<unknown> {
  return typeof op === 'object' && op !== null && Object.getPrototypeOf(op) === Promise.prototype;
}

export function isIterator(value: unknown): value is Iterator<Yieldable, unknown, unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { next?: unknown }).next === 'function' &&
    typeof (value as { throw?: unknown }).throw === 'function'
  );
}

/** Anything `yield*` can delegate to: an object (or function) with a `[Symbol.iterator]` method. */
export function isOperable(value: unknown): value is Operable<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as Partial<Operable<unknown>>)[Symbol.iterator] === 'function'
  );
}
