import { RedisProtocolError, RedisReplyError } from '../../src/errors/index.js';
import { NEED_MORE } from '../tcp/index.js';
import type { ByteQueue } from '../tcp/index.js';

/** A RESP3 push (`>`): out-of-band data such as pub/sub messages, never the reply to a command. */
export class PushReply {
  constructor(readonly items: unknown[]) {}
}

/** Longest line (simple string, error, length header) a reply may have before it is called broken. */
export const MAX_LINE = 512 * 1024;
/** Deepest nesting of aggregates a reply may have (Redis itself sends a few levels). */
const MAX_DEPTH = 64;
/** Redis's own proto-max-bulk-len default: nothing larger can be stored, so nothing larger is read by default. */
export const DEFAULT_MAX_BULK = 512 * 1024 * 1024;

const CR = 13;
const LF = 10;
const ARRAY = 42; // *
const MAP = 37; // %
const SET = 126; // ~
const PUSH = 62; // >
const ATTRIBUTE = 124; // |
const BULK = 36; // $
const VERBATIM = 61; // =
const BLOB_ERROR = 33; // !
const SIMPLE = 43; // +
const ERROR = 45; // -
const INTEGER = 58; // :
const NULL = 95; // _
const BOOLEAN = 35; // #
const DOUBLE = 44; // ,
const BIG_NUMBER = 40; // (

/** An aggregate being filled: its type, the elements so far, how many are still to come. */
interface Frame {
  type: number;
  items: unknown[];
  remaining: number;
}

/** An attribute (`|`) was read: it annotates the value after it and is dropped. */
const DROPPED: unique symbol = Symbol('dropped attribute');

function setField(target: Record<string, unknown>, key: unknown, value: unknown): void {
  const name = typeof key === 'string' ? key : String(key);
  // a hash field named __proto__ is data, not a prototype
  if (name === '__proto__')
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  else target[name] = value;
}

function finish(frame: Frame): unknown {
  switch (frame.type) {
    case MAP: {
      const map: Record<string, unknown> = {};
      const items = frame.items;
      for (let i = 0; i < items.length; i += 2) setField(map, items[i], items[i + 1]);
      return map;
    }
    case PUSH:
      return new PushReply(frame.items);
    case ATTRIBUTE:
      return DROPPED;
    default:
      return frame.items;
  }
}

/**
 * Reads RESP2 and RESP3 replies from a cosocket's byte queue, resumably: bytes may arrive cut anywhere,
 * and what was understood is consumed at once (a big array does not wait whole in the queue). Bulk
 * strings become UTF-8 strings, integers numbers, maps plain objects, sets arrays, nulls null, error
 * replies RedisReplyError values (returned, not thrown: a pipeline gets one per failed command).
 * A reply that breaks RESP, or announces a bulk longer than `maxBulk`, throws RedisProtocolError.
 */
export class RespReader {
  private readonly stack: Frame[] = [];
  /** Length of a bulk whose header was read and whose bytes were not, else -1. */
  private bulkLength = -1;
  private bulkType = BULK;

  constructor(
    private readonly peer: string,
    private readonly maxBulk = DEFAULT_MAX_BULK,
  ) {}

  /** True while a reply is partly read. */
  get midReply(): boolean {
    return this.stack.length > 0 || this.bulkLength >= 0;
  }

