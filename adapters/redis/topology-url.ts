import { InvalidArgumentError } from '../../src/errors/index.js';

/** A server named by a URL or a topology reply. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** What a redis+cluster:// or redis+sentinel:// URL says. */
export interface TopologyUrl {
  topology: 'cluster' | 'sentinel';
  addresses: RedisAddress[];
  username: string | null;
  password: string | null;
  db: number;
  masterName: string | null;
  sentinelPassword: string | null;
}

const DEFAULT_PORT = { cluster: 6379, sentinel: 26379 } as const;
const QUERY_KEYS = { cluster: [] as string[], sentinel: ['name', 'sentinelPassword'] } as const;
const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

/**
 * Parses redis+cluster://[user:pass@]h1:p1,h2:p2[,...] and
 * redis+sentinel://[user:pass@]h1:p1,h2:p2[/db]?name=mymaster[&sentinelPassword=...].
 * `new URL()` cannot take a list of hosts, so the authority is split here.
 */
export function parseTopologyUrl(url: string): TopologyUrl {
  const scheme = /^redis\+(cluster|sentinel):\/\//i.exec(url);
  const shown = redactRedisUrl(url);
  if (scheme === null) {
    throw new InvalidArgumentError(`redis URL must start with redis+cluster:// or redis+sentinel://, got '${shown}'`);
  }
  const topology = scheme[1]!.toLowerCase() as 'cluster' | 'sentinel';
  const fail = (what: string): never => {
    throw new InvalidArgumentError(`redis+${topology} URL ${what}: '${shown}'`);
  };
  const rest = url.slice(scheme[0].length);
  if (rest.includes('#')) fail('must not have a #fragment');
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const afterAuthority = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  const queryStart = afterAuthority.indexOf('?');
  const path = queryStart === -1 ? afterAuthority : afterAuthority.slice(0, queryStart);
  const query = queryStart === -1 ? '' : afterAuthority.slice(queryStart + 1);

  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? null : authority.slice(0, at);
  const hostList = at === -1 ? authority : authority.slice(at + 1);
  const { username, password } = parseUserinfo(userinfo, fail);
  const addresses = parseAddresses(hostList, DEFAULT_PORT[topology], fail);
  const db = parseDb(path, topology, fail);
  const params = parseQuery(query, QUERY_KEYS[topology], fail);

  let masterName: string | null = null;
  if (topology === 'sentinel') {
    masterName = params.get('name') ?? null;
    if (masterName === null) fail('needs the master name: add ?name=mymaster');
    if (masterName === '') fail('has an empty master name (?name=)');
  }
  const sentinelPassword = params.get('sentinelPassword') ?? null;
  if (sentinelPassword === '') fail('has an empty sentinelPassword');
  return { topology, addresses, username, password, db, masterName, sentinelPassword };
}

/** The URL with its password (and sentinelPassword) replaced by ***, for error messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([^/]*\/\/[^/?#@]*?:)[^/?#]*@/, '$1***@').replace(/([?&]sentinelPassword=)[^&#]*/g, '$1***');
}

function decode(text: string, what: string, fail: (what: string) => never): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail(`has a badly %-encoded ${what}`);
  }
}

function parseUserinfo(
  userinfo: string | null,
  fail: (what: string) => never,
): { username: string | null; password: string | null } {
  if (userinfo === null) return { username: null, password: null };
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
  const pass = colon === -1 ? '' : userinfo.slice(colon + 1);
  if (user === '' && pass === '') fail("has an empty user:password before '@'");
  return {
    username: user === '' ? null : decode(user, 'user name', fail),
    password: pass === '' ? null : decode(pass, 'password', fail),
  };
}

function parseAddresses(hostList: string, defaultPort: number, fail: (what: string) => never): RedisAddress[] {
  if (hostList === '') fail('has no host: list them as host:port,host:port');
  return hostList.split(',').map((entry, i) => parseAddress(entry, i, defaultPort, fail));
}

function parseAddress(entry: string, index: number, defaultPort: number, fail: (what: string) => never): RedisAddress {
  if (entry === '') return fail(`has an empty address at position ${index + 1} of its host list`);
  let host: string;
  let portText: string | null;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close === -1) return fail(`has an IPv6 address without its closing ']': '${entry}'`);
    host = entry.slice(1, close);
    const after = entry.slice(close + 1);
    if (after !== '' && !after.startsWith(':'))
      return fail(`has something after the IPv6 address '[${host}]': '${after}'`);
    portText = after === '' ? null : after.slice(1);
    if (!IPV6.test(host) || !host.includes(':')) return fail(`has an invalid IPv6 address '[${host}]'`);
  } else {
    const colon = entry.indexOf(':');
    if (colon !== entry.lastIndexOf(':'))
      return fail(`has an IPv6 address not in brackets: '${entry}' (write [::1]:6379)`);
    host = colon === -1 ? entry : entry.slice(0, colon);
    portText = colon === -1 ? null : entry.slice(colon + 1);
    if (host === '') return fail(`has an address with no host: '${entry}'`);
    if (!HOSTNAME.test(host)) return fail(`has an invalid host name '${host}'`);
  }
  if (portText === null) return { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65_535) {
    return fail(`has an invalid port '${portText}' for host '${host}' (1-65535)`);
  }
  return { host, port: Number(portText) };
}

function parseDb(path: string, topology: 'cluster' | 'sentinel', fail: (what: string) => never): number {
  const text = path.replace(/^\//, '');
  if (text === '') return 0;
  if (!/^\d+$/.test(text)) return fail(`database must be a number, got '${text}'`);
  const db = Number(text);
  if (topology === 'cluster' && db !== 0) return fail(`names database ${db}, but Redis Cluster has only database 0`);
  return db;
}

function parseQuery(query: string, allowed: readonly string[], fail: (what: string) => never): Map<string, string> {
  const params = new Map<string, string>();
  if (query === '') return params;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decode(eq === -1 ? part : part.slice(0, eq), 'query key', fail);
    const value = decode(eq === -1 ? '' : part.slice(eq + 1).replace(/\+/g, ' '), `value of ${key}`, fail);
    if (!allowed.includes(key)) {
      fail(
        `has an unknown query key '${key}'${allowed.length === 0 ? ' (it takes none)' : ` (known: ${allowed.join(', ')})`}`,
      );
    }
    if (params.has(key)) fail(`gives '${key}' twice`);
    params.set(key, value);
  }
  return params;
}
