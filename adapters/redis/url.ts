import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../src/errors/index.js';
import { parseTopologyUrl, redactRedisUrl } from './topology-url.js';
import type { RedisAddress } from './topology-url.js';

export type { RedisAddress };

/** 'single': one server; 'cluster': Redis Cluster from seed nodes; 'sentinel': the master that sentinels name. */
export type RedisTopology = 'single' | 'cluster' | 'sentinel';

/** Where a Redis is and as whom: everything that decides connection state. */
export interface RedisTarget {
  topology: RedisTopology;
  /** single: the server; cluster and sentinel: the first seed node or sentinel. */
  host: string;
  port: number;
  path: string | null;
  /** cluster: the seed nodes; sentinel: the sentinels; single: the server (none for unix://). */
  addresses: readonly RedisAddress[];
  /** sentinel: the name of the monitored master; otherwise null. */
  masterName: string | null;
  /** sentinel: the password the sentinels themselves ask for; otherwise null. */
  sentinelPassword: string | null;
  db: number;
  username: string | null;
  password: string | null;
  tls: boolean;
  /** Shown in errors and stats: host:port/db, never the password. */
  peer: string;
  /** Pool key: the topology and peer plus who is logged in (hashes of passwords), so state never leaks between users. */
  key: string;
}

const parsedTargets = new Map<string, RedisTarget>();

/**
 * redis://[user:pass@]host[:port][/db], rediss://..., unix:///path/to.sock[?db=N],
 * redis+cluster://[user:pass@]h1:p1,h2:p2 and redis+sentinel://[user:pass@]h1:p1,h2:p2[/db]?name=mymaster
 * (parsed once per URL).
 */
export function parseRedisTarget(url: string): RedisTarget {
  let target = parsedTargets.get(url);
  if (target === undefined) {
    target = parseUncached(url);
    if (parsedTargets.size < 1_000) parsedTargets.set(url, target);
  }
  return target;
}

function passwordHash(password: string): string {
  return createHash('sha256').update(password).digest('hex').slice(0, 12);
}

function whoIsLoggedIn(username: string | null, password: string | null): string {
  return (username ? `#user=${username}` : '') + (password ? `#auth=${passwordHash(password)}` : '');
}

function parseUncached(url: string): RedisTarget {
  if (typeof url !== 'string') throw new InvalidArgumentError(`redis URL must be a string, got ${typeof url}`);
  if (/^redis\+(cluster|sentinel):/i.test(url)) return parseTopology(url);
  return parseSingle(url);
}

function parseTopology(url: string): RedisTarget {
  const parsed = parseTopologyUrl(url);
  const first = parsed.addresses[0]!;
  const list = parsed.addresses
    .map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`))
    .join(',');
  const peer =
    parsed.topology === 'cluster' ? `cluster:${list}` : `sentinel:${parsed.masterName!}@${list}/${parsed.db}`;
  const sentinelAuth = parsed.sentinelPassword ? `#sentinel-auth=${passwordHash(parsed.sentinelPassword)}` : '';
  return {
    topology: parsed.topology,
    host: first.host,
    port: first.port,
    path: null,
    addresses: parsed.addresses,
    masterName: parsed.masterName,
    sentinelPassword: parsed.sentinelPassword,
    db: parsed.db,
    username: parsed.username,
    password: parsed.password,
    tls: false,
    peer,
    key: `${peer}${whoIsLoggedIn(parsed.username, parsed.password)}${sentinelAuth}`,
  };
}

function parseSingle(url: string): RedisTarget {
  let parsed: URL;
  // `localhost:6379` parses as the scheme `localhost:`, `127.0.0.1:6379` not at all: quote what was given
  const hint = /^[^/@]*:\d+$/.test(url) ? ` (a scheme is missing: redis://${url})` : '';
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(
      `redis URL must look like redis://127.0.0.1:6379, got '${redactRedisUrl(url)}'${hint}`,
    );
  }
  if (!['redis:', 'rediss:', 'unix:'].includes(parsed.protocol)) {
    throw new InvalidArgumentError(
      `redis URL must use redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://, got '${redactRedisUrl(url)}'${hint}`,
    );
  }
  const isUnix = parsed.protocol === 'unix:';
  const dbText = isUnix ? (parsed.searchParams.get('db') ?? '0') : parsed.pathname.replace(/^\//, '') || '0';
  if (!/^\d+$/.test(dbText))
    throw new InvalidArgumentError(`redis URL database must be a number, got '${dbText}' in '${redactRedisUrl(url)}'`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const host = isUnix ? '' : parsed.hostname.replace(/^\[|\]$/g, '');
  if (!isUnix && host === '') throw new InvalidArgumentError(`redis URL has no host: '${redactRedisUrl(url)}'`);
  const username = parsed.username === '' ? null : decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? null : decodeURIComponent(parsed.password);
  const db = Number(dbText);
  const peer = isUnix ? `unix:${parsed.pathname}/${db}` : `${host}:${port}/${db}`;
  return {
    topology: 'single',
    host,
    port,
    path: isUnix ? parsed.pathname : null,
    addresses: isUnix ? [] : [{ host, port }],
    masterName: null,
    sentinelPassword: null,
    db,
    username,
    password,
    tls: parsed.protocol === 'rediss:',
    peer,
    key: `${peer}${whoIsLoggedIn(username, password)}`,
  };
}

const nodeTargets = new Map<string, RedisTarget>();

/**
 * One server of a cluster or sentinel target (a node the slot table names, the master a sentinel
 * names), logged in as the target is: what a dedicated connection to it is opened with and pooled by.
 */
export function nodeTarget(target: RedisTarget, address: RedisAddress): RedisTarget {
  const host = address.host;
  const peer = `${host.includes(':') ? `[${host}]` : host}:${address.port}/${target.db}`;
  const key = `${peer}${whoIsLoggedIn(target.username, target.password)}`;
  let node = nodeTargets.get(key);
  if (node === undefined) {
    node = {
      topology: 'single',
      host,
      port: address.port,
      path: null,
      addresses: [address],
      masterName: null,
      sentinelPassword: null,
      db: target.db,
      username: target.username,
      password: target.password,
      tls: false,
      peer,
      key,
    };
    if (nodeTargets.size < 10_000) nodeTargets.set(key, node);
  }
  return node;
}
