import { KeepalivePool } from '../../src/pool/keepalive-pool.js';
import type { Lease } from '../../src/pool/keepalive-pool.js';
import { UnpooledSource, lease, leaseKind } from '../../src/pool/lease-effect.js';
import type { LeaseRequest, LeaseSource } from '../../src/pool/lease-effect.js';
import { pools } from '../../src/pool/registry.js';
import { defineKind } from '../../src/runtime/effect.js';
import type { Effect } from '../../src/runtime/effect.js';
import type { Task } from '../../src/runtime/task.js';
import { TcpSocket } from '../tcp/index.js';
import type { TcpConnection, Timeouts } from '../tcp/index.js';
import { RedisClient } from './client.js';
import type { RedisMode } from './client.js';
import { openRedisConnection } from './connection.js';
import { SharedRedis } from './shared.js';
import type { RedisTarget } from './url.js';

/** The shared (ioredis) connection of each target, by target key. */
export const sharedByKey = new Map<string, SharedRedis>();

const CONNECT = leaseKind('redis.connect');

/** A short or keepalive connect: where its connection comes from, and the client made of it. */
class RedisLease implements LeaseRequest<TcpConnection, RedisClient> {
  private readonly timeouts: Timeouts;

  constructor(
    readonly source: LeaseSource<TcpConnection>,
    /** keepalive mode: the pool the connection goes back to; short mode: null */
    private readonly pool: KeepalivePool<TcpConnection> | null,
    private readonly target: RedisTarget,
    private readonly settings: ConnectSettings,
  ) {
    this.timeouts = { connect: settings.connectTimeout, send: settings.readTimeout, read: settings.readTimeout };
  }

  take(connection: Lease<TcpConnection>, owner: Task<unknown>): RedisClient {
    const { settings, pool } = this;
    const socket =
      pool === null
        ? new TcpSocket(null, null, owner, this.timeouts, connection.connection!)
        : new TcpSocket(pool, connection, owner, this.timeouts);
    return new RedisClient(
      settings.mode,
      this.target.peer,
      owner,
      settings.readTimeout,
      socket,
      null,
      settings.maxBulk,
    );
  }
}

/** A shared-mode connect: the target's one ioredis connection, once it is ready. */
interface SharedConnect {
  target: RedisTarget;
  settings: ConnectSettings;
}

interface PendingConnect {
  abandoned: boolean;
}

const SHARED_CONNECT = defineKind<SharedConnect, undefined, PendingConnect>({
  name: 'redis.connect',
  start(waiter, { target, settings }) {
    let shared = sharedByKey.get(target.key);
    if (shared === undefined) {
      shared = new SharedRedis(target, settings.connectTimeout);
      sharedByKey.set(target.key, shared);
    }
    const state = shared.readyOrError();
    const client = shared.client;
    const make = (): RedisClient =>
      new RedisClient('shared', target.peer, waiter.task.root, settings.readTimeout, null, client);
    if (state === null) {
      waiter.settleWait(make(), false);
      return;
    }
    if (state !== 'wait') throw state;
    const wait: PendingConnect = { abandoned: false };
    waiter.waitHandle = wait;
    shared.waitReady(settings.connectTimeout).then(
      () => {
        if (!wait.abandoned) waiter.settleWait(make(), false);
      },
      (err: unknown) => {
        if (!wait.abandoned) waiter.settleWait(err, true);
      },
    );
  },
  abandon(waiter) {
    waiter.waitHandle.abandoned = true;
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
  if (mode === 'shared') return SHARED_CONNECT<RedisClient>({ target, settings });
  if (mode === 'short') {
    const source = new UnpooledSource(
      () => openRedisConnection(target, connectTimeout, protocol, expectMaster),
      (conn: TcpConnection) => conn.destroy(),
    );
    return lease(CONNECT, new RedisLease(source, null, target, settings));
  }
  const name = settings.pool ?? `${target.key}${protocol === 3 ? '#resp3' : ''}${expectMaster ? '#master' : ''}`;
  const pool = pools.get(
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
  return lease(CONNECT, new RedisLease(pool, pool, target, settings));
}
