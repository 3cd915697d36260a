import { BodyFramingError } from '../../errors/index.js';
import { COLON, CR, FIELD_VALUE, HEX, HTAB, LF, SP, TOKEN } from './chars.js';

/** A chunk size line (size and extensions) longer than this is refused. */
const MAX_CHUNK_LINE = 4096;
/** Trailer section bytes refused past this. */
const MAX_TRAILERS = 16 * 1024;

const DONE = 0;
const LENGTH = 1;
const SIZE = 2;
const DATA = 3;
const DATA_END = 4;
const TRAILERS = 5;

/**
 * Takes a request body off a connection's bytes: a Content-Length's worth, or a chunked body checked
 * strictly (hex size lines, extensions of field-value bytes, CRLF after each chunk's data, trailer
 * lines as field lines, all within bounds). Data comes out as views of the received bytes.
 */
export class BodyDecoder {
  private state = DONE;
  /** LENGTH: bytes left of the body; DATA: bytes left of the chunk. */
  private left = 0;
  private trailerBytes = 0;

  get done(): boolean {
    return this.state === DONE;
  }

  /** A new request's body: `length` bytes (-1: none announced), or chunked. */
  start(length: number, chunked: boolean): void {
    this.trailerBytes = 0;
    if (chunked) this.state = SIZE;
    else if (length > 0) {
      this.state = LENGTH;
      this.left = length;
    } else this.state = DONE;
  }

  /**
   * Decodes from buf[pos, buf.length): appends body data to `out` (or drops it, when null) and returns
   * the position past what was taken. Throws BodyFramingError on a framing fault.
   */
  decode(buf: Buffer, pos: number, out: Buffer[] | null): number {
    const end = buf.length;
    while (pos < end) {
      switch (this.state) {
        case DONE:
          return pos;
        case LENGTH:
        case DATA: {
          const take = Math.min(this.left, end - pos);
          if (out !== null) out.push(buf.subarray(pos, pos + take));
          pos += take;
          this.left -= take;
          if (this.left === 0) this.state = this.state === LENGTH ? DONE : DATA_END;
          break;
        }
        case DATA_END:
          if (buf[pos] !== CR) throw new BodyFramingError('chunk data not followed by CRLF');
          if (pos + 1 >= end) return pos;
          if (buf[pos + 1] !== LF) throw new BodyFramingError('chunk data not followed by CRLF');
          pos += 2;
          this.state = SIZE;
          break;
        case SIZE: {
          const next = this.sizeLine(buf, pos, end);
          if (next < 0) return pos;
          pos = next;
          break;
        }
        case TRAILERS: {
          const next = this.trailerLine(buf, pos, end);
          if (next < 0) return pos;
          this.trailerBytes += next - pos;
          if (this.trailerBytes > MAX_TRAILERS)
            throw new BodyFramingError(`trailers larger than ${MAX_TRAILERS} bytes`);
          pos = next;
          break;
        }
      }
    }
    return pos;
  }

  /** A chunk size line: the position past it, or -1 while it is incomplete. */
  private sizeLine(buf: Buffer, pos: number, end: number): number {
    let i = pos;
    let size = 0;
    while (i < end) {
      const digit = HEX[buf[i]!]!;
      if (digit === 255) break;
      size = size * 16 + digit;
      if (size > Number.MAX_SAFE_INTEGER) throw new BodyFramingError('a chunk size too large');
      i++;
    }
    if (i === end) return this.incomplete(pos, end);
    if (i === pos) throw new BodyFramingError('a chunk size that is not hex');
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    if (i < end && buf[i] === 0x3b) {
      // chunk extensions: dropped, but every byte must be one a field value may hold
      while (i < end && FIELD_VALUE[buf[i]!] === 1) i++;
    }
    if (i === end) return this.incomplete(pos, end);
    if (buf[i] !== CR) throw new BodyFramingError('a malformed chunk size line');
    if (i + 1 >= end) return this.incomplete(pos, end);
    if (buf[i + 1] !== LF) throw new BodyFramingError('a chunk size line without CRLF');
    if (i + 2 - pos > MAX_CHUNK_LINE)
      throw new BodyFramingError(`a chunk size line longer than ${MAX_CHUNK_LINE} bytes`);
    if (size === 0) this.state = TRAILERS;
    else {
      this.state = DATA;
      this.left = size;
    }
    return i + 2;
  }

  private incomplete(pos: number, end: number): number {
    if (end - pos > MAX_CHUNK_LINE) throw new BodyFramingError(`a chunk size line longer than ${MAX_CHUNK_LINE} bytes`);
    return -1;
  }

  /** A trailer field line, or the empty line that ends the body: the position past it, or -1. */
  private trailerLine(buf: Buffer, pos: number, end: number): number {
    if (buf[pos] === CR) {
      if (pos + 1 >= end) return -1;
      if (buf[pos + 1] !== LF) throw new BodyFramingError('a bare CR after the last chunk');
      this.state = DONE;
      return pos + 2;
    }
    let i = pos;
    while (i < end && TOKEN[buf[i]!] === 1) i++;
    if (i === end) return this.trailerIncomplete(pos, end);
    if (i === pos || buf[i] !== COLON) throw new BodyFramingError('a malformed trailer field');
    i++;
    while (i < end && FIELD_VALUE[buf[i]!] === 1) i++;
    if (i === end) return this.trailerIncomplete(pos, end);
    if (buf[i] !== CR) throw new BodyFramingError('a control character in a trailer field');
    if (i + 1 >= end) return this.trailerIncomplete(pos, end);
    if (buf[i + 1] !== LF) throw new BodyFramingError('a trailer line without CRLF');
    return i + 2;
  }

  private trailerIncomplete(pos: number, end: number): number {
    if (this.trailerBytes + (end - pos) > MAX_TRAILERS)
      throw new BodyFramingError(`trailers larger than ${MAX_TRAILERS} bytes`);
    return -1;
  }
}
