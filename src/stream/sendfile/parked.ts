import type { Writable } from 'node:stream';
import { defineKind } from '../../runtime/effect.js';
import type { Effect, Waiter } from '../../runtime/effect.js';

/**
 * A follower caught up with its file, parked: while it waits, each new chunk of the file is written to
 * its socket by the shared refresh itself (no wake-up, no promise, no allocation of its own), and its
 * coroutine runs again only for what it must decide: the file renamed, gone, replaced or truncated, its
 * socket full (it waits for drain), a chunk too big for one write, or `wakeAt` (its timeouts, its idle
 * touch). On waking it takes `offset` and `lastGrowth` back.
 */
export class ParkedFollower {
  /** @internal where it sits in its ParkedFollowers, -1 when not parked */
  slot = -1;
  /** @internal */
  waiter: Waiter<null> | null = null;
  /** the file offset its client was sent up to */
  offset = 0;
  /** Date.now() when it last got bytes */
  lastGrowth = 0;
  /** the refresh wakes it once Date.now() reaches this */
  wakeAt = 0;

  constructor(
    /** the client's socket, the body framed on it (chunkOnSocket) */
    readonly socket: Writable,
    /** the file its descriptor is: a FileId (device:inode, watch-hub.ts) */
    readonly id: string,
    /** the most bytes of the file written in one chunk (larger chunks: it reads them itself) */
    readonly max: number,
  ) {}
}

const PARK = defineKind<ParkedFollowers, ParkedFollower, null>({
  name: 'sendfile.park',
  start(waiter, parked, follower) {
    parked.add(follower, waiter);
  },
  abandon(_waiter, parked, follower) {
    parked.remove(follower);
  },
});

/** The followers of one name parked at the end of its window (see ParkedFollower). */
export class ParkedFollowers {
  private list: ParkedFollower[] = [];

  get size(): number {
    return this.list.length;
  }

  /** `yield* parked.park(follower)`: waits until the refresh wakes it (bytes meanwhile go to its socket). */
  park(follower: ParkedFollower): Effect<void> {
    return PARK(this, follower);
  }

  /**
   * Writes `framed` — the bytes of file `id` from `start`, `length` of them, framed as one chunk — to
   * every parked follower at `start` of that file: one socket write each, the same Buffer for all.
   * Wakes a follower whose socket is full after it (it waits for drain), or that cannot take it.
   */
  push(id: string, start: number, length: number, framed: Buffer, now: number): void {
    const list = this.list;
    // from the end: a follower removed takes the last one's slot, which was visited already
    for (let i = list.length - 1; i >= 0; i--) {
      const follower = list[i]!;
      const socket = follower.socket;
      if (follower.id !== id || follower.offset !== start || length > follower.max || !socket.writable) {
        this.wake(follower);
        continue;
      }
      follower.offset = start + length;
      follower.lastGrowth = now;
      if (!socket.write(framed)) this.wake(follower);
    }
  }

  /** Wakes every parked follower (the name's state changed: each decides for itself). */
  wakeAll(): void {
    const list = this.list;
    for (let i = list.length - 1; i >= 0; i--) this.wake(list[i]!);
  }

  /** Wakes the followers whose `wakeAt` came. */
  wakeDue(now: number): void {
    const list = this.list;
    for (let i = list.length - 1; i >= 0; i--) {
      const follower = list[i]!;
      if (now >= follower.wakeAt) this.wake(follower);
    }
  }

  /** @internal */
  add(follower: ParkedFollower, waiter: Waiter<null>): void {
    follower.waiter = waiter;
    follower.slot = this.list.length;
    this.list.push(follower);
  }

  /** @internal */
  remove(follower: ParkedFollower): void {
    const slot = follower.slot;
    if (slot < 0) return;
    const list = this.list;
    const last = list.pop()!;
    if (last !== follower) {
      list[slot] = last;
      last.slot = slot;
    }
    follower.slot = -1;
    follower.waiter = null;
  }

  private wake(follower: ParkedFollower): void {
    const waiter = follower.waiter;
    this.remove(follower);
    waiter?.settleWait(undefined, false);
  }
}
