import type { IncomingHttpHeaders } from 'node:http';
import type { GroupBalancer, Peer } from './balancer.js';
import { requestVariable } from './request-vars.js';
import type { HashKeyRequest } from './request-vars.js';
import type { Sticky, TrafficSplit } from './upstream.js';

/** The server a sticky request names (by its cookie or route), if the group has one by that name. */
export function stickyPeer(sticky: Sticky, balancer: GroupBalancer, request: HashKeyRequest): Peer | null {
  if (sticky.kind === 'cookie') {
    const id = cookieOf(request.headers, sticky.name);
    if (id === '') return null;
    for (const peer of balancer.primaries) if (peer.stickyId === id) return peer;
    for (const peer of balancer.backups) if (peer.stickyId === id) return peer;
    return null;
  }
  for (const variable of sticky.variables) {
    const route = requestVariable(variable, request);
    if (route === '') continue;
    for (const peer of balancer.primaries) if (peer.server.route === route) return peer;
    for (const peer of balancer.backups) if (peer.server.route === route) return peer;
    return null;
  }
  return null;
}

/** A cookie's value as the client sent it (names match exactly, as browsers keep them); '' when absent. */
export function cookieOf(headers: IncomingHttpHeaders, name: string): string {
  const header = headers.cookie;
  if (header === undefined) return '';
  for (const part of header.split(';')) {
    const equals = part.indexOf('=');
    if (equals >= 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim();
  }
  return '';
}

/** nginx's `expires=max`: the end of 2037, as nginx writes it. */
const EXPIRES_MAX = 'Thu, 31 Dec 2037 23:55:55 GMT';

/** The Set-Cookie value that makes the client stick to `peer`. */
export function stickyCookie(sticky: Extract<Sticky, { kind: 'cookie' }>, peer: Peer, now = Date.now()): string {
  let cookie = `${sticky.name}=${peer.stickyId}`;
  if (sticky.expires === 'max') cookie += `; Expires=${EXPIRES_MAX}; Max-Age=315360000`;
  else if (sticky.expires !== null)
    cookie += `; Expires=${new Date(now + sticky.expires * 1000).toUTCString()}; Max-Age=${sticky.expires}`;
  if (sticky.domain !== null) cookie += `; Domain=${sticky.domain}`;
  if (sticky.path !== null) cookie += `; Path=${sticky.path}`;
  if (sticky.httponly) cookie += '; HttpOnly';
  if (sticky.secure) cookie += '; Secure';
  return cookie;
}

/**
 * The group a request is split to, or null: the first `split` line that matches decides; `N%` sends
 * that share of the requests reaching it, spread evenly (every tenth request for 10%), per process.
 */
export function splitTarget(splits: readonly TrafficSplit[], shares: number[], request: HashKeyRequest): string | null {
  for (let i = 0; i < splits.length; i++) {
    const split = splits[i]!;
    const match = split.match;
    if ('percent' in match) {
      shares[i]! += match.percent;
      if (shares[i]! >= 100) {
        shares[i]! -= 100;
        return split.to;
      }
    } else if (requestVariable(match.variable, request) === match.value) return split.to;
  }
  return null;
}
