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
  kind: number;
  length: number;
}

/** How the response body is delimited (RFC 9112 section 6.3). */
export function bodyFraming(peer: string, method: string, status: number, headers: Headers): Framing {
  if (method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304)
    return { kind: NO_BODY, length: 0 };
  const te = headerText(headers, 'transfer-encoding');
  if (te !== undefined) {
    // both: a response split by whoever trusts the other one (RFC 9112 section 6.3; nginx >= 1.23: 502)
    if (headers['content-length'] !== undefined)
      throw new HttpProtocolError(peer, 'response has both Content-Length and Transfer-Encoding');
    const codings = te.split(',').map((c) => c.trim().toLowerCase());
    return codings[codings.length - 1] === 'chunked' ? { kind: CHUNKED, length: 0 } : { kind: UNTIL_CLOSE, length: 0 };
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const values = (Array.isArray(cl) ? cl : [cl]).flatMap((v) => v.split(',')).map((v) => v.trim());
    if (!values.every((v) => /^\d+$/.test(v) && v === values[0]) || !Number.isSafeInteger(Number(values[0]))) {
      throw new HttpProtocolError(peer, `invalid Content-Length '${String(cl)}'`);
    }
    return { kind: LENGTH, length: Number(values[0]) };
  }
  return { kind: UNTIL_CLOSE, length: 0 };
}

/** Whether the connection may carry another request after this response. */
export function keepAliveAllowed(version: '1.0' | '1.1', headers: Headers, framing: Framing): boolean {
  if (framing.kind === UNTIL_CLOSE) return false;
  const connection = (headerText(headers, 'connection') ?? '').toLowerCase();
  if (version === '1.1') return !/\bclose\b/.test(connection);
  return /\bkeep-alive\b/.test(connection);
}
