// Over 300 lines: the byte checks of each line, the state a head cut across reads keeps, and the strings
// made at the end are one parser; split, each part would need the others' positions.
import { HttpProtocolError, LineTooLongError } from '../../src/errors/index.js';
import { NEED_MORE } from '../tcp/index.js';
import type { ByteQueue, NeedMore, QueueParser } from '../tcp/index.js';
import { bodyFraming, checkInterimCount, checkSwitchingProtocols, keepAliveAllowed } from './framing.js';
import type { Framing } from './framing.js';
import { TCHAR } from './head.js';
import type { HeaderValue, Headers } from './head.js';

/** A response head as parsed: its fields in order, and how its body is framed. */
export interface ResponseHead {
  status: number;
  reason: string;
  version: '1.0' | '1.1';
  /** Lowercased name, value, name, value, ... in the order received. */
  fields: string[];
  /** The names as sent, one per field. */
  sentNames: string[];
  /** Some name came more than once. */
  repeated: boolean;
  framing: Framing;
  keepalive: boolean;
}

/** Header names most responses carry: as usually sent, lowercased, and the bytes of both. */
class KnownName {
  readonly sentCodes: Uint8Array;
  readonly lowerCodes: Uint8Array;
  readonly lower: string;

  constructor(
    readonly sent: string,
    readonly index: number,
  ) {
    this.lower = sent.toLowerCase();
    this.sentCodes = Buffer.from(sent, 'latin1');
    this.lowerCodes = Buffer.from(this.lower, 'latin1');
  }
}

const KNOWN: KnownName[] = [];
const KNOWN_BY_LENGTH: KnownName[][] = [];
for (const sent of [
  'Server',
  'Date',
  'Content-Type',
  'Content-Length',
  'Connection',
  'Keep-Alive',
  'Transfer-Encoding',
  'Last-Modified',
  'ETag',
  'Accept-Ranges',
  'Cache-Control',
  'Expires',
  'Vary',
  'Location',
  'Set-Cookie',
  'Content-Encoding',
  'X-Accel-Buffering',
  'Access-Control-Allow-Origin',
]) {
  const name = new KnownName(sent, KNOWN.length);
  KNOWN.push(name);
  (KNOWN_BY_LENGTH[sent.length] ??= []).push(name);
}

/** Lowercase of each byte (letters only). */
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

/** What String.prototype.trim() strips within latin1: TAB, LF, VT, FF, CR, space, NBSP. */
function isTrimmed(c: number): boolean {
  return (c >= 9 && c <= 13) || c === 32 || c === 160;
}

/** A header's values with one more (a repeated header is an array). */
function added(existing: HeaderValue | undefined, value: string): HeaderValue {
  if (existing === undefined) return value;
  if (Array.isArray(existing)) {
    existing.push(value);
    return existing;
  }
  return [existing, value];
}

function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);
}

/**
 * Reads a response head straight from a cosocket's received bytes (a QueueParser: one read for the
 * whole head, however many lines): the status line and each header line are checked byte by byte,
 * names lowercased (common ones without a new string), and the body's framing decided in the same
 * pass. Interim (1xx) responses are skipped. What it refuses, and with which error, is what reading
 * the head line by line refused: HttpProtocolError for a broken line, LineTooLongError for a line past
 * the head's byte budget. Complete lines leave the queue as they are parsed, so a head that trickles
 * in is never scanned twice.
 */
export class ResponseHeadParser implements QueueParser {
  private method = 'GET';
  private upgradeAsked = false;
  private interim = 0;
  private budget = 0;
  private statusSeen = false;
  private status = 0;
  private reason = '';
  private version: '1.0' | '1.1' = '1.1';
  /** Header lines of this head so far (made into strings or not yet). */
  private count = 0;
  private fields: string[] = [];
  private sentNames: string[] = [];
  private repeated = false;
  /** Content-Length, Transfer-Encoding and Connection, for the framing decisions. */
  private contentLength: HeaderValue | undefined = undefined;
  private transferEncoding: HeaderValue | undefined = undefined;
  private connection: HeaderValue | undefined = undefined;
  /**
   * Where the checked lines of the current piece lie, made into strings all at once (one latin1 string
   * of the region, then slices of it): the reason's start and end (-1: none yet), then per header line
   * its name's start and end, its value's start and end, and its known name's index (KNOWN) or -1, or
   * -2 - index when the name is a known one in another case.
   */
  private reasonStart = -1;
  private reasonEnd = -1;
  private readonly spans: number[] = [];

