import { InvalidArgumentError, OutsideCoroutineError } from '../errors/index.js';
import { defineKind, isOperable } from './effect.js';
import type { Effect, Operable, Operation } from './effect.js';
import { runningFiber } from './run-loop.js';
import type { ContextValues, Runnable } from './run-loop.js';
import type { Yieldable } from './types.js';

/**
 * A value each coroutine has its own of, which the children it spawns inherit: a request id, a tenant,
 * a deadline budget. Made by `createContext(name, defaultValue)`.
 */
export interface Context<T> {
  readonly name: string;
  readonly defaultValue: T;
  /** `yield* ctx.get()`: this coroutine's value, else the one its parent had when it spawned it, else the default. */
  get(): Operable<T>;
  /**
   * `yield* ctx.set(value)`: this coroutine's value from now on — inside a `with`, until that `with` ends.
   * Children spawned from then on inherit it; those spawned before keep theirs.
   */
  set(value: T): Effect<T>;
  /** `yield* ctx.with(value, op)`: runs `op` with the value set, and puts back the one before however `op` ends. */
  with<R>(value: T, op: Operable<R>): Operation<R>;
}

/** Makes a context: `const RequestId = createContext<string>('requestId', '-')`. */
export function createContext<T>(name: string, defaultValue: T): Context<T> {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`createContext() needs a name (a non-empty string), got ${describe(name)}`);
  }
  return new CoroutineContext(name, defaultValue);
}

const SET = defineKind<CoroutineContext<unknown>, unknown>({
  name: 'context.set',
  start(waiter, context, value) {
    const fiber = fiberFor(context, 'set()');
    fiber.contextValues = { key: context, value, next: without(fiber.contextValues, context) };
    waiter.settleWait(value, false);
  },
  abandon() {},
});

class CoroutineContext<T> implements Context<T> {
  private readonly reader: ContextRead<T>;

  constructor(
    readonly name: string,
    readonly defaultValue: T,
  ) {
    this.reader = new ContextRead(this);
  }

  get(): Operable<T> {
    return this.reader;
  }

  set(value: T): Effect<T> {
    return SET<T>(this, value);
  }

  with<R>(value: T, op: Operable<R>): Operation<R> {
    if (!isOperable(op)) {
      throw new InvalidArgumentError(
        `context '${this.name}': with() needs an operation to run (a generator, an effect or a task), got ${describe(op)}`,
      );
    }
    return runWith(this, value, op);
  }

  /** Its value in a coroutine that has `values`. */
  valueIn(values: ContextValues | null): T {
    for (let node = values; node !== null; node = node.next) if (node.key === this) return node.value as T;
    return this.defaultValue;
  }
}

/**
 * `yield* ctx.get()` without a step: an iterator that is done at once, so `yield*` returns its value
 * without the coroutine waiting on anything. One per context, reused.
 */
class ContextRead<T> implements Iterator<Yieldable, T, unknown> {
  constructor(private readonly context: CoroutineContext<T>) {}

  [Symbol.iterator](): Iterator<Yieldable, T, unknown> {
    return this;
  }

  next(): IteratorResult<Yieldable, T> {
    const context = this.context;
    return { done: true, value: context.valueIn(fiberFor(context, 'get()').contextValues) };
  }
}

function* runWith<T, R>(context: CoroutineContext<T>, value: T, op: Operable<R>): Operation<R> {
  const fiber = fiberFor(context, 'with()');
  const outer = fiber.contextValues;
  fiber.contextValues = { key: context, value, next: outer };
  try {
    return yield* op;
  } finally {
    fiber.contextValues = outer;
  }
}

function fiberFor(context: CoroutineContext<unknown>, what: string): Runnable {
  const fiber = runningFiber();
  if (fiber === null) throw new OutsideCoroutineError(`context '${context.name}': ${what}`);
  return fiber;
}

/** `values` without the newest value of `key` (a `set` replaces it rather than pile up); shares what it can. */
function without(values: ContextValues | null, key: object): ContextValues | null {
  if (values === null) return null;
  if (values.key === key) return values.next;
  const rest = without(values.next, key);
  return rest === values.next ? values : { key: values.key, value: values.value, next: rest };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'}); call it first`;
  return typeof value;
}
