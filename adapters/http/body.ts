// Over 300 lines: BodyReader de-chunks (or checks and passes on) chunk framing in place; its framing states and buffer reuse belong together.
import { HttpProtocolError, SocketClosedError } from '../../src/errors/index.js';
import type { Operable, Operation } from '../../src/runtime/effect.js';
import type { Lender, TcpSocket } from '../tcp/index.js';
import { CHUNKED, LENGTH, NO_BODY } from './framing.js';
import type { Framing } from './framing.js';
import { addHeaderLine } from './head.js';
import type { Headers } from './head.js';

const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

/** The wait of a body that has ended: none. */
function* nothingMore(): Operation<unknown> {
  return null;
}

/**
 * Reads a response body in pieces: each `read()` returns whatever has arrived, up to `max` bytes,
 * however the upstream cut it (a chunked body of 100,000 tiny chunks comes out in few large pieces),
 * and null at the end.
 */
export class BodyReader {
  /** Trailer fields of a chunked body, once read. */
  readonly trailers: Headers = {};
  private remaining: number;
  private chunkLeft = 0;
  private needCrlf = false;
  private finished: boolean;
  private received = 0;
  /** The 0-size last chunk is at the head of the buffer. */
  private lastChunkAhead = false;
  /** Bytes of the last dechunk()'s buffer that it consumed (framing and data). */
  private scanned = 0;
  /** Where the last chunk size line parsed by chunkSize() ends (past its LF). */
  private lineEnd = 0;
  /** Set by lendPieces(): pieces are lent and come back through giveBack(). */
  private lender: Lender | null = null;
  /** Set by passFraming(): pieces of a chunked body keep their (checked) chunk framing. */
  private framed = false;
  /** Framed: the CRLF ending the chunk data read before passFraming() is checked, not passed on. */
  private dropCrlf = false;
  /** Framed: a size line the next piece starts with (made by passFraming(), or rewritten: see frame()). */
  private lineAhead: Buffer | null = null;
  /** Where the hex digits of the last line parsed by chunkSize() end. */
  private digitsEnd = 0;
  /** The size of the last chunk whose line dechunk() read (0: none yet). */
  private lastChunk = 0;
  /** A body until close: the bytes that came with the close, not read yet. */
  private tail: Buffer | null = null;

  constructor(
    private readonly socket: TcpSocket,
    private readonly framing: Framing,
    private readonly defaultMax: number,
  ) {
    this.remaining = framing.length;
    this.finished = framing.kind === NO_BODY || (framing.kind === LENGTH && framing.length === 0);
  }

  get defaultReadSize(): number {
    return this.defaultMax;
  }

  get done(): boolean {
    return this.finished;
  }

  /** The rest of a body with a Content-Length has already arrived: reading it will not wait. */
  get allReceived(): boolean {
    return this.finished || (this.framing.kind === LENGTH && this.socket.buffered >= this.remaining);
  }

  /** Body bytes read so far. */
  get bytesRead(): number {
    return this.received;
  }

  *read(max = this.defaultMax): Operation<Buffer | null> {
    const parts: Buffer[] = [];
    const total = yield* this.readParts(max, parts);
    if (total === 0) return null;
    if (parts.length === 1) return parts[0]!;
    const joined = Buffer.concat(parts, total);
    for (const part of parts) this.giveBack(part);
    return joined;
  }

  /**
   * Like read(), without joining: appends to `parts` what has arrived, as it lies in the received
   * bytes (one piece per read buffer it spans), up to `max` bytes in all; returns their size, 0 at the end.
   * After passFraming(), the pieces of a chunked body are chunks with their framing (see there).
   */
  *readParts(max: number, parts: Buffer[]): Operation<number> {
    for (;;) {
      const total = this.readNow(max, parts);
      if (total > 0 || this.finished) return total;
      yield* this.more();
    }
  }

  /**
   * Like readParts() without waiting: what has arrived, up to `max` bytes (a chunked body: its complete
   * frames), appended to `parts`, lent after lendPieces(); 0 when nothing has yet (wait with more()) or
   * at the end (done). A streaming loop of readNow() and more() resumes one generator per read, not a stack of them.
   */
  readNow(max: number, parts: Buffer[]): number {
    if (this.finished) return 0;
    const first = parts.length;
    const total = this.framing.kind === CHUNKED ? this.parseBuffered(max, parts) : this.takeBuffered(max, parts);
    if (this.lender !== null) for (let i = first; i < parts.length; i++) this.lender.lend(parts[i]!);
    return total;
  }

