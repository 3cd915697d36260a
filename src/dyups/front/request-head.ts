// Over 300 lines: one strict, incremental parser of the request line and header lines, and what it decides from them.
import type { IncomingHttpHeaders } from 'node:http';
import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TARGET, TOKEN, trimOws } from './chars.js';

/** What bounds a request head: its bytes (from the request line to the empty line) and its field lines. */
export interface HeadLimits {
  maxHeadBytes: number;
  maxHeaders: number;
}

/** A request head as the front parsed it: the request line, the fields, and the framing they decide. */
export interface RequestHead {
  readonly method: string;
  /** The request target as sent (origin-form, absolute-form or `*`). */
  readonly url: string;
  /** 0 or 1: HTTP/1.0 or HTTP/1.1. */
  readonly minor: number;
  /** Lowercased names; repeated fields joined as node joins them (set-cookie an array). */
  readonly headers: IncomingHttpHeaders;
  /** -1 when there is no Content-Length. */
  readonly contentLength: number;
  readonly chunked: boolean;
  /** The connection may carry another request after this one. */
  readonly keepAlive: boolean;
  /** `Expect: 100-continue` on HTTP/1.1: the client waits for `100 Continue` before its body. */
  readonly expectContinue: boolean;
  /** An `Upgrade` header with `upgrade` in `Connection`: the client asks to switch protocols (HTTP/1.1, no body). */
  readonly upgrade: boolean;
}

/** Methods as nginx takes them: upper-case letters, `_` and `-`. */
const METHOD = (() => {
  const out = new Uint8Array(256);
  for (let b = 0x41; b <= 0x5a; b++) out[b] = 1;
  out[0x5f] = 1;
  out[0x2d] = 1;
  return out;
})();

/** Field names seen in most requests: matched on their bytes, so no string is made for them. */
const COMMON_NAMES = [
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'content-type',
  'cookie',
  'expect',
  'x-forwarded-for',
  'referer',
  'cache-control',
  'authorization',
  'upgrade',
  'keep-alive',
  'origin',
];
const NAMES_BY_LENGTH: string[][] = [];
for (const name of COMMON_NAMES) (NAMES_BY_LENGTH[name.length] ??= []).push(name);

