import { HttpProtocolError, SocketClosedError } from '../../src/errors.js';
import type { Operation } from '../../src/runtime/effect.js';
import type { TcpSocket } from '../tcp/socket.js';
import { CHUNKED, LENGTH, NO_BODY, addHeaderLine } from './head.js';
import type { Framing, Headers } from './head.js';

const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

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

  /** Body bytes read so far. */
  get bytesRead(): number {
    return this.received;
  }

  *read(max = this.defaultMax): Operation<Buffer | null> {
    if (this.finished) return null;
    let piece: Buffer | null;
    if (this.framing.kind === LENGTH) piece = yield* this.readLength(max);
    else if (this.framing.kind === CHUNKED) piece = yield* this.readChunked(max);
    else piece = yield* this.readUntilClose(max);
    if (piece !== null) this.received += piece.length;
    return piece;
  }

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
      const line = yield* socket.receive('*l', MAX_CHUNK_LINE);
      const sizeText = line.split(';', 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new HttpProtocolError(socket.peer, `invalid chunk size line '${line.slice(0, 40)}'`);
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

  private *readLength(max: number): Operation<Buffer | null> {
    const data = yield* this.socket.receiveany(Math.min(max, this.remaining));
    this.remaining -= data.length;
    if (this.remaining === 0) this.finish();
    return data;
  }

  private *readUntilClose(max: number): Operation<Buffer | null> {
    try {
      return yield* this.socket.receiveany(max);
    } catch (err) {
      if (err instanceof SocketClosedError) {
        this.finish();
        return err.partial ?? null;
      }
      throw err;
    }
  }

  /**
   * Whatever has arrived, up to `max` bytes, de-chunked. Every complete chunk already buffered is parsed
   * in one synchronous pass (a body of 100,000 tiny chunks costs one copy, not 100,000 reads); only when
   * nothing complete is buffered does it fall back to a waiting read of the next frame piece.
   */
  private *readChunked(max: number): Operation<Buffer | null> {
    const pieces: Buffer[] = [];
    let total = 0;
    for (;;) {
      total += this.parseBuffered(max - total, pieces);
      if (total > 0 || this.finished) break;
      if (this.lastChunkAhead) {
        yield* this.readLastChunk();
        break;
      }
      // nothing complete is buffered: wait for more bytes, then parse again
      yield* this.socket.waitMore(this.socket.buffered);
    }
    if (total === 0) return null;
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, total);
  }

  /** Parses complete frames from the socket's buffer without waiting; returns the data bytes taken. */
  private parseBuffered(max: number, pieces: Buffer[]): number {
    const socket = this.socket;
    if (socket.buffered === 0) return 0;
    const buf = socket.peekBuffered();
    let pos = 0;
    let taken = 0;
    while (taken < max) {
      if (this.needCrlf) {
        if (buf.length - pos < 2) break;
        if (buf[pos] !== 13 || buf[pos + 1] !== 10) throw new HttpProtocolError(socket.peer, 'chunk data not followed by CRLF');
        pos += 2;
        this.needCrlf = false;
      }
      if (this.chunkLeft === 0) {
        const lf = buf.indexOf(10, pos);
        if (lf < 0) {
          if (buf.length - pos > MAX_CHUNK_LINE) throw new HttpProtocolError(socket.peer, 'chunk size line too long');
          break;
        }
        let size = 0;
        let digits = 0;
        let i = pos;
        for (; i < lf; i++) {
          const c = buf[i]!;
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v < 0) break;
          size = size * 16 + v;
          if (++digits > 12) break;
        }
        const rest = buf[i];
        if (digits === 0 || digits > 12 || (i < lf && rest !== 59 && rest !== 13 && rest !== 32 && rest !== 9)) {
          throw new HttpProtocolError(socket.peer, `invalid chunk size line '${buf.toString('latin1', pos, Math.min(lf, pos + 40))}'`);
        }
        if (size === 0) {
          this.lastChunkAhead = true; // its line and trailers are read by readLastChunk
          break;
        }
        pos = lf + 1;
        this.chunkLeft = size;
      }
      const take = Math.min(this.chunkLeft, buf.length - pos, max - taken);
      if (take === 0) break;
      pieces.push(buf.subarray(pos, pos + take));
      pos += take;
      taken += take;
      this.chunkLeft -= take;
      if (this.chunkLeft === 0) this.needCrlf = true;
    }
    socket.consume(pos);
    return taken;
  }

  /** The 0-size chunk's line and the trailer section after it. */
  private *readLastChunk(): Operation<void> {
    yield* this.socket.receive('*l', MAX_CHUNK_LINE);
    this.lastChunkAhead = false;
    yield* this.readTrailers();
    this.finish();
  }

  private *readTrailers(): Operation<void> {
    let size = 0;
    const raw: Array<[string, string]> = [];
    for (;;) {
      const line = yield* this.socket.receive('*l', MAX_TRAILERS);
      if (line === '') return;
      size += line.length;
      if (size > MAX_TRAILERS) throw new HttpProtocolError(this.socket.peer, `trailers larger than ${MAX_TRAILERS} bytes`);
      addHeaderLine(this.socket.peer, line, this.trailers, raw);
    }
  }

  private finish(): void {
    this.finished = true;
  }
}