  /**
   * Waits until readNow() has more to give, or the body has ended (then done): for readNow() returning 0.
   * A connection that ends before a body with a Content-Length or a chunked body does throws.
   */
  more(): Operable<unknown> {
    if (this.finished) return nothingMore();
    if (this.lastChunkAhead) return this.readLastChunk();
    if (this.framing.kind !== CHUNKED && this.framing.kind !== LENGTH) return this.moreUntilClose();
    return this.socket.waitMore(this.socket.buffered);
  }

  /** Bytes of a body with a Content-Length (or one until close) as they lie in the queue, up to `max`. */
  private takeBuffered(max: number, parts: Buffer[]): number {
    const socket = this.socket;
    const length = this.framing.kind === LENGTH;
    let total = 0;
    for (;;) {
      const tail = this.tail;
      if (tail !== null) {
        this.tail = null;
        parts.push(tail);
        total += tail.length;
        this.finish();
        break;
      }
      let take = max - total;
      if (length && take > this.remaining) take = this.remaining;
      if (take === 0 || socket.buffered === 0) break;
      const buf = socket.peekFirst();
      if (take > buf.length) take = buf.length;
      parts.push(take === buf.length ? buf : buf.subarray(0, take));
      socket.consume(take);
      total += take;
      if (length) {
        this.remaining -= take;
        if (this.remaining === 0) {
          this.finish();
          break;
        }
      }
    }
    this.received += total;
    return total;
  }

  /** A body that ends with the connection: the close is its end (with whatever came with it). */
  private *moreUntilClose(): Operation<void> {
    try {
      yield* this.socket.waitMore(this.socket.buffered);
    } catch (err) {
      if (!(err instanceof SocketClosedError)) throw err;
      if (err.partial !== undefined && err.partial.length > 0) this.tail = err.partial;
      else this.finish();
    }
  }

  /**
   * What of a chunked body has already arrived, de-chunked into `parts` without waiting (other bodies:
   * nothing); returns its size. A framing fault in those bytes throws now, e.g. before a proxy sends the head.
   */
  readArrived(max: number, parts: Buffer[]): number {
    if (this.finished || this.framing.kind !== CHUNKED) return 0;
    const first = parts.length;
    const total = this.parseBuffered(max, parts);
    if (this.lender !== null) for (let i = first; i < parts.length; i++) this.lender.lend(parts[i]!);
    return total;
  }

  /**
   * From now on read() and readParts() lend their pieces (views of the received bytes): give each back
   * with giveBack() once nothing refers to it any more, e.g. when the write that sent it completed, and
   * its memory serves later reads instead of new memory per read. A piece not given back is left to the
   * GC. (A piece read() had to join from several is a copy: giving it back does nothing.)
   */
  lendPieces(): void {
    if (this.finished || this.lender !== null) return;
    this.lender = this.socket.lender();
    this.lender.setLending(true);
  }

  /**
   * From now on the pieces of a chunked body are its chunks as they came, framing included, for a proxy
   * whose client gets the body chunked: every size line and CRLF is still checked before it is passed
   * on, a size line with an extension (or another form than `HEX CRLF`) is passed on rewritten as
   * `HEX CRLF`, and the last chunk and trailers are not passed on (the writer ends the body). The
   * pieces join on to a body whose earlier pieces went out as whole chunks. Only for a body whose
   * last chunk read so far had `minChunk` bytes or more (small chunks are better joined: fewer for the
   * client to parse); false, and nothing changes, for any other body.
   */
  passFraming(minChunk: number): boolean {
    if (this.framed) return true;
    if (this.finished || this.framing.kind !== CHUNKED || this.lastChunk < minChunk) return false;
    this.framed = true;
    // the client's side stands between two chunks; the upstream's may be inside one, or before its CRLF
    if (this.chunkLeft > 0) this.lineAhead = Buffer.from(`${this.chunkLeft.toString(16)}\r\n`, 'latin1');
    else if (this.needCrlf) this.dropCrlf = true;
    return true;
  }

