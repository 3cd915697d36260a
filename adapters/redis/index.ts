import { InvalidArgumentError } from '../../src/errors.js';
import { KeepalivePool } from '../../src/pool/keepalive-pool.js';
import type { Lease } from '../../src/pool/keepalive-pool.js';
import { pools } from '../../src/pool/registry.js';
import { Effect } from '../../src/runtime/effect.js';
import type { EffectKind } from '../../src/runtime/effect.js';
import type { Task } from '../../src/runtime/task.js';
import type { TcpConnection } from '../tcp/connection.js';
import { TcpSocket } from '../tcp/socket.js';
import type { Timeouts } from '../tcp/socket.js';
import { RedisClient } from './client.js';
import type { RedisMode } from './client.js';
import { openRedisConnection } from './connection.js';
import { SharedRedis } from './shared.js';
import { parseRedisTarget } from './url.js';
import type { RedisTarget } from './url.js';

export { RedisClient, RedisBatch } from './client.js';
export type { BatchResult, CommandSpec, PubSubMessage, RedisArg, RedisMode } from './client.js';
export { parseRedisTarget } from './url.js';
export type { RedisAddress, RedisTarget, RedisTopology } from './url.js';
export { DEFAULT_MAX_BULK } from './resp.js';

export interface RedisConnectOptions {
  /**
   * redis://[user:pass@]host:port/db, rediss://..., unix:///path?db=N, redis+cluster://h1:p1,h2:p2 or
   * redis+sentinel://h1:p1,h2:p2/db?name=mymaster (cluster and sentinel: mode 'shared' only, for now).
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
const sharedByKey = new Map<string, SharedRedis>();

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

interface ConnectRequest {
  mode: RedisMode;
  target: RedisTarget;
  pool: KeepalivePool<TcpConnection> | null;
  connectTimeout: number;
  readTimeout: number;
  protocol: 2 | 3;
  maxBulk: number | undefined;
}

interface PendingConnect {
  abandoned: boolean;
}

function socketTimeouts(request: ConnectRequest): Timeouts {
  return { connect: request.connectTimeout, send: request.readTimeout, read: request.readTimeout };
}

function dedicatedClient(task: Task<unknown>, request: ConnectRequest, socket: TcpSocket): RedisClient {
  return new RedisClient(request.mode, request.target.peer, task.root, request.readTimeout, socket, null, request.maxBulk);
}

function connectShared(task: Task<unknown>, request: ConnectRequest): void {
  const { target, readTimeout } = request;
  let shared = sharedByKey.get(target.key);
  if (shared === undefined) {
    shared = new SharedRedis(target, request.connectTimeout);
    sharedByKey.set(target.key, shared);
  }
  const state = shared.readyOrError();
  const client = shared.client;
  const make = (): RedisClient => new RedisClient('shared', target.peer, task.root, readTimeout, null, client);
  if (state === null) {
    task.settleWait(make(), false);
    return;
  }
  if (state !== 'wait') throw state;
  const wait: PendingConnect = { abandoned: false };
  task.waitHandle = wait;
  shared.waitReady(request.connectTimeout).then(
    () => {
      if (!wait.abandoned) task.settleWait(make(), false);
    },
    (err: unknown) => {
      if (!wait.abandoned) task.settleWait(err, true);
    },
  );
}

function connectShort(task: Task<unknown>, request: ConnectRequest): void {
  const wait: PendingConnect = { abandoned: false };
  task.waitHandle = wait;
  openRedisConnection(request.target, request.connectTimeout, request.protocol).then(
    (conn) => {
      if (wait.abandoned) {
        conn.destroy();
        return;
      }
      task.settleWait(dedicatedClient(task, request, new TcpSocket(null, null, task.root, socketTimeouts(request), conn)), false);
    },
    (err: unknown) => {
      if (!wait.abandoned) task.settleWait(err, true);
    },
  );
}

function connectPooled(task: Task<unknown>, request: ConnectRequest): void {
  const pool = request.pool!;
  const idle = pool.tryAcquireIdle();
  if (idle !== null) {
    idle.connection!.takeFromPool();
    task.settleWait(dedicatedClient(task, request, new TcpSocket(pool, idle, task.root, socketTimeouts(request))), false);
    return;
  }
  const wait: PendingConnect = { abandoned: false };
  task.waitHandle = wait;
  pool.acquire().then(
    (lease: Lease<TcpConnection>) => {
      if (wait.abandoned) {
        pool.discard(lease);
        return;
      }
      lease.connection!.takeFromPool();
      task.settleWait(dedicatedClient(task, request, new TcpSocket(pool, lease, task.root, socketTimeouts(request))), false);
    },
    (err: unknown) => {
      if (!wait.abandoned) task.settleWait(err, true);
    },
  );
}

const CONNECT: EffectKind = {
  name: 'redis.connect',
  start(task, effect) {
    const request = effect.a as ConnectRequest;
    if (request.mode === 'shared') connectShared(task, request);
    else if (request.mode === 'short') connectShort(task, request);
    else connectPooled(task, request);
  },
  abandon(task) {
    const wait = task.waitHandle as PendingConnect | null;
    if (wait !== null) wait.abandoned = true;
  },
};

function timeoutOf(name: string, value: number | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`redis.connect(): timeouts.${name} must be a number of ms > 0, got ${String(value)}`);
  }
  return value;
}

/**
 * A Redis connection for this coroutine: `const red = yield* redis.connect({ mode: 'keepalive' })`,
 * then `yield* red.get('k')` and `red.setkeepalive()` (or `red.close()`).
 */
export function connect(options: RedisConnectOptions = {}): Effect<RedisClient> {
  const mode = options.mode ?? 'keepalive';
  if (!MODES.includes(mode)) throw new InvalidArgumentError(`redis.connect(): mode must be one of ${MODES.join(', ')}, got '${String(mode)}'`);
  const target = parseRedisTarget(options.url ?? defaultUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (target.topology !== 'single' && mode !== 'shared') {
    throw new InvalidArgumentError(
      `redis.connect(): a redis+${target.topology}:// URL needs mode 'shared' for now (mode '${mode}' against a ${target.topology} is not built yet)`,
    );
  }
  const connectTimeout = timeoutOf('connect', options.timeouts?.connect);
  const readTimeout = timeoutOf('read', options.timeouts?.read);
  const protocol = options.protocol ?? 2;
  if (protocol !== 2 && protocol !== 3) throw new InvalidArgumentError(`redis.connect(): protocol must be 2 or 3, got ${String(protocol)}`);
  const maxBulk = options.maxBulk;
  if (maxBulk !== undefined && (!Number.isInteger(maxBulk) || maxBulk < 1)) {
    throw new InvalidArgumentError(`redis.connect(): maxBulk must be a whole number of bytes >= 1, got ${String(maxBulk)}`);
  }
  if (target.tls && mode !== 'shared') {
    throw new InvalidArgumentError(`redis.connect(): rediss:// (TLS) works in mode 'shared' only for now: the tcp cosocket has no TLS yet`);
  }
  let pool: KeepalivePool<TcpConnection> | null = null;
  if (mode === 'keepalive') {
    const name = options.pool ?? (protocol === 3 ? `${target.key}#resp3` : target.key);
    pool = pools.get('redis', name, () =>
      new KeepalivePool<TcpConnection>(
        {
          name,
          ...(options.poolSize === undefined ? {} : { size: options.poolSize }),
          ...(options.backlog === undefined ? {} : { backlog: options.backlog }),
          ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
          acquireTimeout: connectTimeout,
        },
        {
          create: () => openRedisConnection(target, connectTimeout, protocol),
          destroy: (conn) => conn.destroy(),
          isAlive: (conn) => conn.isAlive(),
        },
      ),
    );
  }
  return new Effect<RedisClient>(CONNECT, { mode, target, pool, connectTimeout, readTimeout, protocol, maxBulk } satisfies ConnectRequest);
}