  constructor(
    private readonly peer: string,
    private readonly maxHeaderBytes: number,
    private readonly maxHeaders: number,
  ) {}

  /** Before reading the response to a request. */
  start(method: string, upgradeAsked: boolean): void {
    this.method = method;
    this.upgradeAsked = upgradeAsked;
    this.interim = 0;
    this.beginMessage();
  }

  private beginMessage(): void {
    this.budget = this.maxHeaderBytes;
    this.statusSeen = false;
    this.count = 0;
    this.fields = [];
    this.sentNames = [];
    this.repeated = false;
    this.contentLength = undefined;
    this.transferEncoding = undefined;
    this.connection = undefined;
    this.reasonStart = -1;
    this.spans.length = 0;
  }

  parse(queue: ByteQueue): ResponseHead | NeedMore {
    let buf = queue.first();
    let pos = 0;
    let regionStart = 0;
    for (;;) {
      const length = buf.length;
      let lf = pos;
      while (lf < length && buf[lf] !== 10) lf++;
      if (lf === length) {
        // no complete line left in the first piece: drop the parsed lines, join the rest with what follows
        if (length - pos > this.budget) throw new LineTooLongError(this.peer, this.budget);
        this.materialize(buf, regionStart, pos);
        if (pos > 0) queue.skip(pos);
        if (queue.first().length === queue.length) return NEED_MORE;
        queue.joinFirstTwo();
        buf = queue.first();
        pos = regionStart = 0;
        continue;
      }
      if (lf - pos > this.budget) throw new LineTooLongError(this.peer, this.budget);
      const end = lf > pos && buf[lf - 1] === 13 ? lf - 1 : lf;
      this.budget -= end - pos + 2;
      const start = pos;
      pos = lf + 1;
      if (!this.statusSeen) {
        this.statusLine(buf, start, end);
        this.statusSeen = true;
      } else if (end === start) {
        this.materialize(buf, regionStart, start);
        queue.skip(pos);
        const head = this.finish();
        if (head !== null) return head;
        buf = queue.first();
        pos = regionStart = 0;
        continue;
      } else {
        if (this.count >= this.maxHeaders)
          throw new HttpProtocolError(this.peer, `more than ${this.maxHeaders} response headers`);
        this.count++;
        this.headerLine(buf, start, end);
      }
      if (this.budget <= 0)
        throw new HttpProtocolError(this.peer, `response head larger than ${this.maxHeaderBytes} bytes`);
    }
  }

  /** The head is complete: the final response's head, or null after an interim one (the next follows). */
  private finish(): ResponseHead | null {
    const status = this.status;
    checkSwitchingProtocols(this.peer, status, this.upgradeAsked);
    if (status >= 100 && status < 200 && status !== 101) {
      this.interim++;
      checkInterimCount(this.peer, this.interim);
      this.beginMessage();
      return null;
    }
    const framingHeaders: Headers = {};
    if (this.contentLength !== undefined) framingHeaders['content-length'] = this.contentLength;
    if (this.transferEncoding !== undefined) framingHeaders['transfer-encoding'] = this.transferEncoding;
    if (this.connection !== undefined) framingHeaders.connection = this.connection;
    const framing = bodyFraming(this.peer, this.method, status, framingHeaders);
    return {
      status,
      reason: this.reason,
      version: this.version,
      fields: this.fields,
      sentNames: this.sentNames,
      repeated: this.repeated,
      framing,
      keepalive: keepAliveAllowed(this.version, framingHeaders, framing),
    };
  }

