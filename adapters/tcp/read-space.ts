/** Bytes libuv may read at once. */
export const READ_SIZE = 64 * 1024;
/**
 * A new connection's first reads: a slice of Node's shared allocation pool, not 64 KB of its own (a
 * connection that lives for one small reply, as a short Redis connection does, costs no big buffer).
 * The first read that fills it moves the connection to READ_SIZE buffers.
 */
const FIRST_READ_SIZE = 2 * 1024;
/** A small buffer is read into again while this much of it is left. */
const MIN_SMALL_SPACE = 256;
/** A read goes into what is left of the last read's buffer while at least this much is left. */
const MIN_READ_SPACE = 16 * 1024;
/** Read buffers kept for reuse, process-wide (64 KB each). */
const MAX_FREE_BUFFERS = 64;
/** Lendable buffers a connection tracks at most; past it the oldest is left to the GC (a borrower that never gives back). */
const MAX_LENDABLES = 16;
const freeBuffers: Buffer[] = [];
const counters = { reused: 0, returned: 0 };

/** Read buffers lent to a proxy and reused: how many reads went into a reused one, how many came back, how many wait. */
export function readBufferStats(): { reused: number; returned: number; free: number } {
  return { reused: counters.reused, returned: counters.returned, free: freeBuffers.length };
}

/** A connection's side of lending: what a body reader that lends its pieces talks to. */
export interface Lender {
  setLending(on: boolean): void;
  lend(piece: Buffer): void;
  giveBack(piece: Buffer): void;
  /**
   * A read is under way whose bytes leave the queue before they are lent (the reader resumes later):
   * until unhold(), no buffer returns to the free list.
   */
  hold(): void;
  unhold(): void;
}

/** A read buffer filled while lending was on: it goes back to the free list once nothing refers to it. */
interface Lendable {
  buffer: Buffer;
  /** Pieces of it handed out and not given back yet. */
  lent: number;
  /** Reads no longer land in it. */
  retired: boolean;
}

/**
 * Where a socket's next read lands: memory nobody else refers to, so queued bytes are never copied;
 * the unused rest of the previous read's buffer while enough is left, so small reads do not cost
 * 64 KB each. While lending is on (a proxy streaming a body), buffers come from a free list and return
 * to it when the pieces lent from them are given back: moving a body then allocates no new memory per
 * read (the volume of new ArrayBuffer memory is what makes V8 run full garbage collections).
 */
export class ReadSpace {
  private space: Buffer;
  private current: Lendable | null = null;
  private lending = false;
  /** Lendable buffers by their memory, while any of their bytes are lent or may still be. */
  private readonly lendables = new Map<ArrayBufferLike, Lendable>();

  /** Reads under way whose bytes may be neither queued nor lent yet (see Lender.hold). */
  private holds = 0;
  /** A buffer could have returned to the free list while held. */
  private recycleDeferred = false;

  /** Reads land in a FIRST_READ_SIZE buffer: no read has filled one yet. */
  private small = true;

  constructor() {
    this.space = Buffer.allocUnsafe(FIRST_READ_SIZE);
  }

  /** For net's onread: the buffer the next read fills. */
  readonly next = (): Buffer => this.space;

  /** The first `bytes` of the space now hold data that belongs to the socket's queue. */
  filled(bytes: number): void {
    const left = this.space.length - bytes;
    if (left >= MIN_READ_SPACE || (this.small && left >= MIN_SMALL_SPACE && !this.lending)) {
      this.space = this.space.subarray(bytes);
      return;
    }
    if (this.small && left > 0 && !this.lending) {
      this.space = Buffer.allocUnsafe(FIRST_READ_SIZE);
      return;
    }
    this.small = false;
    if (this.current !== null) this.current.retired = true;
    this.current = null;
    if (!this.lending) {
      this.space = Buffer.allocUnsafe(READ_SIZE);
      return;
    }
    let buffer = freeBuffers.pop();
    if (buffer !== undefined) counters.reused++;
    else buffer = Buffer.allocUnsafe(READ_SIZE);
    this.current = { buffer, lent: 0, retired: false };
    if (this.lendables.size >= MAX_LENDABLES) this.lendables.delete(this.lendables.keys().next().value!);
    this.lendables.set(buffer.buffer, this.current);
    this.space = buffer;
  }

  /**
   * Turns lending on (reads after the current buffer fills come from the free list) or off. Off, a
   * buffer reads still land in, or whose bytes are still queued (`stillQueued`), never returns to the
   * free list: whoever reads next may keep views of it.
   */
  setLending(on: boolean, stillQueued: (memory: ArrayBufferLike) => boolean): void {
    this.lending = on;
    if (on) return;
    this.current = null;
    for (const [memory, lendable] of this.lendables) {
      if (!lendable.retired || stillQueued(memory)) this.lendables.delete(memory);
      else if (lendable.lent === 0) {
        if (this.holds > 0) this.recycleDeferred = true;
        else this.recycle(memory, lendable);
      }
    }
  }

  hold(): void {
    this.holds++;
  }

  /** The held read's bytes are lent (or were never taken): buffers whose turn came meanwhile go back now. */
  unhold(stillQueued: (memory: ArrayBufferLike) => boolean): void {
    if (--this.holds > 0 || !this.recycleDeferred) return;
    this.recycleDeferred = false;
    for (const [memory, lendable] of this.lendables) {
      if (lendable.retired && lendable.lent === 0 && !stillQueued(memory)) this.recycle(memory, lendable);
    }
  }

  /** `piece` (a view of received bytes) is handed to a borrower who will give it back. */
  lend(piece: Buffer): void {
    const lendable = this.lendables.get(piece.buffer);
    if (lendable !== undefined) lendable.lent++;
  }

  /**
   * The borrower is done with `piece`. Its buffer returns to the free list when reads no longer land
   * in it, nothing of it is lent, and `stillQueued` says the socket's queue holds none of its bytes.
   */
  giveBack(piece: Buffer, stillQueued: (memory: ArrayBufferLike) => boolean): void {
    const lendable = this.lendables.get(piece.buffer);
    if (lendable === undefined) return;
    if (--lendable.lent > 0 || !lendable.retired || stillQueued(piece.buffer)) return;
    if (this.holds > 0) {
      this.recycleDeferred = true;
      return;
    }
    this.recycle(piece.buffer, lendable);
  }

  private recycle(memory: ArrayBufferLike, lendable: Lendable): void {
    this.lendables.delete(memory);
    counters.returned++;
    if (freeBuffers.length < MAX_FREE_BUFFERS) freeBuffers.push(lendable.buffer);
  }
}
