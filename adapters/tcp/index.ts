import { InvalidArgumentError } from '../../src/errors.js';
import { KeepalivePool } from '../../src/pool/keepalive-pool.js';
import { pools } from '../../src/pool/registry.js';
import { defineKind } from '../../src/runtime/effect.js';
import type { Effect } from '../../src/runtime/effect.js';
import { TcpConnection } from './connection.js';
import type { Target } from './connection.js';
import { TcpSocket } from './socket.js';
import type { Timeouts } from './socket.js';

export { TcpSocket, ReceiveUntilReader } from './socket.js';
export { readBufferStats } from './read-space.js';
export type { SendData, Timeouts } from './socket.js';

export interface ConnectOptions {
  /** Pool name; default `host:port` (or `unix:/path`). Connections are only reused within a pool. */
  pool?: string;
  /** Most connections of the pool open at once (used when the pool is created). Default 30. */
  poolSize?: number;
  /** Connects that may wait beyond poolSize; past it: "too many waiting connect operations". Default: no limit. */
  backlog?: number;
  /** ms; each defaults to 60 s like OpenResty's lua_socket_*_timeout. */
  timeouts?: Partial<Timeouts>;
  /** Idle connections of the pool are closed after this long. Default 60 s. */
  idleTimeout?: number;
}

const DEFAULT_TIMEOUT = 60_000;

interface ConnectRequest {
  pool: KeepalivePool<TcpConnection>;
  timeouts: Timeouts;
}

interface PendingConnect {
  abandoned: boolean;
}

const CONNECT = defineKind<ConnectRequest, undefined, PendingConnect>({
  name: 'tcp.connect',
  start(waiter, { pool, timeouts }) {
    const idle = pool.tryAcquireIdle();
    if (idle !== null) {
      idle.connection!.takeFromPool();
      waiter.settleWait(new TcpSocket(pool, idle, waiter.task.root, timeouts), false);
      return;
    }
    const wait: PendingConnect = { abandoned: false };
    waiter.waitHandle = wait;
    pool.acquire().then(
      (lease) => {
        if (wait.abandoned) {
          pool.discard(lease);
          return;
        }
        lease.connection!.takeFromPool();
        waiter.settleWait(new TcpSocket(pool, lease, waiter.task.root, timeouts), false);
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

function timeoutOf(name: string, value: number | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`tcp.connect(): timeouts.${name} must be a number of ms > 0, got ${String(value)}`);
  }
  return value;
}

/**
 * Connects, or takes an idle connection from the pool: `const sock = yield* tcp.connect('127.0.0.1', 6379)`,
 * or `tcp.connect('unix:/run/app.sock')`. Pool settings come from the connect that creates the pool.
 */
export function connect(host: string, port: number, options?: ConnectOptions): Effect<TcpSocket>;
export function connect(unixPath: `unix:${string}`, options?: ConnectOptions): Effect<TcpSocket>;
export function connect(
  host: string,
  portOrOptions?: number | ConnectOptions,
  maybeOptions?: ConnectOptions,
): Effect<TcpSocket> {
  let target: Target;
  let peer: string;
  let options: ConnectOptions;
  if (host.startsWith('unix:')) {
    const path = host.slice(5);
    if (path === '') throw new InvalidArgumentError("tcp.connect(): 'unix:' needs a socket path");
    target = { path };
    peer = host;
    options = (portOrOptions as ConnectOptions | undefined) ?? {};
  } else {
    const port = portOrOptions;
    if (typeof host !== 'string' || host === '') throw new InvalidArgumentError('tcp.connect() needs a host');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidArgumentError(`tcp.connect(): port must be a whole number from 1 to 65535, got ${String(port)}`);
    }
    target = { host, port };
    peer = `${host}:${port}`;
    options = maybeOptions ?? {};
  }
  const timeouts: Timeouts = {
    connect: timeoutOf('connect', options.timeouts?.connect),
    send: timeoutOf('send', options.timeouts?.send),
    read: timeoutOf('read', options.timeouts?.read),
  };
  const name = options.pool ?? peer;
  const pool = pools.get(
    'tcp',
    name,
    () =>
      new KeepalivePool<TcpConnection>(
        {
          name,
          ...(options.poolSize === undefined ? {} : { size: options.poolSize }),
          ...(options.backlog === undefined ? {} : { backlog: options.backlog }),
          ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
          acquireTimeout: timeouts.connect,
        },
        {
          create: () => TcpConnection.open(target, peer, timeouts.connect),
          destroy: (conn) => conn.destroy(),
          isAlive: (conn) => conn.isAlive(),
        },
      ),
  );
  return CONNECT({ pool, timeouts });
}
