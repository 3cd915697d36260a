import { ChannelClosedError, InvalidArgumentError } from '../errors/index.js';
import { NONE, ReceiveOp, SendOp } from './channel-ops.js';
import type { ChannelCore, Receiver } from './channel-ops.js';
import { ChannelReader } from './channel-reader.js';
import type { Operable } from './types.js';
import { WaitList } from './wait-list.js';

/**
 * A queue between coroutines with backpressure: `yield* ch.send(item)` waits while `capacity` items
 * are queued, `yield* ch.receive()` waits while none is; senders and receivers are served in FIFO
 * order. Capacity 0 is a rendezvous: a send waits until a receiver takes its item.
 *
 * `close()` ends it: sends fail with ChannelClosedError (parked senders too, their items undelivered);
 * receivers drain what is queued, then `receive()` throws ChannelClosedError and `next()` returns
 * `{ done: true }`. Cancellation loses nothing: a cancelled sender's item is not delivered, an item
 * handed to a receiver that is cancelled before it runs goes to the next receiver.
 */
export class Channel<T> implements ChannelCore<T>, AsyncIterable<T> {
  readonly name: string;
  readonly capacity: number;
  private isClosed = false;
  /** @internal */ readonly receivers = new WaitList<Receiver<T>>();
  /** @internal */ readonly senders = new WaitList<SendOp<T>>();
  // the queued items: a ring of `ring.length` slots (a power of two), `count` of them from `head`
  private ring: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(capacity = 0, name = 'channel') {
    if (capacity !== Infinity && (!Number.isInteger(capacity) || capacity < 0)) {
      throw new InvalidArgumentError(
        `Channel needs a capacity that is a whole number >= 0 or Infinity, got ${String(capacity)}`,
      );
    }
    this.capacity = capacity;
    this.name = name;
    this.ring = new Array<T | undefined>(ringSize(capacity));
  }

  /** Waits for room (or, at capacity 0, for a receiver), then queues `item`. */
  send(item: T): Operable<void> {
    return new SendOp<T>(this, item) as Operable<unknown> as Operable<void>;
  }

  /** Queues `item` if that needs no wait: false when full. Throws ChannelClosedError once closed. */
  trySend(item: T): boolean {
    if (this.isClosed) throw new ChannelClosedError(this.name, 'send');
    return this.offer(item);
  }

  /** Waits for an item; throws ChannelClosedError once the channel is closed and drained. */
  receive(): Operable<T> {
    return new ReceiveOp<T>(this, false) as Operable<unknown> as Operable<T>;
  }

  /** Waits for an item: `{ done: false, value }`, or `{ done: true }` once closed and drained. */
  next(): Operable<IteratorResult<T, undefined>> {
    return new ReceiveOp<T>(this, true) as Operable<unknown> as Operable<IteratorResult<T, undefined>>;
  }

  /** Ends the channel (idempotent): see the class comment. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (let sender = this.senders.shift(); sender !== null; sender = this.senders.shift()) sender.closeWait();
    for (let receiver = this.receivers.shift(); receiver !== null; receiver = this.receivers.shift()) {
      receiver.closeWait();
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Items queued now. */
  get size(): number {
    return this.count;
  }

  get waitingSenders(): number {
    return this.senders.length;
  }

  get waitingReceivers(): number {
    return this.receivers.length;
  }

  /** Reads the channel from async code: `for await (const item of channel)`. Leaving the loop does not close it. */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return new ChannelReader<T>(this);
  }

  /** @internal */
  pull(): T | typeof NONE {
    if (this.count > 0) {
      const item = this.shiftItem();
      while (this.count < this.capacity) {
        const sender = this.senders.shift();
        if (sender === null) break;
        this.pushItem(sender.item);
        sender.taken();
      }
      return item;
    }
    const sender = this.senders.shift();
    if (sender === null) return NONE;
    const item = sender.item;
    sender.taken();
    return item;
  }

  /** @internal */
  offer(item: T): boolean {
    const receiver = this.receivers.shift();
    if (receiver !== null) {
      receiver.take(item);
      return true;
    }
    if (this.count >= this.capacity) return false;
    this.pushItem(item);
    return true;
  }

  /** @internal */
  giveBack(item: T): void {
    const receiver = this.receivers.shift();
    if (receiver !== null) {
      receiver.take(item);
      return;
    }
    // it was the oldest item: it goes first, even if that puts the queue one past its capacity
    if (this.count === this.ring.length) this.grow();
    this.head = (this.head - 1) & (this.ring.length - 1);
    this.ring[this.head] = item;
    this.count++;
  }

  private pushItem(item: T): void {
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) & (this.ring.length - 1)] = item;
    this.count++;
  }

  private shiftItem(): T {
    const item = this.ring[this.head] as T;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) & (this.ring.length - 1);
    this.count--;
    return item;
  }

  private grow(): void {
    const size = this.ring.length;
    const ring = new Array<T | undefined>(size * 2);
    for (let i = 0; i < this.count; i++) ring[i] = this.ring[(this.head + i) & (size - 1)];
    this.ring = ring;
    this.head = 0;
  }
}

/** The ring's first size: the capacity rounded up to a power of two, at most 16 (it grows as needed). */
function ringSize(capacity: number): number {
  let size = 1;
  while (size < capacity && size < 16) size *= 2;
  return size;
}
