import { InvalidArgumentError, StackBudgetError } from '../errors/index.js';
import { isIterator, isThenable } from './effect.js';
import type { Yieldable } from './types.js';

/** One generator of a coroutine: its body, or a generator it called. What it yields is checked as it runs. */
export type Frame = Iterator<unknown, unknown, unknown>;
export type BodyFn = (...args: never[]) => unknown;

/**
 * The frames of one coroutine: the running generator and the ones below it, kept as
 * [frame, name, frame, name, ...] in `outer` (allocated on the first call).
 */
export interface FrameStack {
  frame: Frame | null;
  frameName: string;
  outer: Array<Frame | string> | null;
  /** Frames of ancestors when the coroutine was spawned; counts against maxDepth. */
  readonly baseDepth: number;
  /** Names from the root coroutine down to the running frame. */
  chain(): string[];
}

export function frameDepth(stack: FrameStack): number {
  return stack.baseDepth + 1 + (stack.outer === null ? 0 : stack.outer.length >> 1);
}

/** Names of the coroutine's own frames, outermost first. */
export function frameNames(stack: FrameStack): string[] {
  const names: string[] = [];
  const outer = stack.outer;
  if (outer !== null) for (let i = 1; i < outer.length; i += 2) names.push(outer[i] as string);
  names.push(stack.frameName);
  return names;
}

/**
 * Pushes a frame (a call of a generator) unless that passes `maxDepth`: then returns the error to
 * throw into the caller instead.
 */
export function pushFrame(stack: FrameStack, frame: Frame, name: string, maxDepth: number): StackBudgetError | null {
  if (frameDepth(stack) + 1 > maxDepth) return new StackBudgetError([...stack.chain(), name], maxDepth);
  if (stack.outer === null) stack.outer = [];
  stack.outer.push(stack.frame!, stack.frameName);
  stack.frame = frame;
  stack.frameName = name;
  return null;
}

/** Returns to the frame below; false when the body itself ended. */
export function popFrame(stack: FrameStack): boolean {
  const outer = stack.outer;
  if (outer === null || outer.length === 0) {
    stack.frame = null;
    return false;
  }
  stack.frameName = outer.pop() as string;
  stack.frame = outer.pop() as Frame;
  return true;
}

/** Runaway `yield*` recursion ends in V8's stack limit: it becomes the same error as a deep call chain. */
export function asStackBudget(err: unknown, stack: Pick<FrameStack, 'chain'>, maxDepth: number): unknown {
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new StackBudgetError(stack.chain(), maxDepth, { cause: err });
  }
  return err;
}

function* returnValue(value: unknown): Generator<never, unknown, unknown> {
  return value;
}

function* awaitValue(promise: PromiseLike<unknown>): Generator<Yieldable, unknown, unknown> {
  return yield promise;
}

function* throwError(err: unknown): Generator<never, never, unknown> {
  throw err;
}

const TAKES = 'a generator function, a generator, an effect, or a function (an async one too)';
const ASYNC_GENERATOR_ADVICE = 'its yields are promises the runtime cannot wait on: write function* and yield* effects';

/**
 * Why `body` cannot be the body of a coroutine started by `caller` (go, spawn...), or null when it
 * can: a generator function or generator, an effect, or any other function (its promise is waited on).
 */
export function bodyRefusal(caller: string, body: unknown): InvalidArgumentError | null {
  if (typeof body === 'function') {
    if ((body as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] !== 'AsyncGeneratorFunction') return null;
    return new InvalidArgumentError(
      `${caller}() takes ${TAKES}, got an async generator function: ${ASYNC_GENERATOR_ADVICE}`,
    );
  }
  if (isIterator(body)) {
    if ((body as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] !== 'AsyncGenerator') return null;
    return new InvalidArgumentError(`${caller}() takes ${TAKES}, got an async generator: ${ASYNC_GENERATOR_ADVICE}`);
  }
  if (isThenable(body)) {
    const what =
      'chain' in body && 'cancel' in body
        ? 'a Task, which runs already: join it with yield* task or await it'
        : 'a promise: pass a function that returns it, () => promise';
    return new InvalidArgumentError(`${caller}() takes ${TAKES}, got ${what}`);
  }
  return new InvalidArgumentError(`${caller}() takes ${TAKES}, got ${body === null ? 'null' : typeof body}`);
}

/** The body frame of a coroutine from a function and its arguments: a generator, or one that wraps the result. */
export function makeBody(fn: BodyFn, args: readonly unknown[]): Frame {
  let body: unknown;
  try {
    body = (fn as (...a: readonly unknown[]) => unknown)(...args);
  } catch (err) {
    return throwError(err);
  }
  if (isIterator(body)) {
    if ((body as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] !== 'AsyncGenerator') return body;
    return throwError(
      new InvalidArgumentError(`a coroutine's body returned an async generator: ${ASYNC_GENERATOR_ADVICE}`),
    );
  }
  if (isThenable(body)) return awaitValue(body);
  return returnValue(body);
}

/** The name a yielded generator gets in chains. */
export function frameNameOf(frame: Frame): string {
  const tag = (frame as { [Symbol.toStringTag]?: string })[Symbol.toStringTag];
  return tag && tag !== 'Generator' ? tag : 'generator';
}

export function bodyName(body: unknown, fallback = 'anonymous'): string {
  if (typeof body !== 'function') return fallback;
  const name = body.name; // a getter on functions: read once
  return name ? name : fallback;
}
