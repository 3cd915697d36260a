import { InvalidArgumentError } from '../../src/errors.js';
import { KeepalivePool } from '../../src/pool/keepalive-pool.js';
import type { Lease } from '../../src/pool/keepalive-pool.js';
import { pools } from '../../src/pool/registry.js';
import { Effect } from '../../src/runtime/effect.js';
import type { EffectKind } from '../../src/runtime/effect.js';
import type { Task } from '../../src/runtime/task.js';
import { RedisClient } from './client.js';
import type { RedisMode } from './client.js';
import { RedisConnection } from './connection.js';
import { SharedRedis } from './shared.js';
import { parseRedisTarget } from './url.js';
import type { RedisTarget } from './url.js';

export { RedisClient, RedisBatch } from './client.js';
export type { BatchResult, RedisArg, RedisMode } from './client.js';
export type { PubSubMessage } from './connection.js';
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
export type { RedisTarget } from './url.js';

export interface RedisConnectOptions {
  /** redis://[user:pass@]host:port/db. Default: the one given to configure(), else $REDIS_URL, else redis://127.0.0.1:6379. */
  url?: string;
  /** Default 'keepalive'. */
  mode?: RedisMode;
  /** keepalive pool name; default from the URL: host:port/db plus user and a hash of the password. */
  pool?: string;
  poolSize?: number;
  backlog?: number;
  idleTimeout?: number;
  /** ms: connect (also the wait for a pooled connection) and read (per command). Default 60 s each. */
  timeouts?: { connect?: number; read?: number };
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
  pool: KeepalivePool<RedisConnection> | null;
  connectTimeout: number;
  readTimeout: number;
}

interface PendingConnect {
  abandoned: boolean;
}

function settleConnect(task: Task<unknown>, wait: PendingConnect, make: () => RedisClient, undo: () => void): void {
  if (wait.abandoned) {
    undo();
    return;
  }
  task.settleWait(make(), false);
}

const CONNECT: EffectKind = {
  name: 'redis.connect',
  start(task, effect) {
    const request = effect.a as ConnectRequest;
    const { mode, target, readTimeout } = request;
    if (mode === 'shared') {
      let shared = sharedByKey.get(target.key);
      if (shared === undefined) {
        shared = new SharedRedis(target, request.connectTimeout);
        sharedByKey.set(target.key, shared);
      }
      const state = shared.readyOrError();
      const make = (): RedisClient => new RedisClient('shared', target.peer, task.root, readTimeout, null, shared!.client);
      if (state === null) {
        task.settleWait(make(), false);
        return;
      }
      if (state !== 'wait') throw state;
      const wait: PendingConnect = { abandoned: false };
      task.waitHandle = wait;
      shared.waitReady(request.connectTimeout).then(
        () => settleConnect(task, wait, make, () => {}),
        (err: unknown) => {
          if (!wait.abandoned) task.settleWait(err, true);
        },
      );
      return;
    }
    const wait: PendingConnect = { abandoned: false };
    task.waitHandle = wait;
    if (mode === 'short') {
      RedisConnection.open(target, request.connectTimeout).then(
        (conn) =>
          settleConnect(
            task,
            wait,
            () => new RedisClient('short', target.peer, task.root, readTimeout, { conn, pool: null, lease: null }, null),
            () => conn.destroy(),
          ),
        (err: unknown) => {
          if (!wait.abandoned) task.settleWait(err, true);
        },
      );
      return;
    }
    const pool = request.pool!;
    const idle = pool.tryAcquireIdle();
    if (idle !== null) {
      task.waitHandle = null;
      task.settleWait(new RedisClient('keepalive', target.peer, task.root, readTimeout, { conn: idle.connection!, pool, lease: idle }, null), false);
      return;
    }
    pool.acquire().then(
      (lease: Lease<RedisConnection>) =>
        settleConnect(
          task,
          wait,
          () => new RedisClient('keepalive', target.peer, task.root, readTimeout, { conn: lease.connection!, pool, lease }, null),
          () => pool.discard(lease),
        ),
      (err: unknown) => {
        if (!wait.abandoned) task.settleWait(err, true);
      },
    );
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
  const connectTimeout = timeoutOf('connect', options.timeouts?.connect);
  const readTimeout = timeoutOf('read', options.timeouts?.read);
  let pool: KeepalivePool<RedisConnection> | null = null;
  if (mode === 'keepalive') {
    const name = options.pool ?? target.key;
    pool = pools.get('redis', name, () =>
      new KeepalivePool<RedisConnection>(
        {
          name,
          ...(options.poolSize === undefined ? {} : { size: options.poolSize }),
          ...(options.backlog === undefined ? {} : { backlog: options.backlog }),
          ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
          acquireTimeout: connectTimeout,
        },
        {
          create: () => RedisConnection.open(target, connectTimeout),
          destroy: (conn) => conn.destroy(),
          isAlive: (conn) => conn.isAlive(),
        },
      ),
    );
  }
  return new Effect<RedisClient>(CONNECT, { mode, target, pool, connectTimeout, readTimeout } satisfies ConnectRequest);
}
