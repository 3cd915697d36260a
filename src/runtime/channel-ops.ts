import { ChannelClosedError } from '../errors/index.js';
import { park, parkedWait } from './parked-op.js';
import type { ParkedOp } from './parked-op.js';
import type { Waiter, Yieldable } from './types.js';
import type { Linked, WaitList } from './wait-list.js';

/** Someone parked for an item: a coroutine's receive, or a promise of async code. */
export interface Receiver<T> extends Linked<Receiver<T>> {
  /** The item is theirs now. */
  take(item: T): void;
  /** The channel closed while they waited. */
  closeWait(): void;
}

/** No item to pull. */
export const NONE: unique symbol = Symbol('none');

/** What the ops need of their channel (channel.ts). */
export interface ChannelCore<T> {
  readonly name: string;
  readonly closed: boolean;
  readonly receivers: WaitList<Receiver<T>>;
  readonly senders: WaitList<SendOp<T>>;
  /** Takes the next item (from the buffer, refilled from parked senders, or from a parked sender). */
  pull(): T | typeof NONE;
  /** Hands `item` to a parked receiver or buffers it; false when the buffer is full. */
  offer(item: T): boolean;
  /** An item handed to a receiver that never took it: to the next receiver, else to the front of the buffer. */
  giveBack(item: T): void;
}

// an op's state
const FRESH = 0;
const PARKED = 1;
/** a receiver was handed an item; a sender's item was taken */
const HANDED = 2;
const CLOSED = 3;
const DONE = 4;

// One wait for each direction, shared by every channel and op: an op parks itself, then yields it.
const RECEIVE_PARKED = parkedWait('channel.receive');
const SEND_PARKED = parkedWait('channel.send');

const END: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

/**
 * `yield* channel.receive()` / `channel.next()`. Its own iterator and its own final iterator result
 * (one object per receive). An item handed to it stays the channel's until the receiving coroutine
 * runs and takes it: if that coroutine is cancelled first, `return()` gives the item back.
 */
export class ReceiveOp<T> implements Iterator<Yieldable, unknown, unknown>, Receiver<T>, ParkedOp {
  done = false;
  value: unknown = undefined;
  qprev: Receiver<T> | null = null;
  qnext: Receiver<T> | null = null;
  queued = false;
  waiter: Waiter<unknown> | null = null;
  private state = FRESH;
  private item: T | undefined = undefined;

  constructor(
    private readonly channel: ChannelCore<T>,
    /** next(): an IteratorResult, the end as `done: true`; receive(): the item, the end as ChannelClosedError */
    private readonly asResult: boolean,
  ) {}

  [Symbol.iterator](): Iterator<Yieldable, unknown, unknown> {
    return this.state === FRESH ? this : new ReceiveOp<T>(this.channel, this.asResult);
  }

  next(): IteratorResult<Yieldable, unknown> {
    if (this.state === HANDED) {
      const item = this.item as T;
      this.item = undefined;
      return this.finish(item);
    }
    if (this.state === FRESH) {
      const channel = this.channel;
      const item = channel.pull();
      if (item !== NONE) return this.finish(item);
      if (!channel.closed) {
        this.state = PARKED;
        channel.receivers.push(this);
        return park(this, RECEIVE_PARKED);
      }
    }
    this.state = DONE;
    if (!this.asResult) throw new ChannelClosedError(this.channel.name, 'receive');
    this.done = true;
    this.value = END;
    return this as IteratorResult<Yieldable, unknown>;
  }

  private finish(item: T): IteratorResult<Yieldable, unknown> {
    this.state = DONE;
    this.done = true;
    this.value = this.asResult ? { done: false, value: item } : item;
    return this as IteratorResult<Yieldable, unknown>;
  }

  return(value?: unknown): IteratorResult<Yieldable, unknown> {
    this.leave();
    this.done = true;
    this.value = value;
    return this as IteratorResult<Yieldable, unknown>;
  }

  throw(err?: unknown): IteratorResult<Yieldable, unknown> {
    this.leave();
    throw err;
  }

  /** Stopped without taking what it was handed (cancelled): the item goes back to the channel. */
  private leave(): void {
    if (this.state === PARKED) this.channel.receivers.remove(this);
    else if (this.state === HANDED) {
      const item = this.item as T;
      this.item = undefined;
      this.state = DONE;
      this.channel.giveBack(item);
    }
    this.state = DONE;
    this.waiter = null;
  }

  take(item: T): void {
    this.item = item;
    this.state = HANDED;
    this.waiter?.settleWait(undefined, false);
  }

  closeWait(): void {
    this.state = CLOSED;
    this.waiter?.settleWait(undefined, false);
  }

  /** Its coroutine stopped waiting (cancelled): out of the queue; `return()` follows. */
  abandon(): void {
    this.channel.receivers.remove(this);
  }
}

/**
 * `yield* channel.send(item)`. Parked, it holds its item until a receiver takes it (or the buffer
 * has room for it); a sender cancelled before that takes its item away undelivered.
 */
export class SendOp<T> implements Iterator<Yieldable, unknown, unknown>, Linked<SendOp<T>>, ParkedOp {
  done = false;
  value: unknown = undefined;
  qprev: SendOp<T> | null = null;
  qnext: SendOp<T> | null = null;
  queued = false;
  waiter: Waiter<unknown> | null = null;
  private state = FRESH;

  constructor(
    private readonly channel: ChannelCore<T>,
    public item: T,
  ) {}

  [Symbol.iterator](): Iterator<Yieldable, unknown, unknown> {
    return this.state === FRESH ? this : new SendOp<T>(this.channel, this.item);
  }

  next(): IteratorResult<Yieldable, unknown> {
    const channel = this.channel;
    if (this.state === FRESH && !channel.closed) {
      if (!channel.offer(this.item)) {
        this.state = PARKED;
        channel.senders.push(this);
        return park(this, SEND_PARKED);
      }
    } else if (this.state !== HANDED) {
      this.state = DONE;
      throw new ChannelClosedError(channel.name, 'send');
    }
    this.state = DONE;
    this.done = true;
    this.value = undefined;
    return this as IteratorResult<Yieldable, unknown>;
  }

  // return() and throw() repeat ReceiveOp's: a shared base class made channel ping-pong ~20% slower
  // (the calls stop being monomorphic), measured in one interleaved run.
  return(value?: unknown): IteratorResult<Yieldable, unknown> {
    this.leave();
    this.done = true;
    this.value = value;
    return this as IteratorResult<Yieldable, unknown>;
  }

  throw(err?: unknown): IteratorResult<Yieldable, unknown> {
    this.leave();
    throw err;
  }

  private leave(): void {
    if (this.state === PARKED) this.channel.senders.remove(this);
    this.state = DONE;
    this.waiter = null;
  }

  /** A receiver (or the buffer) took its item. */
  taken(): void {
    this.state = HANDED;
    this.waiter?.settleWait(undefined, false);
  }

  closeWait(): void {
    this.state = CLOSED;
    this.waiter?.settleWait(undefined, false);
  }

  abandon(): void {
    this.channel.senders.remove(this);
  }
}

/** Parked `next()` of async code reading a channel (channel[Symbol.asyncIterator]). */
export class PromiseReceiver<T> implements Receiver<T> {
  qprev: Receiver<T> | null = null;
  qnext: Receiver<T> | null = null;
  queued = false;

  constructor(private readonly resolve: (result: IteratorResult<T, undefined>) => void) {}

  take(item: T): void {
    this.resolve({ done: false, value: item });
  }

  closeWait(): void {
    this.resolve(END);
  }
}

export { END };