/** Node keeps the first of these when one is repeated (IncomingMessage's matchKnownFields). */
const FIRST_ONLY = new Set([
  'content-type',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** A common name whose bytes (tokens, compared ignoring case) are buf[start, end), or null. */
function commonName(buf: Buffer, start: number, end: number): string | null {
  const candidates = NAMES_BY_LENGTH[end - start];
  if (candidates === undefined) return null;
  outer: for (const name of candidates) {
    for (let i = 0; i < name.length; i++) {
      // token bytes only: | 0x20 lowercases a letter and leaves '-' and digits as they are
      if ((buf[start + i]! | 0x20) !== name.charCodeAt(i)) continue outer;
    }
    return name;
  }
  return null;
}

/**
 * An absolute-form target's scheme and authority, then the end or the path, query or fragment: a host
 * name of letters, digits, `.`, `-`, `_` (group names) or an IP literal, an optional port; no userinfo
 * (RFC 9110 section 4.2.4), no other byte (nginx refuses them too).
 */
const AUTHORITY = /^https?:\/\/(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?(?:[/?#]|$)/i;

const NEED_MORE = -1;

/**
 * Parses one request head from the bytes of a connection as they arrive, strictly: CRLF line ends
 * only, no obs-fold, no whitespace before a colon, no control bytes in values, a token method, a
 * target of visible ASCII, HTTP/1.0 or HTTP/1.1. A failure is a status and a reason (`failed`);
 * the connection answers it and closes.
 */
export class HeadParser {
  /** Set when the head cannot be served: the status to answer (400, 417, 431, 501, 505) and why. */
  failed: { status: number; reason: string } | null = null;
  /** Where parsing goes on: past the last line parsed. */
  next = 0;
  private lines = 0;
  private bytes = 0;
  private headerCount = 0;
  private hostCount = 0;
  private method = '';
  private url = '';
  private minor = 1;
  private headers: IncomingHttpHeaders = {};
  private contentLength = -1;
  private transferEncoding: string | null = null;

  constructor(private readonly limits: HeadLimits) {}

  /** The request line once it was parsed (its method and the line as read), else null. */
  get parsedLine(): { requestLine: string; method: string } | null {
    if (this.lines === 0) return null;
    return { requestLine: `${this.method} ${this.url} HTTP/1.${this.minor}`, method: this.method };
  }

  reset(): void {
    this.failed = null;
    this.next = 0;
    this.lines = 0;
    this.bytes = 0;
    this.headerCount = 0;
    this.hostCount = 0;
    this.method = '';
    this.url = '';
    this.minor = 1;
    this.headers = {};
    this.contentLength = -1;
    this.transferEncoding = null;
  }

  /**
   * Parses the complete lines of buf[pos, buf.length); `next` is then where the first line not yet
   * parsed starts. Returns the head once its empty line was parsed (`next` past it); null while more
   * bytes are needed, or when it `failed`.
   */
  parse(buf: Buffer, pos: number): RequestHead | null {
    const end = buf.length;
    for (;;) {
      this.next = pos;
      const next = this.lines === 0 ? this.requestLine(buf, pos, end) : this.fieldLine(buf, pos, end);
      if (this.failed !== null) return null;
      if (next === NEED_MORE) {
        if (this.bytes + (end - pos) > this.limits.maxHeadBytes) this.tooLarge();
        return null;
      }
      this.bytes += next - pos;
      if (this.bytes > this.limits.maxHeadBytes) {
        this.tooLarge();
        return null;
      }
      pos = next;
      if (this.lines < 0) {
        this.next = pos;
        return this.finish();
      }
    }
  }

  private tooLarge(): void {
    this.fail(431, `the request head is larger than ${this.limits.maxHeadBytes} bytes`);
  }

  private fail(status: number, reason: string): number {
    if (this.failed === null) this.failed = { status, reason };
    return 0;
  }

  /** The request line (or an empty line before it, skipped); the position past its LF. */
  private requestLine(buf: Buffer, pos: number, end: number): number {
    if (pos < end && buf[pos] === CR) {
      if (pos + 1 >= end) return NEED_MORE;
      if (buf[pos + 1] !== LF) return this.fail(400, 'a bare CR before the request line');
      return pos + 2; // RFC 9112 section 2.2: an empty line before the request line is ignored
    }
    let i = pos;
    while (i < end && METHOD[buf[i]!] === 1) i++;
    if (i === end) return NEED_MORE;
    if (i === pos || buf[i] !== SP) return this.fail(400, 'a malformed method in the request line');
    const method = methodName(buf, pos, i);
    const targetStart = ++i;
    while (i < end && TARGET[buf[i]!] === 1) i++;
    if (i === end) return NEED_MORE;
    if (i === targetStart || buf[i] !== SP) return this.fail(400, 'a malformed request target');
    const targetEnd = i++;
    if (end - i < 10) {
      // HTTP/x.y then CRLF: wait for all of it unless what came already cannot be it
      for (let j = i; j < end; j++) if (buf[j] === LF) return this.fail(400, 'a malformed HTTP version');
      return NEED_MORE;
    }
    if (
      buf[i] !== 0x48 ||
      buf[i + 1] !== 0x54 ||
      buf[i + 2] !== 0x54 ||
      buf[i + 3] !== 0x50 ||
      buf[i + 4] !== 0x2f ||
      !isDigit(buf[i + 5]!) ||
      buf[i + 6] !== 0x2e ||
      !isDigit(buf[i + 7]!) ||
      buf[i + 8] !== CR ||
      buf[i + 9] !== LF
    )
      return this.fail(400, 'a malformed HTTP version or line end in the request line');
    if (buf[i + 5] !== 0x31 || buf[i + 7]! > 0x31) return this.fail(505, 'only HTTP/1.0 and HTTP/1.1 are served');
    this.minor = buf[i + 7]! - 0x30;
    const url = buf.toString('latin1', targetStart, targetEnd);
    const first = buf[targetStart];
    if (first !== 0x2f) {
      const absolute = /^https?:\/\//i.test(url);
      if (!absolute && !(url === '*' && method === 'OPTIONS'))
        return this.fail(400, 'the request target is neither a path, an absolute URI nor * for OPTIONS');
      if (absolute && !AUTHORITY.test(url))
        return this.fail(400, 'the absolute-form target has no valid host[:port] (userinfo, other bytes)');
    }
    this.method = method;
    this.url = url;
    this.lines = 1;
    return i + 10;
  }

  /** One field line, or the empty line that ends the head (lines becomes -1); the position past its LF. */
  private fieldLine(buf: Buffer, pos: number, end: number): number {
    if (pos >= end) return NEED_MORE;
    const first = buf[pos]!;
    if (first === CR) {
      if (pos + 1 >= end) return NEED_MORE;
      if (buf[pos + 1] !== LF) return this.fail(400, 'a bare CR in the request head');
      this.lines = -1;
      return pos + 2;
    }
    if (first === SP || first === HTAB) return this.fail(400, 'a folded header line (obs-fold)');
    let i = pos;
    while (i < end && TOKEN[buf[i]!] === 1) i++;
    if (i === end) return NEED_MORE;
    if (i === pos || buf[i] !== COLON) {
      const b = buf[i];
      return this.fail(
        400,
        b === SP || b === HTAB ? 'whitespace between a header name and its colon' : 'a malformed header name',
      );
    }
    const nameEnd = i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    const valueStart = i;
    let valueEnd = i;
    for (;;) {
      if (i === end) return NEED_MORE;
      const b = buf[i]!;
      if (FIELD_VALUE[b] !== 1) break;
      i++;
      if (b !== SP && b !== HTAB) valueEnd = i;
    }
    if (buf[i] !== CR) return this.fail(400, 'a control character or a bare LF in a header line');
    if (i + 1 >= end) return NEED_MORE;
    if (buf[i + 1] !== LF) return this.fail(400, 'a bare CR in a header value');
    if (++this.headerCount > this.limits.maxHeaders)
      return this.fail(431, `the request has more than ${this.limits.maxHeaders} headers`);
    const name = commonName(buf, pos, nameEnd) ?? buf.toString('latin1', pos, nameEnd).toLowerCase();
    this.addField(name, buf.toString('latin1', valueStart, valueEnd));
    return i + 2;
  }

  private addField(name: string, value: string): void {
    const headers = this.headers as Record<string, string | string[] | undefined>;
    switch (name) {
      case 'host':
        this.hostCount++;
        break;
      case 'content-length':
        this.takeContentLength(value);
        return;
      case 'transfer-encoding':
        this.transferEncoding = this.transferEncoding === null ? value : `${this.transferEncoding}, ${value}`;
        break;
      case '__proto__':
        return; // as node does: no such key on a plain object
    }
    const existing = headers[name];
    // a function: the constructor plain objects inherit, not a field seen before
    if (existing === undefined || typeof existing === 'function')
      headers[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (existing as string[]).push(value);
    else if (name === 'cookie') headers[name] = `${existing as string}; ${value}`;
    else if (!FIRST_ONLY.has(name)) headers[name] = `${existing as string}, ${value}`;
  }

  private takeContentLength(value: string): void {
    if (value.length === 0 || value.length > 15 || !/^\d+$/.test(value)) {
      this.fail(400, 'a Content-Length that is not a number of bytes');
      return;
    }
    const length = Number(value);
    if (this.contentLength >= 0 && this.contentLength !== length) {
      this.fail(400, 'two different Content-Length headers');
      return;
    }
    this.contentLength = length;
    this.headers['content-length'] = value;
  }

  /** The head ended: what its fields decide, or a failure. */
  private finish(): RequestHead | null {
    const headers = this.headers;
    if (this.hostCount > 1) return this.refuse(400, 'more than one Host header');
    if (this.hostCount === 0 && this.minor === 1) return this.refuse(400, 'an HTTP/1.1 request without a Host header');
    let chunked = false;
    const te = this.transferEncoding;
    if (te !== null) {
      if (this.contentLength >= 0) return this.refuse(400, 'both Content-Length and Transfer-Encoding');
      if (this.minor === 0) return this.refuse(400, 'Transfer-Encoding in an HTTP/1.0 request');
      const codings = te.toLowerCase().split(',');
      if (trimOws(codings[codings.length - 1]!) !== 'chunked')
        return this.refuse(400, 'a Transfer-Encoding whose last coding is not chunked');
      if (codings.length > 1) return this.refuse(501, `Transfer-Encoding '${te}' is not supported`);
      chunked = true;
    }
    const connection = headers.connection;
    let keepAlive = this.minor === 1;
    if (connection !== undefined) {
      if (hasToken(connection, 'close')) keepAlive = false;
      else if (this.minor === 0 && hasToken(connection, 'keep-alive')) keepAlive = true;
    }
    // RFC 9110 section 7.8: only HTTP/1.1 upgrades; after the 101 the connection carries the new protocol,
    // so a body before it would be framed by nothing the tunnel checks
    const upgrade = headers.upgrade !== undefined && connection !== undefined && hasToken(connection, 'upgrade');
    if (upgrade && this.minor === 0) return this.refuse(400, 'an Upgrade request on HTTP/1.0');
    if (upgrade && (chunked || this.contentLength > 0)) return this.refuse(400, 'an Upgrade request with a body');
    let expectContinue = false;
    const expect = headers.expect;
    if (expect !== undefined && this.minor === 1) {
      if (expect.toLowerCase() !== '100-continue') return this.refuse(417, `Expect '${expect}' cannot be met`);
      expectContinue = true;
    }
    return {
      method: this.method,
      url: this.url,
      minor: this.minor,
      headers,
      contentLength: this.contentLength,
      chunked,
      keepAlive,
      expectContinue,
      upgrade,
    };
  }

  private refuse(status: number, reason: string): null {
    this.fail(status, reason);
    return null;
  }
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** The method's string: the common ones without making a new string. */
function methodName(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  const b = buf[start];
  if (length === 3 && b === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
  if (length === 4 && b === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54)
    return 'POST';
  if (length === 4 && b === 0x48 && buf[start + 1] === 0x45 && buf[start + 2] === 0x41 && buf[start + 3] === 0x44)
    return 'HEAD';
  return buf.toString('latin1', start, end);
}

/** `value` (a comma-separated list) holds `token`, ignoring case and whitespace. */
export function hasToken(value: string, token: string): boolean {
  const lower = value.toLowerCase();
  let from = 0;
  for (;;) {
    const at = lower.indexOf(token, from);
    if (at < 0) return false;
    let before = at - 1;
    while (before >= 0 && (lower[before] === ' ' || lower[before] === '\t')) before--;
    let after = at + token.length;
    while (after < lower.length && (lower[after] === ' ' || lower[after] === '\t')) after++;
    if ((before < 0 || lower[before] === ',') && (after >= lower.length || lower[after] === ',')) return true;
    from = at + 1;
  }
}
