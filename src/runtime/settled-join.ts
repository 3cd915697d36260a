import type { Yieldable } from './types.js';

/** `yield* task` of a settled task: its first `next()` ends the delegation with the value, or throws the error. */
export class SettledJoin<T> implements Iterator<Yieldable, T, unknown> {
  readonly done = true;

  constructor(
    private readonly failed: boolean,
    readonly value: unknown,
  ) {}

  next(): IteratorResult<Yieldable, T> {
    if (this.failed) throw this.value;
    return this as unknown as IteratorResult<Yieldable, T>;
  }
}
