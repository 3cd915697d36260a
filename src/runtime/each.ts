import { InvalidArgumentError } from '../errors/index.js';
import { Channel } from './channel.js';
import { park, parkedWait } from './parked-op.js';
import type { ParkedOp } from './parked-op.js';
import { owner } from './resource.js';
import type { Operable, Operation, Waiter, Yieldable } from './types.js';
import { WaitList } from './wait-list.js';
import type { Linked } from './wait-list.js';

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
const NO_FAILURE: unique symbol = Symbol('no failure');
const NEXT_PARKED = parkedWait('each.next');

/**
 * An async iterator read by coroutines. Its `next()` is called once per step and the step is kept
 * until a reader takes it, so a reader that stops waiting (cancelled, or a lost race against a
 * timeout) loses nothing: the next `yield* items.next()` gets that step.
 */
class AsyncEach<T> implements Each<T> {
  /** a next() of the source is in flight */
  private requested = false;
  /** a step that arrived and no reader took yet */
  ready: IteratorResult<T, undefined> | null = null;
  failure: unknown = NO_FAILURE;
  /** the source ended or failed: nothing more to ask of it */
  finished = false;
  private closed = false;
  /** readers waiting for a step, first come first served */
  readonly parked = new WaitList<EachNext<T>>();

  private readonly onStep = (result: IteratorResult<T, unknown>): void => {
    this.requested = false;
    if (this.closed) return;
    if (result.done === true) this.finished = true;
    this.ready = result.done === true ? END : result;
    this.wake();
  };

  private readonly onFailure = (err: unknown): void => {
    this.requested = false;
    if (this.closed) return;
    this.finished = true;
    this.failure = err;
    this.wake();
  };

  constructor(private readonly iterator: AsyncIterator<T, unknown, undefined>) {}

  next(): Operable<IteratorResult<T, undefined>> {
    return new EachNext<T>(this) as Operable<unknown> as Operable<IteratorResult<T, undefined>>;
  }

  /** Asks the source for its next step, unless a request is in flight. */
  request(): void {
    if (this.requested) return;
    this.requested = true;
    let step: PromiseLike<IteratorResult<T, unknown>>;
    try {
      step = this.iterator.next();
    } catch (err) {
      this.onFailure(err);
      return;
    }
    Promise.resolve(step).then(this.onStep, this.onFailure);
  }

  /** Wakes the first parked reader to take what arrived (all of them once the source is over). */
  wake(): void {
    const reader = this.parked.shift();
    if (reader !== null) reader.waiter?.settleWait(undefined, false);
    if (this.finished)
      for (let r = this.parked.shift(); r !== null; r = this.parked.shift()) r.waiter?.settleWait(undefined, false);
  }

  *close(): Operation<void> {
    if (this.closed) return;
    this.closed = true;
    this.ready = null;
    const finished = this.finished;
    this.finished = true;
    this.wake();
    if (finished || typeof this.iterator.return !== 'function') return;
    if (this.requested) {
      // an async generator acts on return() only once its pending next() settles, which may be never
      Promise.resolve(this.iterator.return()).catch(ignore);
      return;
    }
    yield this.iterator.return();
  }
}

/**
 * `yield* items.next()` on an async iterator: takes the step when its coroutine runs. One that stops
 * waiting after a step reached it (cancelled before it ran) leaves the step to the next reader.
 */
class EachNext<T> implements Iterator<Yieldable, unknown, unknown>, ParkedOp, Linked<EachNext<T>> {
  done = false;
  value: unknown = undefined;
  waiter: Waiter<unknown> | null = null;
  qprev: EachNext<T> | null = null;
  qnext: EachNext<T> | null = null;
  queued = false;
  private used = false;

  constructor(private readonly each: AsyncEach<T>) {}

  [Symbol.iterator](): Iterator<Yieldable, unknown, unknown> {
    return this.used ? new EachNext<T>(this.each) : this;
  }

  next(): IteratorResult<Yieldable, unknown> {
    this.used = true;
    const each = this.each;
    const ready = each.ready;
    if (ready !== null) {
      each.ready = null;
      if (each.parked.length > 0 && !each.finished) each.request(); // for the reader after this one
      return this.finish(ready);
    }
    if (each.failure !== NO_FAILURE) {
      const err = each.failure;
      each.failure = NO_FAILURE;
      this.finish(END);
      throw err;
    }
    if (each.finished) return this.finish(END);
    each.request();
    if (each.failure !== NO_FAILURE) return this.next(); // it failed at once
    each.parked.push(this);
    return park(this, NEXT_PARKED);
  }

  private finish(result: IteratorResult<T, undefined>): IteratorResult<Yieldable, unknown> {
    this.waiter = null;
    this.done = true;
    this.value = result;
    return this as IteratorResult<Yieldable, unknown>;
  }

  return(value?: unknown): IteratorResult<Yieldable, unknown> {
    this.abandon();
    // woken for a step it will not take now: the next reader takes it
    if (this.waiter !== null && (this.each.ready !== null || this.each.failure !== NO_FAILURE)) this.each.wake();
    this.waiter = null;
    this.done = true;
    this.value = value;
    return this as IteratorResult<Yieldable, unknown>;
  }

  throw(err?: unknown): IteratorResult<Yieldable, unknown> {
    this.abandon();
    throw err;
  }

  abandon(): void {
    this.each.parked.remove(this);
  }
}

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
 * before the source did, the source's `return()` is called, as `for await` calls it on `break`.
 * `yield* items.close()` stops earlier. A `next()` abandoned while it waits (a race against a
 * timeout) loses nothing: the step it waited for goes to the next `next()`.
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
