import type { IncomingHttpHeaders } from 'node:http';

/** Where a connection arrived: the listener's own address and port as the socket saw them. */
export interface LocalEndpoint {
  address: string | undefined;
  port: number | undefined;
}

export type OriginVerdict = { ok: true } | { ok: false; status: 403 | 421; reason: string };

/** Sec-Fetch-Site values of a request a browser did not send on another site's behalf. */
const OWN_FETCH_SITES = new Set(['same-origin', 'none']);

/** An address as it appears in a Host header: IPv6 in brackets, IPv4-mapped unwrapped. */
function hostForm(address: string): string {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.includes(':') ? `[${v4}]` : v4;
}

/** Every Host value that names this listener: its own address, localhost and `names`, with its port or none. */
function ownAuthorities(local: LocalEndpoint, names: readonly string[]): Set<string> {
  const hosts = new Set(['localhost', ...names.map((n) => hostForm(n.toLowerCase()))]);
  if (local.address !== undefined) hosts.add(hostForm(local.address.toLowerCase()));
  const authorities = new Set<string>();
  for (const host of hosts) {
    authorities.add(`${host}:${String(local.port)}`);
    // a browser always sends a port that is not the scheme's default, so a bare own name cannot be a rebinding
    authorities.add(host);
  }
  return authorities;
}

/**
 * Refuses what a browser sends on behalf of another site (CSRF) or to a name that was rebound to this
 * address (DNS rebinding): an Origin that is not this listener's, a Sec-Fetch-Site other than
 * same-origin/none, a Host that does not name this listener. Clients that send neither Origin nor
 * Sec-Fetch-* and use the listener's own name (curl, scripts) pass. For loopback/admin listeners;
 * `names` are extra host names it is configured to answer to; `scheme` is the listener's own (an
 * Origin must carry it: a TLS listener's pages send https).
 */
export function checkOrigin(
  headers: IncomingHttpHeaders,
  local: LocalEndpoint,
  names: readonly string[] = [],
  scheme: 'http' | 'https' = 'http',
): OriginVerdict {
  const own = ownAuthorities(local, names);
  const host = headers.host;
  if (host !== undefined && !own.has(host.toLowerCase())) {
    return { ok: false, status: 421, reason: `Host '${host.slice(0, 100)}' does not name this listener` };
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined && !OWN_FETCH_SITES.has(site.toLowerCase())) {
    return {
      ok: false,
      status: 403,
      reason: `Sec-Fetch-Site '${site.slice(0, 40)}': only same-origin requests are accepted`,
    };
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    const parts = /^(https?):\/\/([^/]+)$/i.exec(origin);
    if (parts === null || parts[1]!.toLowerCase() !== scheme || !own.has(parts[2]!.toLowerCase())) {
      return { ok: false, status: 403, reason: `Origin '${origin.slice(0, 100)}' is not this listener's own` };
    }
  }
  return { ok: true };
}