  /** The next whole reply, or NEED_MORE. */
  read(queue: ByteQueue): unknown {
    let buf = queue.first();
    let pos = 0;
    for (;;) {
      let value: unknown;
      if (this.bulkLength >= 0) {
        const n = this.bulkLength;
        if (buf.length - pos >= n + 2) {
          if (buf[pos + n] !== CR || buf[pos + n + 1] !== LF)
            throw this.broken('a bulk string is not followed by CRLF');
          value = this.bulkValue(buf, pos, pos + n);
          pos += n + 2;
        } else {
          if (pos > 0) queue.skip(pos);
          pos = 0;
          if (queue.length < n + 2) return NEED_MORE;
          const bytes = queue.take(n);
          const end = queue.take(2);
          if (end[0] !== CR || end[1] !== LF) throw this.broken('a bulk string is not followed by CRLF');
          value = this.bulkValue(bytes, 0, n);
          buf = queue.first();
        }
        this.bulkLength = -1;
      } else {
        const cr = buf.indexOf(CR, pos);
        if (cr < 0 || cr + 1 >= buf.length) {
          if (pos > 0) queue.skip(pos);
          pos = 0;
          if (queue.first().length < queue.length) {
            queue.joinFirstTwo();
            buf = queue.first();
            continue;
          }
          if (queue.length > MAX_LINE) throw this.broken(`a reply line is longer than ${MAX_LINE} bytes`);
          return NEED_MORE;
        }
        if (buf[cr + 1] !== LF) throw this.broken('a reply line ends in CR without LF');
        const type = buf[pos]!;
        const from = pos + 1;
        pos = cr + 2;
        switch (type) {
          case BULK:
          case VERBATIM:
          case BLOB_ERROR: {
            const n = this.integer(buf, from, cr);
            if (n === -1 && type === BULK) {
              value = null;
              break;
            }
            if (n < 0) throw this.broken(`bulk length ${n}`);
            if (n > this.maxBulk)
              throw this.broken(`a bulk reply of ${n} bytes is larger than maxBulk (${this.maxBulk} bytes)`);
            this.bulkLength = n;
            this.bulkType = type;
            continue;
          }
          case SIMPLE:
            value = buf.toString('utf8', from, cr);
            break;
          case ERROR:
            value = new RedisReplyError(buf.toString('utf8', from, cr));
            break;
          case INTEGER:
            value = this.integer(buf, from, cr);
            break;
          case ARRAY:
          case MAP:
          case SET:
          case PUSH:
          case ATTRIBUTE: {
            const n = this.integer(buf, from, cr);
            if (n === -1 && type === ARRAY) {
              value = null;
              break;
            }
            if (n < 0) throw this.broken(`aggregate length ${n}`);
            if (n === 0) {
              value = finish({ type, items: [], remaining: 0 });
              break;
            }
            if (this.stack.length >= MAX_DEPTH) throw this.broken(`replies nested deeper than ${MAX_DEPTH}`);
            this.stack.push({ type, items: [], remaining: type === MAP || type === ATTRIBUTE ? n * 2 : n });
            continue;
          }
          case NULL:
            value = null;
            break;
          case BOOLEAN:
            if (cr - from !== 1 || (buf[from] !== 116 && buf[from] !== 102))
              throw this.broken('a boolean is neither #t nor #f');
            value = buf[from] === 116;
            break;
          case DOUBLE:
            value = this.double(buf.toString('latin1', from, cr));
            break;
          case BIG_NUMBER:
            if (!/^-?\d+$/.test(buf.toString('latin1', from, cr))) throw this.broken('a big number has non-digits');
            value = buf.toString('latin1', from, cr);
            break;
          default:
            throw this.broken(`unexpected byte 0x${type.toString(16).padStart(2, '0')} where a reply starts`);
        }
      }
      // fold the value into the aggregates it completes
      for (;;) {
        const top = this.stack[this.stack.length - 1];
        if (top === undefined) {
          if (value === DROPPED) break;
          if (pos > 0) queue.skip(pos);
          return value;
        }
        if (value === DROPPED) break;
        top.items.push(value);
        if (--top.remaining > 0) break;
        this.stack.pop();
        value = finish(top);
      }
    }
  }

  private bulkValue(buf: Buffer, from: number, to: number): unknown {
    switch (this.bulkType) {
      case BLOB_ERROR:
        return new RedisReplyError(buf.toString('utf8', from, to));
      case VERBATIM:
        // "txt:" or "mkd:" then the text
        if (to - from < 4 || buf[from + 3] !== 58) throw this.broken('a verbatim string has no format prefix');
        return buf.toString('utf8', from + 4, to);
      default:
        return buf.toString('utf8', from, to);
    }
  }

  private integer(buf: Buffer, from: number, to: number): number {
    let i = from;
    const negative = buf[i] === 45;
    if (negative) i++;
    if (i === to || to - i > 20)
      throw this.broken(`'${buf.toString('latin1', from, Math.min(to, from + 32))}' is not an integer`);
    if (to - i > 15) {
      const text = buf.toString('latin1', from, to);
      if (!/^-?\d+$/.test(text)) throw this.broken(`'${text}' is not an integer`);
      return Number(text);
    }
    let n = 0;
    for (; i < to; i++) {
      const digit = buf[i]! - 48;
      if (digit < 0 || digit > 9) throw this.broken(`'${buf.toString('latin1', from, to)}' is not an integer`);
      n = n * 10 + digit;
    }
    return negative ? -n : n;
  }

  private double(text: string): number {
    if (text === 'inf') return Infinity;
    if (text === '-inf') return -Infinity;
    if (text === 'nan') return NaN;
    const n = Number(text);
    if (text === '' || Number.isNaN(n)) throw this.broken(`'${text}' is not a double`);
    return n;
  }

  private broken(what: string): RedisProtocolError {
    return new RedisProtocolError('receive', this.peer, `bad reply from Redis: ${what}`);
  }
}
