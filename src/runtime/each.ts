import { InvalidArgumentError } from '../errors/index.js';
import { Channel } from './channel.js';
import { defineKind } from './effect.js';
import type { Effect } from './effect.js';
import { owner } from './resource.js';
import type { Operable, Operation, Yieldable } from './types.js';

/**
 * A source read from a coroutine, one item per `yield* items.next()`, as `for await` reads it in an
 * async function: `{ done: false, value }`, then `{ done: true }` at the end.
 */
export interface Each<T> {
  next(): Operable<IteratorResult<T, undefined>>;
  /** Stops reading before the end: calls the async iterator's `return()` and waits for it. */
  close(): Operation<void>;
}

const END: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

/** An async iterator read by one coroutine; its `return()` is called when the reading stops early. */
class AsyncEach<T> implements Each<T> {
  /** a next() was called and has not settled: return() would only be acted on after it */
  outstanding = false;
  /** the source ended, failed or was closed: nothing more to call on it */
  finished = false;
  readonly onStep = (result: IteratorResult<T, unknown>): IteratorResult<T, undefined> => {
    this.outstanding = false;
    if (result.done === true) {
      this.finished = true;
      return END;
    }
    return result;
  };
  readonly onFailure = (err: unknown): never => {
    this.outstanding = false;
    this.finished = true;
    throw err;
  };

  constructor(readonly iterator: AsyncIterator<T, unknown, undefined>) {}

  next(): Effect<IteratorResult<T, undefined>> {
    return EACH_NEXT(this as AsyncEach<unknown>);
  }

  *close(): Operation<void> {
    if (this.finished) return;
    if (this.outstanding || typeof this.iterator.return !== 'function') {
      this.stop();
      return;
    }
    this.finished = true;
    yield this.iterator.return();
  }

  /**
   * Calls return() without waiting for it: an async generator acts on it only once a pending next()
   * settles, which may be never.
   */
  stop(): void {
    if (this.finished) return;
    this.finished = true;
    if (typeof this.iterator.return === 'function') Promise.resolve(this.iterator.return()).catch(ignore);
  }
}

const EACH_NEXT = defineKind<AsyncEach<unknown>>({
  name: 'each.next',
  start(waiter, each) {
    if (each.finished) {
      waiter.settleWait(END, false);
      return;
    }
    each.outstanding = true;
    let step: Promise<IteratorResult<unknown, undefined>>;
    try {
      step = Promise.resolve(each.iterator.next()).then(each.onStep, each.onFailure);
    } catch (err) {
      each.outstanding = false;
      each.finished = true;
      throw err;
    }
    waiter.waitPromise(step);
  },
  abandon(waiter, each) {
    // the coroutine stopped waiting for an item (cancelled): stop the source now
    waiter.forgetPromise();
    each.stop();
  },
});

/** A channel read by one coroutine: closing the reader leaves the channel open. */
class ChannelEach<T> implements Each<T> {
  constructor(private readonly channel: Channel<T>) {}

  next(): Operable<IteratorResult<T, undefined>> {
    return this.channel.next();
  }

  *close(): Operation<void> {}
}

function ignore(): void {}

function closeEach(each: unknown): Operation<void> {
  return (each as Each<unknown>).close();
}

/**
 * `const items = yield* each(source)` reads an AsyncIterable (a stream, an async generator) or a
 * Channel from a coroutine:
 *
 *     for (let r = yield* items.next(); !r.done; r = yield* items.next()) use(r.value);
 *
 * The reader belongs to the calling coroutine: when that coroutine ends (returned, failed, cancelled)
 * before the source did, the source's `return()` is called, as `for await` calls it on `break`; a
 * cancellation while a `next()` waits calls it at once. `yield* items.close()` stops earlier.
 */
export function each<T>(source: AsyncIterable<T> | Channel<T>): Operation<Each<T>> {
  if (!(source instanceof Channel) && !isAsyncIterable(source)) {
    throw new InvalidArgumentError(
      `each() needs an AsyncIterable or a Channel, got ${source === null ? 'null' : typeof source}`,
    );
  }
  return startEach(source);
}

function* startEach<T>(source: AsyncIterable<T> | Channel<T>): Generator<Yieldable, Each<T>, unknown> {
  const task = owner('each()');
  if (source instanceof Channel) return new ChannelEach<T>(source);
  const reader = new AsyncEach<T>(source[Symbol.asyncIterator]() as AsyncIterator<T, unknown, undefined>);
  task.addRelease(closeEach, reader);
  return reader;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function'
  );
}
