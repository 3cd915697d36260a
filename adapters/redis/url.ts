import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../src/errors.js';

/** Where a Redis is and as whom: everything that decides connection state. */
export interface RedisTarget {
  host: string;
  port: number;
  path: string | null;
  db: number;
  username: string | null;
  password: string | null;
  tls: boolean;
  /** Shown in errors and stats: host:port/db, never the password. */
  peer: string;
  /** Pool key: the peer plus who is logged in (a hash of the password), so state never leaks between users. */
  key: string;
}

const parsedTargets = new Map<string, RedisTarget>();

/** redis://[user:pass@]host[:port][/db], rediss://..., unix:///path/to.sock[?db=N] (parsed once per URL). */
export function parseRedisTarget(url: string): RedisTarget {
  let target = parsedTargets.get(url);
  if (target === undefined) {
    target = parseUncached(url);
    if (parsedTargets.size < 1_000) parsedTargets.set(url, target);
  }
  return target;
}

function parseUncached(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`redis URL must look like redis://127.0.0.1:6379, got '${url}'`);
  }
  if (!['redis:', 'rediss:', 'unix:'].includes(parsed.protocol)) {
    throw new InvalidArgumentError(`redis URL must use redis://, rediss:// or unix://, got '${parsed.protocol}//'`);
  }
  const isUnix = parsed.protocol === 'unix:';
  const dbText = isUnix ? (parsed.searchParams.get('db') ?? '0') : parsed.pathname.replace(/^\//, '') || '0';
  if (!/^\d+$/.test(dbText)) throw new InvalidArgumentError(`redis URL database must be a number, got '${dbText}' in '${url}'`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const host = isUnix ? '' : parsed.hostname.replace(/^\[|\]$/g, '');
  if (!isUnix && host === '') throw new InvalidArgumentError(`redis URL has no host: '${url}'`);
  const username = parsed.username === '' ? null : decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? null : decodeURIComponent(parsed.password);
  const db = Number(dbText);
  const peer = isUnix ? `unix:${parsed.pathname}/${db}` : `${host}:${port}/${db}`;
  const who =
    (username ? `#user=${username}` : '') +
    (password ? `#auth=${createHash('sha256').update(password).digest('hex').slice(0, 12)}` : '');
  return {
    host,
    port,
    path: isUnix ? parsed.pathname : null,
    db,
    username,
    password,
    tls: parsed.protocol === 'rediss:',
    peer,
    key: `${peer}${who}`,
  };
}
