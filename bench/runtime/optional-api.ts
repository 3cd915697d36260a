/**
 * Parts of the public API that trees before issue 16 lack, looked up by name in the tree under test
 * (bench/lib/subject.ts): a case that needs one shows "n/a (not in this build)" for cosocket instead.
 * The shapes are what the cases use of them.
 */
import type { Operable } from '../../src/index.js';
import { loadSubject } from '../lib/subject.js';

export const NOT_IN_THIS_BUILD = 'n/a (not in this build)';

/** `new Channel(capacity)`: `yield* ch.send(value)` waits while full, `yield* ch.receive()` while empty. */
export interface BenchChannel<T> {
  send(value: T): Operable<void>;
  receive(): Operable<T>;
}

export type ChannelConstructor = new <T>(capacity: number) => BenchChannel<T>;

/** `createContext(name, defaultValue)`: `yield* ctx.get()`, `yield* ctx.with(value, op)`. */
export interface BenchContext<T> {
  get(): Operable<T>;
  with<R>(value: T, op: Operable<R>): Operable<R>;
}

export type CreateContext = <T>(name: string, defaultValue: T) => BenchContext<T>;

async function exported(name: string): Promise<unknown> {
  const library = (await loadSubject()) as unknown as Readonly<Record<string, unknown>>;
  return library[name];
}

/** The tree's `Channel` class, or null when it has none. */
export async function subjectChannel(): Promise<ChannelConstructor | null> {
  const value = await exported('Channel');
  return typeof value === 'function' ? (value as ChannelConstructor) : null;
}

/** The tree's `createContext`, or null when it has none. */
export async function subjectCreateContext(): Promise<CreateContext | null> {
  const value = await exported('createContext');
  return typeof value === 'function' ? (value as CreateContext) : null;
}
