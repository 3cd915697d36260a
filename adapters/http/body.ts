import { HttpProtocolError, SocketClosedError } from '../../src/errors.js';
import type { Operation } from '../../src/runtime/effect.js';
import type { TcpSocket } from '../tcp/socket.js';
import { CHUNKED, LENGTH, NO_BODY, addHeaderLine } from './head.js';
import type { Framing, Headers } from './head.js';

const LF = Buffer.from('\n');
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

  private *readChunked(max: number): Operation<Buffer | null> {
    const socket = this.socket;
    const pieces: Buffer[] = [];
    let total = 0;
    while (total < max) {
      if (this.needCrlf) {
        if (total > 0 && socket.buffered < 2) break;
        const crlf = yield* socket.receive(2);
        if (crlf[0] !== 13 || crlf[1] !== 10) throw new HttpProtocolError(socket.peer, 'chunk data not followed by CRLF');
        this.needCrlf = false;
      }
      if (this.chunkLeft === 0) {
        if (total > 0 && !socket.hasBuffered(LF)) break;
        const line = yield* socket.receive('*l', MAX_CHUNK_LINE);
        const sizeText = line.split(';', 1)[0]!.trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new HttpProtocolError(socket.peer, `invalid chunk size line '${line.slice(0, 40)}'`);
        const size = parseInt(sizeText, 16);
        if (size === 0) {
          yield* this.readTrailers();
          this.finish();
          break;
        }
        this.chunkLeft = size;
      }
      if (total > 0 && socket.buffered === 0) break;
      const data = yield* socket.receiveany(Math.min(max - total, this.chunkLeft));
      pieces.push(data);
      total += data.length;
      this.chunkLeft -= data.length;
      if (this.chunkLeft === 0) this.needCrlf = true;
    }
    if (total === 0) return null;
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, total);
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
