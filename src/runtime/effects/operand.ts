import { InvalidArgumentError } from '../../errors/index.js';
import { Effect, isIterator, isOperable, isThenable } from '../effect.js';
import type { Frame } from '../frames.js';
import { isTask } from '../task.js';
import type { Operable, Yieldable } from '../types.js';

/** What all/race/timeout accept: an effect, a task, a generator (operation) or a promise. */
export type Awaitable<T = unknown> = Operable<T> | PromiseLike<T>;

/** The value an Awaitable produces. */
export type ResultOf<A> = A extends Operable<infer T> ? T : A extends PromiseLike<infer T> ? T : never;

function* delegate(op: Operable<unknown>): Generator<Yieldable, unknown, unknown> {
  return yield* op;
}

function* awaitOnce(promise: PromiseLike<unknown>): Generator<Yieldable, unknown, unknown> {
  return yield promise;
}

export { isNativePromise } from '../effect.js';

/** Turns an Awaitable into the body frame of a child task; null when `op` is not one. */
export function frameOf(op: unknown): Frame | null {
  if (op instanceof Effect) return delegate(op);
  if (isIterator(op)) return op;
  if (isTask(op)) return delegate(op);
  if (isThenable(op)) return isOperable(op) ? delegate(op) : awaitOnce(op);
  if (isOperableObject(op)) return delegate(op);
  return null;
}

/** True for what frameOf turns into a frame, without making it. */
export function isAwaitable(op: unknown): boolean {
  // a generator first: the usual operand (an effect is an iterator too: either way it is one)
  return isIterator(op) || op instanceof Effect || isTask(op) || isThenable(op) || isOperableObject(op);
}

/** The name of the child task that runs an Awaitable, for its chain. */
export function operandName(op: unknown): string {
  if (op instanceof Effect) return op.kind.name;
  if (isIterator(op)) return 'generator';
  if (isTask(op)) return op.name;
  return 'promise';
}

/** The error for an operand of `where` (e.g. "all() item 2") that is not an Awaitable. */
export function notAwaitable(where: string, op: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    `${where}: expected an effect, a task, a generator or a promise, got ${describe(op)}`,
  );
}

/** An object of the user's that `yield*` takes (an Operable); an array, iterable too, is refused. */
function isOperableObject(value: unknown): value is Operable<unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && isOperable(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'}); call it first or use call()`;
  if (Array.isArray(value)) return 'an array (nest all() or race() for a group inside a group)';
  if (typeof value === 'object')
    return `an object (${(value.constructor as { name?: string } | undefined)?.name ?? 'Object'})`;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and functions returned above: a primitive is left
  return `${typeof value} ${String(value)}`;
}
