/**
 * Bytes received and not yet read, as a list of chunks. Searching coalesces the chunks into one
 * buffer and remembers how far it already looked, so a pattern that arrives late is not re-scanned
 * from the start each time.
 */
const EMPTY = Buffer.alloc(0);

/**
 * An empty array made for objects: a fresh `[]` is one of small integers until the first push, and
 * V8's optimized code for a push that saw such arrays is thrown away at the first object it meets.
 */
function emptyChunks(): Buffer[] {
  const chunks = [EMPTY];
  chunks.length = 0;
  return chunks;
}

/** The bytes a connection received and nobody read yet: a queue of buffers, searched and consumed without joining them. */
export class ByteQueue {
  private chunks: Buffer[] = emptyChunks();
  length = 0;
  /** Bytes at the head already known not to contain `scannedFor`. */
  private scanned = 0;
  private scannedFor: Buffer | null = null;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Index of `pattern` in the queued bytes, or -1. */
  indexOf(pattern: Buffer): number {
    if (this.length < pattern.length) return -1;
    const all = this.coalesce();
    if (this.scannedFor !== pattern) {
      this.scannedFor = pattern;
      this.scanned = 0;
    }
    const from = Math.max(0, this.scanned - pattern.length + 1);
    const index = all.indexOf(pattern, from);
    this.scanned = index === -1 ? all.length : index;
    return index;
  }

  /**
   * The oldest queued piece, without consuming it. The queue holds the only reference to these bytes
   * (reads land in memory nobody else holds: see ReadSpace), so a parser may rewrite the bytes it then
   * consumes.
   */
  first(): Buffer {
    return this.length === 0 ? EMPTY : this.chunks[0]!;
  }

  /** Makes the first two queued pieces one (for a parser whose token was cut between them). */
  joinFirstTwo(): void {
    if (this.chunks.length < 2) return;
    const [first, second] = this.chunks as [Buffer, Buffer];
    this.chunks.splice(0, 2, Buffer.concat([first, second], first.length + second.length));
  }

  /** Whether any queued bytes live in `memory`. */
  holds(memory: ArrayBufferLike): boolean {
    for (const chunk of this.chunks) if (chunk.buffer === memory) return true;
    return false;
  }

  /** Removes and returns the first `n` bytes (n <= length). */
  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.scanned = Math.max(0, this.scanned - n);
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      this.length -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.length -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const want = n - filled;
      if (chunk.length <= want) {
        chunk.copy(out, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, filled, 0, want);
        this.chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    this.length -= n;
    return out;
  }

  /** Drops the first `n` bytes. */
  skip(n: number): void {
    this.take(n);
  }

  takeAll(): Buffer {
    return this.take(this.length);
  }

  private coalesce(): Buffer {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const all = Buffer.concat(this.chunks, this.length);
    this.chunks = [all];
    return all;
  }
}
