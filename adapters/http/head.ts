import { HttpProtocolError, InvalidArgumentError } from '../../src/errors/index.js';

/** A header's value: a string, or a list for a header that came more than once. */
export type HeaderValue = string | string[];
/** Response headers by lower-case name. */
export type Headers = Record<string, HeaderValue>;
/** Headers as a flat list, name, value, name, value, ... (like node's rawHeaders): no object per request. */
export type HeaderList = readonly string[];

/** 1 for the bytes of a token (RFC 9110 tchar), 0 for the others. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

export function isToken(text: string): boolean {
  const n = text.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** Header bytes travel as latin1 (as Node reads them): a char above \xFF has no byte; CR, LF, NUL would break the head. */
function isSafeValue(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 || c === 10 || c === 0 || c > 255) return false;
  }
  return true;
}

/** A byte of a request target: no space (whitespace in \s), control byte or char above \xFF. */
function isTargetChar(c: number): boolean {
  return c > 32 && c !== 127 && c !== 160 && c < 256;
}

/** Request target: origin-form (/path?q), asterisk-form, or absolute-form (http[s]://...). */
function isTarget(path: string): boolean {
  let from: number;
  if (path.charCodeAt(0) === 47) from = 1;
  else if (path === '*') return true;
  else if (path.startsWith('http://')) from = 7;
  else if (path.startsWith('https://')) from = 8;
  else return false;
  if (from > 1 && path.length === from) return false;
  for (let i = from; i < path.length; i++) if (!isTargetChar(path.charCodeAt(i))) return false;
  return true;
}

export interface RequestHead {
  method: string;
  path: string;
  /** the Host line's value when the headers have none; null: no Host line */
  hostHeader: string | null;
  headers: Headers | HeaderList;
  bodyLength: number | null;
}

/** Names the request head checks for: Host, User-Agent, Content-Length and Transfer-Encoding. */
export const HAS_HOST = 1;
export const HAS_USER_AGENT = 2;
export const HAS_LENGTH = 4;

/** 1 bit per special name (see HAS_*), 0 for any other; `name` is any case. */
function specialName(name: string): number {
  switch (name.length) {
    case 4:
      return sameLower(name, 'host') ? HAS_HOST : 0;
    case 10:
      return sameLower(name, 'user-agent') ? HAS_USER_AGENT : 0;
    case 14:
      return sameLower(name, 'content-length') ? HAS_LENGTH : 0;
    case 17:
      return sameLower(name, 'transfer-encoding') ? HAS_LENGTH : 0;
    default:
      return 0;
  }
}

/** `name` is `lower` in any case (same length). */
export function sameLower(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function checkName(name: string): void {
  if (!isToken(name)) throw new InvalidArgumentError(`http request: invalid header name '${name}'`);
}

function checkValue(name: string, value: string): void {
  if (!isSafeValue(value))
    throw new InvalidArgumentError(
      `http request: header '${name}' has a CR, LF or NUL, or a character above \\xFF, in its value`,
    );
}

/** The request head as latin1 text (send it as Buffer.from(head, 'latin1')); throws InvalidArgumentError naming whatever would break the request. */
export function buildRequestHead(head: RequestHead): string {
  if (!isToken(head.method)) throw new InvalidArgumentError(`http request: invalid method '${head.method}'`);
  if (!isTarget(head.path)) throw new InvalidArgumentError(`http request: invalid path '${head.path}'`);
  let text = `${head.method} ${head.path} HTTP/1.1\r\n`;
  let seen = 0;
  const headers = head.headers;
  if (Array.isArray(headers)) {
    const list = headers as HeaderList;
    for (let i = 0; i + 1 < list.length; i += 2) {
      const name = list[i]!;
      const value = String(list[i + 1]);
      checkName(name);
      checkValue(name, value);
      seen |= specialName(name);
      text += `${name}: ${value}\r\n`;
    }
  } else {
    const record = headers as Headers;
    for (const name of Object.keys(record)) {
      const value = record[name]!;
      checkName(name);
      seen |= specialName(name);
      if (Array.isArray(value)) {
        for (const one of value) {
          const v = String(one);
          checkValue(name, v);
          text += `${name}: ${v}\r\n`;
        }
      } else {
        const v = String(value);
        checkValue(name, v);
        text += `${name}: ${v}\r\n`;
      }
    }
  }
  if ((seen & HAS_HOST) === 0 && head.hostHeader !== null) text += `Host: ${head.hostHeader}\r\n`;
  if ((seen & HAS_USER_AGENT) === 0) text += 'User-Agent: cosocket\r\n';
  if ((seen & HAS_LENGTH) === 0 && head.bodyLength !== null) text += `Content-Length: ${head.bodyLength}\r\n`;
  return `${text}\r\n`;
}

/** Bits of connectionAsks(). */
export const ASKS_CLOSE = 1;
export const ASKS_UPGRADE = 2;

/** Whether request headers ask to close the connection (Connection: close) or for an upgrade; names in any case. */
export function connectionAsks(headers: Headers | HeaderList): number {
  let asks = 0;
  forEachHeader(headers, (name, value) => {
    if (name.length === 7 && sameLower(name, 'upgrade')) asks |= ASKS_UPGRADE;
    else if (name.length === 10 && sameLower(name, 'connection')) {
      const text = Array.isArray(value) ? value.join(', ') : String(value);
      if (/\bclose\b/i.test(text)) asks |= ASKS_CLOSE;
    }
  });
  return asks;
}

/** The headers without Content-Length and Transfer-Encoding (a streamed body brings its own framing). */
export function withoutFraming(headers: Headers | HeaderList): string[] {
  const out: string[] = [];
  forEachHeader(headers, (name, value) => {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') return;
    if (Array.isArray(value)) for (const one of value) out.push(name, one);
    else out.push(name, value);
  });
  return out;
}

/** `headers` as a flat list with `value` as the one `name` (lowercase) header, replacing any the caller set. */
export function withHeader(headers: Headers | HeaderList, name: string, value: string): string[] {
  const out: string[] = [];
  forEachHeader(headers, (own, ownValue) => {
    if (own.length === name.length && sameLower(own, name)) return;
    if (Array.isArray(ownValue)) for (const one of ownValue) out.push(own, one);
    else out.push(own, ownValue);
  });
  out.push(name, value);
  return out;
}

/** Calls `visit` with each name and value of a header record or a flat name/value list. */
function forEachHeader(headers: Headers | HeaderList, visit: (name: string, value: HeaderValue) => void): void {
  if (Array.isArray(headers)) {
    const list = headers as HeaderList;
    for (let i = 0; i + 1 < list.length; i += 2) visit(list[i]!, list[i + 1]!);
  } else {
    const record = headers as Headers;
    for (const name of Object.keys(record)) visit(name, record[name]!);
  }
}

/** Adds one header line to `headers` (names lowercased; repeated names become arrays). */
export function addHeaderLine(peer: string, line: string, headers: Headers, raw: Array<[string, string]>): void {
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon) : '';
  if (!isToken(name)) throw new HttpProtocolError(peer, `invalid header line '${line.slice(0, 80)}'`);
  const value = line.slice(colon + 1).trim();
  if (value.indexOf('\r') >= 0 || value.indexOf('\0') >= 0)
    throw new HttpProtocolError(peer, `header '${name}' has a CR or NUL in its value`);
  raw.push([name, value]);
  const lower = name.toLowerCase();
  const existing = headers[lower];
  if (existing === undefined || !Object.hasOwn(headers, lower)) headers[lower] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else headers[lower] = [existing, value];
}

export function headerText(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