  /** `HTTP/1.x NNN[ reason]`, NNN >= 100, the reason without a CR. */
  private statusLine(buf: Buffer, start: number, end: number): void {
    const length = end - start;
    let ok =
      length >= 12 &&
      buf[start] === 72 &&
      buf[start + 1] === 84 &&
      buf[start + 2] === 84 &&
      buf[start + 3] === 80 &&
      buf[start + 4] === 47 &&
      buf[start + 5] === 49 &&
      buf[start + 6] === 46 &&
      (buf[start + 7] === 48 || buf[start + 7] === 49) &&
      buf[start + 8] === 32 &&
      (length === 12 || buf[start + 12] === 32);
    let status = 0;
    for (let i = start + 9; ok && i < start + 12; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) ok = false;
      status = status * 10 + d;
    }
    for (let i = start + 13; ok && i < end; i++) if (buf[i] === 13) ok = false;
    if (!ok || status < 100)
      throw new HttpProtocolError(this.peer, `invalid status line '${latin1(buf, start, Math.min(end, start + 80))}'`);
    this.status = status;
    this.version = buf[start + 7] === 48 ? '1.0' : '1.1';
    this.reason = '';
    this.reasonStart = length > 12 ? start + 13 : -1;
    this.reasonEnd = end;
  }

  /** `name: value`: a token, a colon, the value trimmed; no CR or NUL in it. Strings come in materialize(). */
  private headerLine(buf: Buffer, start: number, end: number): void {
    let i = start;
    for (; i < end; i++) if (TCHAR[buf[i]!] === 0) break;
    if (i === start || i === end || buf[i] !== 58)
      throw new HttpProtocolError(this.peer, `invalid header line '${latin1(buf, start, Math.min(end, start + 80))}'`);
    let known = -1;
    const candidates = KNOWN_BY_LENGTH[i - start];
    if (candidates !== undefined) {
      for (let n = 0; n < candidates.length; n++) {
        const name = candidates[n]!;
        const sent = name.sentCodes;
        const lower = name.lowerCodes;
        let exact = true;
        let k = 0;
        for (; k < lower.length; k++) {
          const c = buf[start + k]!;
          if (c !== sent[k]) exact = false;
          if (LOWER[c] !== lower[k]) break;
        }
        if (k === lower.length) {
          known = exact ? name.index : -2 - name.index;
          break;
        }
      }
    }
    let from = i + 1;
    let to = end;
    while (from < to && isTrimmed(buf[from]!)) from++;
    while (to > from && isTrimmed(buf[to - 1]!)) to--;
    for (let k = from; k < to; k++) {
      const c = buf[k];
      if (c === 13 || c === 0)
        throw new HttpProtocolError(this.peer, `header '${latin1(buf, start, i)}' has a CR or NUL in its value`);
      // what no server may send (RFC 9110 5.5), nor could the proxy send it on
      if ((c! < 32 && c !== 9) || c === 127)
        throw new HttpProtocolError(this.peer, `header '${latin1(buf, start, i)}' has a control byte in its value`);
    }
    this.spans.push(start, i, from, to, known);
  }

  /** The checked lines between `start` and `end` of `buf` as strings: one latin1 string, sliced. */
  private materialize(buf: Buffer, start: number, end: number): void {
    const spans = this.spans;
    if (spans.length === 0 && this.reasonStart < 0) return;
    const text = latin1(buf, start, end);
    if (this.reasonStart >= 0) {
      this.reason = text.slice(this.reasonStart - start, this.reasonEnd - start);
      this.reasonStart = -1;
    }
    const fields = this.fields;
    for (let n = 0; n < spans.length; n += 5) {
      const known = spans[n + 4]!;
      let sent: string;
      let lower: string;
      if (known >= 0) {
        sent = KNOWN[known]!.sent;
        lower = KNOWN[known]!.lower;
      } else {
        sent = text.slice(spans[n]! - start, spans[n + 1]! - start);
        lower = known === -1 ? sent.toLowerCase() : KNOWN[-2 - known]!.lower;
      }
      const value = text.slice(spans[n + 2]! - start, spans[n + 3]! - start);
      if (!this.repeated)
        for (let k = 0; k < fields.length; k += 2)
          if (fields[k] === lower) {
            this.repeated = true;
            break;
          }
      fields.push(lower, value);
      this.sentNames.push(sent);
      if (lower === 'content-length') this.contentLength = added(this.contentLength, value);
      else if (lower === 'transfer-encoding') this.transferEncoding = added(this.transferEncoding, value);
      else if (lower === 'connection') this.connection = added(this.connection, value);
    }
    spans.length = 0;
  }
}
