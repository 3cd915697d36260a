import { HttpProtocolError } from '../../src/errors/index.js';
import { headerText } from './head.js';
import type { Headers } from './head.js';

/**
 * The framing decisions of an HTTP/1.1 client (and so of the proxy built on it), as pure functions of
 * a response head: whether it is acceptable, how its body is delimited, whether its connection may
 * carry another request. Any fault is an HttpProtocolError: the response is refused (a proxy answers
 * 502) and its connection closed, never pooled.
 */

/** 1xx responses accepted before the final one (100 Continue, 103 Early Hints, ...). */
export const MAX_INTERIM_RESPONSES = 32;

/** Throws once more interim responses than MAX_INTERIM_RESPONSES came before the final one. */
export function checkInterimCount(peer: string, interim: number): void {
  if (interim > MAX_INTERIM_RESPONSES)
    throw new HttpProtocolError(peer, `more than ${MAX_INTERIM_RESPONSES} interim (1xx) responses`);
}

/** A 101 is a final answer only to a request that asked for an upgrade; otherwise what follows it is not HTTP. */
export function checkSwitchingProtocols(peer: string, status: number, upgradeAsked: boolean): void {
  if (status === 101 && !upgradeAsked)
    throw new HttpProtocolError(peer, '101 Switching Protocols to a request that asked for no upgrade');
}

export const NO_BODY = 0;
export const LENGTH = 1;
export const CHUNKED = 2;
export const UNTIL_CLOSE = 3;

export interface Framing {
  readonly kind: number;
  readonly length: number;
}

const NO_BODY_FRAMING: Framing = { kind: NO_BODY, length: 0 };
const CHUNKED_FRAMING: Framing = { kind: CHUNKED, length: 0 };
const UNTIL_CLOSE_FRAMING: Framing = { kind: UNTIL_CLOSE, length: 0 };

/** The value of a Content-Length of 1 to 15 digits and nothing else (always a safe integer), else -1. */
function plainLength(text: string): number {
  const n = text.length;
  if (n === 0 || n > 15) return -1;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** How the response body is delimited (RFC 9112 section 6.3). */
export function bodyFraming(peer: string, method: string, status: number, headers: Headers): Framing {
  if (method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) return NO_BODY_FRAMING;
  const te = headerText(headers, 'transfer-encoding');
  if (te !== undefined) {
    // both: a response split by whoever trusts the other one (RFC 9112 section 6.3; nginx >= 1.23: 502)
    if (headers['content-length'] !== undefined)
      throw new HttpProtocolError(peer, 'response has both Content-Length and Transfer-Encoding');
    if (te === 'chunked') return CHUNKED_FRAMING;
    const codings = te.split(',').map((c) => c.trim().toLowerCase());
    return codings[codings.length - 1] === 'chunked' ? CHUNKED_FRAMING : UNTIL_CLOSE_FRAMING;
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const plain = typeof cl === 'string' ? plainLength(cl) : -1;
    if (plain >= 0) return { kind: LENGTH, length: plain };
    const values = (Array.isArray(cl) ? cl : [cl]).flatMap((v) => v.split(',')).map((v) => v.trim());
    if (!values.every((v) => /^\d+$/.test(v) && v === values[0]) || !Number.isSafeInteger(Number(values[0]))) {
      throw new HttpProtocolError(peer, `invalid Content-Length '${String(cl)}'`);
    }
    return { kind: LENGTH, length: Number(values[0]) };
  }
  return UNTIL_CLOSE_FRAMING;
}

/** Whether the connection may carry another request after this response. */
export function keepAliveAllowed(version: '1.0' | '1.1', headers: Headers, framing: Framing): boolean {
  if (framing.kind === UNTIL_CLOSE) return false;
  const value = headers.connection;
  if (value === undefined || value === 'keep-alive' || value === 'close')
    return version === '1.1' ? value !== 'close' : value === 'keep-alive';
  const connection = (headerText(headers, 'connection') ?? '').toLowerCase();
  if (version === '1.1') return !/\bclose\b/.test(connection);
  return /\bkeep-alive\b/.test(connection);
}
