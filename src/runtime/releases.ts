import { isIterator, isThenable } from './effect.js';
import type { Yieldable } from './types.js';

/** What `resource` and `ensure` register: called with the acquired value; may return an operation or a promise. */
export type ReleaseFn = (value: unknown) => unknown;

/** Told of each release that failed. */
export interface ReleaseOwner {
  releaseFailed(err: unknown): void;
}

/**
 * The releases a coroutine owns (resource, ensure), kept as [fn, value, fn, value, ...] and run last
 * acquired first, by one frame the coroutine runs after its body and its children have ended.
 */
export class Releases {
  private readonly entries: unknown[] = [];
  /** The release frame is running: a cancellation no longer cuts into it (only a deadline does). */
  running = false;

  add(fn: ReleaseFn, value: unknown): void {
    this.entries.push(fn, value);
  }

  get pending(): boolean {
    return this.entries.length > 0;
  }

  /** The frame that runs every release; an error goes to the owner and the next release runs. */
  *run(owner: ReleaseOwner): Generator<Yieldable, void, unknown> {
    while (this.entries.length > 0) {
      const value = this.entries.pop();
      const fn = this.entries.pop() as ReleaseFn;
      let ended = false;
      try {
        yield* releaseOnce(fn, value);
        ended = true;
      } catch (err) {
        ended = true;
        owner.releaseFailed(err);
      } finally {
        // a deadline cut this release short (the frame was returned): the ones not started yet still run
        if (!ended) yield* this.run(owner);
      }
    }
  }
}

function* releaseOnce(fn: ReleaseFn, value: unknown): Generator<Yieldable, void, unknown> {
  const out = fn(value);
  if (isIterator(out)) yield* out as Generator<Yieldable, unknown, unknown>;
  else if (isThenable(out)) yield out;
}
