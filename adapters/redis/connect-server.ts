import { KeepalivePool } from '../../src/pool/keepalive-pool.js';
import type { Lease } from '../../src/pool/keepalive-pool.js';
import { pools } from '../../src/pool/registry.js';
import { defineKind } from '../../src/runtime/effect.js';
import type { Effect, Waiter } from '../../src/runtime/effect.js';
import type { TcpConnection } from '../tcp/connection.js';
import { TcpSocket } from '../tcp/socket.js';
import type { Timeouts } from '../tcp/socket.js';
import { RedisClient } from './client.js';
import type { RedisMode } from './client.js';
import { openRedisConnection } from './connection.js';
import { SharedRedis } from './shared.js';
import type { RedisTarget } from './url.js';

/** The shared (ioredis) connection of each target, by target key. */
export const sharedByKey = new Map<string, SharedRedis>();

/** One connect: the settings, the server, and in keepalive mode the pool its connections come from. */
interface ConnectRequest extends ConnectSettings {
  target: RedisTarget;
  keepalivePool: KeepalivePool<TcpConnection> | null;
}

interface PendingConnect {
  abandoned: boolean;
}

/** A connect's wait: its handle says whether the coroutine stopped waiting (null until it waits). */
type ConnectWaiter = Waiter<PendingConnect | null>;

function socketTimeouts(request: ConnectRequest): Timeouts {
  return { connect: request.connectTimeout, send: request.readTimeout, read: request.readTimeout };
}

function dedicatedClient(waiter: ConnectWaiter, request: ConnectRequest, socket: TcpSocket): RedisClient {
  return new RedisClient(
    request.mode,
    request.target.peer,
    waiter.task.root,
    request.readTimeout,
    socket,
    null,
    request.maxBulk,
  );
}

function connectShared(waiter: ConnectWaiter, request: ConnectRequest): void {
  const { target, readTimeout } = request;
  let shared = sharedByKey.get(target.key);
  if (shared === undefined) {
    shared = new SharedRedis(target, request.connectTimeout);
    sharedByKey.set(target.key, shared);
  }
  const state = shared.readyOrError();
  const client = shared.client;
  const make = (): RedisClient => new RedisClient('shared', target.peer, waiter.task.root, readTimeout, null, client);
  if (state === null) {
    waiter.settleWait(make(), false);
    return;
  }
  if (state !== 'wait') throw state;
  const wait: PendingConnect = { abandoned: false };
  waiter.waitHandle = wait;
  shared.waitReady(request.connectTimeout).then(
    () => {
      if (!wait.abandoned) waiter.settleWait(make(), false);
    },
    (err: unknown) => {
      if (!wait.abandoned) waiter.settleWait(err, true);
    },
  );
}

function connectShort(waiter: ConnectWaiter, request: ConnectRequest): void {
  const wait: PendingConnect = { abandoned: false };
  waiter.waitHandle = wait;
  openRedisConnection(request.target, request.connectTimeout, request.protocol, request.expectMaster).then(
    (conn) => {
      if (wait.abandoned) {
        conn.destroy();
        return;
      }
      waiter.settleWait(
        dedicatedClient(waiter, request, new TcpSocket(null, null, waiter.task.root, socketTimeouts(request), conn)),
        false,
      );
    },
    (err: unknown) => {
      if (!wait.abandoned) waiter.settleWait(err, true);
    },
  );
}

function connectPooled(waiter: ConnectWaiter, request: ConnectRequest): void {
  const pool = request.keepalivePool!;
  const idle = pool.tryAcquireIdle();
  if (idle !== null) {
    idle.connection!.takeFromPool();
    waiter.settleWait(
      dedicatedClient(waiter, request, new TcpSocket(pool, idle, waiter.task.root, socketTimeouts(request))),
      false,
    );
    return;
  }
  const wait: PendingConnect = { abandoned: false };
  waiter.waitHandle = wait;
  pool.acquire().then(
    (lease: Lease<TcpConnection>) => {
      if (wait.abandoned) {
        pool.discard(lease);
        return;
      }
      lease.connection!.takeFromPool();
      waiter.settleWait(
        dedicatedClient(waiter, request, new TcpSocket(pool, lease, waiter.task.root, socketTimeouts(request))),
        false,
      );
    },
    (err: unknown) => {
      if (!wait.abandoned) waiter.settleWait(err, true);
    },
  );
}

const CONNECT = defineKind<ConnectRequest, undefined, PendingConnect | null>({
  name: 'redis.connect',
  start(waiter, request) {
    if (request.mode === 'shared') connectShared(waiter, request);
    else if (request.mode === 'short') connectShort(waiter, request);
    else connectPooled(waiter, request);
  },
  abandon(waiter) {
    const wait = waiter.waitHandle;
    if (wait !== null) wait.abandoned = true;
  },
});

/** What connect() settled on, for one server: how to open, pool and read its connections. */
export interface ConnectSettings {
  mode: RedisMode;
  connectTimeout: number;
  readTimeout: number;
  protocol: 2 | 3;
  maxBulk: number | undefined;
  /** The connection must be to a master (checked with ROLE when it opens): a sentinel named it. */
  expectMaster: boolean;
  pool: string | undefined;
  poolSize: number | undefined;
  backlog: number | undefined;
  idleTimeout: number | undefined;
}

/** @internal A connection to one server (a single target, or a node a cluster or sentinel named). */
export function connectServer(target: RedisTarget, settings: ConnectSettings): Effect<RedisClient> {
  const { mode, connectTimeout, protocol, expectMaster } = settings;
  let pool: KeepalivePool<TcpConnection> | null = null;
  if (mode === 'keepalive') {
    const name = settings.pool ?? `${target.key}${protocol === 3 ? '#resp3' : ''}${expectMaster ? '#master' : ''}`;
    pool = pools.get(
      'redis',
      name,
      () =>
        new KeepalivePool<TcpConnection>(
          {
            name,
            ...(settings.poolSize === undefined ? {} : { size: settings.poolSize }),
            ...(settings.backlog === undefined ? {} : { backlog: settings.backlog }),
            ...(settings.idleTimeout === undefined ? {} : { idleTimeout: settings.idleTimeout }),
            acquireTimeout: connectTimeout,
          },
          {
            create: () => openRedisConnection(target, connectTimeout, protocol, expectMaster),
            destroy: (conn) => conn.destroy(),
            isAlive: (conn) => conn.isAlive(),
          },
        ),
    );
  }
  return CONNECT({ ...settings, target, keepalivePool: pool });
}
