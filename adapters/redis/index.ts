import { InvalidArgumentError } from '../../src/errors/index.js';
import { pools } from '../../src/pool/registry.js';
import type { Effect } from '../../src/runtime/effect.js';
import { call } from '../../src/runtime/effects/call.js';
import type { RedisClient } from './client.js';
import type { RedisMode } from './client.js';
import { connectCluster } from './cluster-client.js';
import { connectServer, sharedByKey } from './connect-server.js';
import type { ConnectSettings } from './connect-server.js';
import { connectThroughSentinel } from './sentinel.js';
import { parseRedisTarget } from './url.js';

export { RedisClient, RedisBatch } from './client.js';
export type { BatchResult, PubSubMessage, RedisArg, RedisMode } from './client.js';
export { COMMANDS } from './commands.js';
export type { BatchCommands, ClientCommands, CommandName, CommandSpec } from './commands.js';
export type { BlockingSpec, TimeoutArg } from './blocking.js';
export type {
  KeyedScoredMember,
  PendingStreamEntry,
  ScanPage,
  ScoredMember,
  StreamAutoclaim,
  StreamEntry,
  StreamGroupRead,
  StreamPendingEntry,
  StreamPendingSummary,
  StreamRead,
} from './replies.js';
export { RedisScript, evalScript, script } from './script.js';
export { parseRedisTarget } from './url.js';
export type { RedisAddress, RedisTarget, RedisTopology } from './url.js';
export { DEFAULT_MAX_BULK } from './resp.js';

/** Options of `redis.connect()`: which Redis, the mode (short, keepalive, shared), pool and timeouts. */
export interface RedisConnectOptions {
  /**
   * redis://[user:pass@]host:port/db, rediss://..., unix:///path?db=N, redis+cluster://h1:p1,h2:p2 or
   * redis+sentinel://h1:p1,h2:p2/db?name=mymaster (cluster in short/keepalive mode: every command is routed by slot).
   * Default: the one given to configure(), else $REDIS_URL, else redis://127.0.0.1:6379.
   */
  url?: string;
  /** Default 'keepalive'. */
  mode?: RedisMode;
  /** keepalive pool name; default from the URL: host:port/db plus user and a hash of the password (and the protocol). */
  pool?: string;
  poolSize?: number;
  backlog?: number;
  idleTimeout?: number;
  /** ms: connect (also the wait for a pooled connection) and read (per command). Default 60 s each. */
  timeouts?: { connect?: number; read?: number };
  /** short/keepalive: 3 speaks RESP3 (HELLO 3 on connect). Default 2. */
  protocol?: 2 | 3;
  /** short/keepalive: the longest bulk string a reply may hold; a longer one fails the command and closes the connection. Default 512 MB, Redis's own limit. */
  maxBulk?: number;
}

const DEFAULT_TIMEOUT = 60_000;
const MODES: readonly RedisMode[] = ['short', 'keepalive', 'shared'];
let defaultUrl: string | null = null;

pools.addDrainHook(async () => {
  const all = [...sharedByKey.values()];
  sharedByKey.clear();
  for (const shared of all) shared.close();
});

/** Sets the URL used when connect() is given none (the server does this at start). */
export function configure(options: { url: string }): void {
  parseRedisTarget(options.url);
  defaultUrl = options.url;
}

/** The shared connections, for stats. */
export function sharedConnections(): Array<{ peer: string; status: string }> {
  return [...sharedByKey.values()].map((s) => ({ peer: s.target.peer, status: s.client.status }));
}

function timeoutOf(name: string, value: number | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(
      `redis.connect(): timeouts.${name} must be a number of ms > 0, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * A Redis connection for this coroutine: `const red = yield* redis.connect({ mode: 'keepalive' })`,
 * then `yield* red.get('k')` and `red.setkeepalive()` (or `red.close()`).
 */
export function connect(options: RedisConnectOptions = {}): Effect<RedisClient> {
  const mode = options.mode ?? 'keepalive';
  if (!MODES.includes(mode))
    throw new InvalidArgumentError(`redis.connect(): mode must be one of ${MODES.join(', ')}, got '${String(mode)}'`);
  const target = parseRedisTarget(options.url ?? defaultUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const protocol = options.protocol ?? 2;
  if (protocol !== 2 && protocol !== 3)
    throw new InvalidArgumentError(`redis.connect(): protocol must be 2 or 3, got ${String(protocol)}`);
  const maxBulk = options.maxBulk;
  if (maxBulk !== undefined && (!Number.isInteger(maxBulk) || maxBulk < 1)) {
    throw new InvalidArgumentError(
      `redis.connect(): maxBulk must be a whole number of bytes >= 1, got ${String(maxBulk)}`,
    );
  }
  if (target.tls && mode !== 'shared') {
    throw new InvalidArgumentError(
      `redis.connect(): rediss:// (TLS) works in mode 'shared' only: mode '${mode}' does not speak TLS to Redis yet (use mode: 'shared')`,
    );
  }
  const settings: ConnectSettings = {
    mode,
    connectTimeout: timeoutOf('connect', options.timeouts?.connect),
    readTimeout: timeoutOf('read', options.timeouts?.read),
    protocol,
    maxBulk,
    expectMaster: false,
    pool: options.pool,
    poolSize: options.poolSize,
    backlog: options.backlog,
    idleTimeout: options.idleTimeout,
  };
  if (target.topology === 'cluster' && mode !== 'shared') return call(connectCluster, target, settings);
  if (target.topology === 'sentinel' && mode !== 'shared')
    return call(connectThroughSentinel, target, { ...settings, expectMaster: true });
  return connectServer(target, settings);
}
