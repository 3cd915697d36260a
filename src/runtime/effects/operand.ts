import { InvalidArgumentError } from '../../errors/index.js';
import { Effect, isIterator, isThenable } from '../effect.js';
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

/** Turns an Awaitable into the body frame of a child task, with a name for its chain. */
export function frameOf(op: unknown, where: string): { frame: Frame; name: string } {
  if (op instanceof Effect) return { frame: delegate(op), name: op.kind.name };
  if (isIterator(op)) return { frame: op, name: 'generator' };
  if (isTask(op)) return { frame: delegate(op), name: op.name };
  if (isThenable(op)) {
    if (isOperable(op)) return { frame: delegate(op), name: 'promise' };
    return { frame: awaitOnce(op), name: 'promise' };
  }
  throw new InvalidArgumentError(`${where}: expected an effect, a task, a generator or a promise, got ${describe(op)}`);
}

function isOperable(value: object): value is Operable<unknown> {
  return typeof (value as Partial<Operable<unknown>>)[Symbol.iterator] === 'function';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'}); call it first or use call()`;
  return typeof value;
}