  /** The borrower of a piece from read() is done with it (after lendPieces()). */
  readonly giveBack = (piece: Buffer): void => {
    if (this.lender !== null) this.lender.giveBack(piece);
  };

  /**
   * Exactly one transfer chunk of a chunked body, however small (lua-resty-http's body_reader on a
   * chunked response); for other bodies, whatever one read brings. Null at the end.
   */
  *readChunk(): Operation<Buffer | null> {
    if (this.finished) return null;
    if (this.framing.kind !== CHUNKED) return yield* this.read();
    const socket = this.socket;
    if (this.needCrlf) {
      const crlf = yield* socket.receive(2);
      if (crlf[0] !== 13 || crlf[1] !== 10) throw new HttpProtocolError(socket.peer, 'chunk data not followed by CRLF');
      this.needCrlf = false;
    }
    if (this.chunkLeft === 0) {
      const line = yield* socket.receiveByteLine(MAX_CHUNK_LINE);
      const sizeText = line.split(';', 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText))
        throw new HttpProtocolError(socket.peer, `invalid chunk size line '${line.slice(0, 40)}'`);
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        yield* this.readTrailers();
        this.finish();
        return null;
      }
      this.chunkLeft = size;
    }
    const data = yield* socket.receive(this.chunkLeft);
    this.chunkLeft = 0;
    this.needCrlf = true;
    this.received += data.length;
    return data;
  }

  /**
   * De-chunks (or frames: see passFraming) the complete frames buffered on the socket without waiting,
   * in place: each chunk's data is moved down over the framing before it (framed: only over what a
   * rewritten size line left), so each received buffer yields one view of its output.
   */
  private parseBuffered(max: number, parts: Buffer[]): number {
    const socket = this.socket;
    let total = 0;
    while (total < max && !this.lastChunkAhead) {
      const line = this.lineAhead;
      if (line !== null) {
        this.lineAhead = null;
        parts.push(line);
        total += line.length;
        continue;
      }
      if (socket.buffered === 0) break;
      const buf = socket.peekFirst();
      const length = this.framed ? this.frame(buf, max - total) : this.dechunk(buf, max - total);
      const scanned = this.scanned;
      socket.consume(scanned);
      if (length > 0) {
        parts.push(buf.subarray(0, length));
        total += length;
      } else if (scanned < buf.length && this.lineAhead === null) {
        // a frame line cut between two reads: join it with the next read, if one is queued
        if (socket.buffered === buf.length - scanned) break;
        socket.joinFirstTwo();
      }
    }
    return total;
  }

  /** Moves the data of the complete frames in `buf` to its start; returns the data length (<= max). */
  private dechunk(buf: Buffer, max: number): number {
    const end = buf.length;
    let pos = 0;
    let out = 0;
    while (out < max) {
      if (this.needCrlf) {
        if (end - pos < 2) break;
        if (buf[pos] !== 13 || buf[pos + 1] !== 10)
          throw new HttpProtocolError(this.socket.peer, 'chunk data not followed by CRLF');
        pos += 2;
        this.needCrlf = false;
      }
      if (this.chunkLeft === 0) {
        const size = this.chunkSize(buf, pos);
        this.lastChunkAhead = size === 0; // its line and trailers are read by readLastChunk
        if (size <= 0) break; // -1: the line is not complete yet
        pos = this.lineEnd;
        this.chunkLeft = size;
        this.lastChunk = size;
      }
      const take = Math.min(end - pos, this.chunkLeft, max - out);
      if (take === 0) break;
      if (out !== pos) buf.copyWithin(out, pos, pos + take);
      out += take;
      pos += take;
      this.chunkLeft -= take;
      if (this.chunkLeft === 0) this.needCrlf = true;
    }
    this.scanned = pos;
    this.received += out;
    return out;
  }

  /**
   * Like dechunk(), keeping the framing: moves the complete frames in `buf`, checked, to its start;
   * returns their length (<= max, but a size line always goes whole). A size line in another form
   * than `HEX CRLF` is rewritten so in place, or, when that would not fit (a bare LF line with nothing
   * to move down over), left in lineAhead to go out as its own piece after this one.
   */
  private frame(buf: Buffer, max: number): number {
    const end = buf.length;
    let pos = 0;
    let out = 0;
    let data = 0;
    while (out < max) {
      if (this.needCrlf) {
        if (end - pos < 2) break;
        if (buf[pos] !== 13 || buf[pos + 1] !== 10)
          throw new HttpProtocolError(this.socket.peer, 'chunk data not followed by CRLF');
        if (this.dropCrlf) this.dropCrlf = false;
        else {
          if (out !== pos) {
            buf[out] = 13;
            buf[out + 1] = 10;
          }
          out += 2;
        }
        pos += 2;
        this.needCrlf = false;
      }
      if (this.chunkLeft === 0) {
        const size = this.chunkSize(buf, pos);
        this.lastChunkAhead = size === 0; // not passed on: the writer ends the body
        if (size <= 0) break;
        const digits = this.digitsEnd - pos;
        const lineEnd = this.lineEnd;
        if (lineEnd - pos === digits + 2 && buf[this.digitsEnd] === 13) {
          if (out !== pos) buf.copyWithin(out, pos, lineEnd);
          out += digits + 2;
        } else if (lineEnd - out >= digits + 2) {
          buf.copyWithin(out, pos, pos + digits); // the size without its extension or whitespace
          buf[out + digits] = 13;
          buf[out + digits + 1] = 10;
          out += digits + 2;
        } else {
          this.chunkLeft = size;
          this.lineAhead = Buffer.from(`${buf.toString('latin1', pos, pos + digits)}\r\n`, 'latin1');
          pos = lineEnd;
          break;
        }
        pos = lineEnd;
        this.chunkLeft = size;
      }
      const take = Math.min(end - pos, this.chunkLeft, max - out);
      if (take <= 0) break;
      if (out !== pos) buf.copyWithin(out, pos, pos + take);
      out += take;
      pos += take;
      data += take;
      this.chunkLeft -= take;
      if (this.chunkLeft === 0) this.needCrlf = true;
    }
    this.scanned = pos;
    this.received += data;
    return out;
  }

  /** The size on the chunk line at `pos` (its end in lineEnd), or -1 if the line is not complete yet. */
  private chunkSize(buf: Buffer, pos: number): number {
    const end = buf.length;
    let size = 0;
    let digits = 0;
    let i = pos;
    for (; i < end; i++) {
      const c = buf[i]!;
      const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (v < 0) break;
      size = size * 16 + v;
      if (++digits > 12) break;
    }
    // no call or property on the rare paths (a line cut between two reads, an extension): code V8
    // optimized before it met one would be thrown away when it does
    if (i === end) {
      if (end - pos > MAX_CHUNK_LINE) throw new HttpProtocolError(this.socket.peer, 'chunk size line too long');
      return -1;
    }
    this.digitsEnd = i;
    const rest = buf[i];
    if (digits === 0 || digits > 12 || (rest !== 59 && rest !== 13 && rest !== 10 && rest !== 32 && rest !== 9)) {
      const lf = buf.indexOf(10, pos);
      throw new HttpProtocolError(
        this.socket.peer,
        `invalid chunk size line '${buf.toString('latin1', pos, Math.min(lf < 0 ? end : lf, pos + 40))}'`,
      );
    }
    // the line ends at its LF: next after a CR, or past an extension or whitespace
    let lf = i;
    while (lf < end && buf[lf] !== 10) lf++;
    if (lf - pos > MAX_CHUNK_LINE) throw new HttpProtocolError(this.socket.peer, 'chunk size line too long');
    if (lf === end) return -1;
    this.lineEnd = lf + 1;
    return size;
  }

  /** The 0-size chunk's line and the trailer section after it. */
  private *readLastChunk(): Operation<void> {
    yield* this.socket.receiveByteLine(MAX_CHUNK_LINE);
    this.lastChunkAhead = false;
    yield* this.readTrailers();
    this.finish();
  }

  private *readTrailers(): Operation<void> {
    let size = 0;
    const raw: Array<[string, string]> = [];
    for (;;) {
      const line = yield* this.socket.receiveByteLine(MAX_TRAILERS);
      if (line === '') return;
      size += line.length;
      if (size > MAX_TRAILERS)
        throw new HttpProtocolError(this.socket.peer, `trailers larger than ${MAX_TRAILERS} bytes`);
      addHeaderLine(this.socket.peer, line, this.trailers, raw);
    }
  }

  private finish(): void {
    this.finished = true;
    if (this.lender !== null) this.lender.setLending(false);
  }
}
