import { InvalidArgumentError } from '../../src/errors/index.js';
import type { KeepalivePool, Lease } from '../../src/pool/keepalive-pool.js';
import { lease, leaseKind } from '../../src/pool/lease-effect.js';
import type { LeaseRequest } from '../../src/pool/lease-effect.js';
import type { Effect } from '../../src/runtime/effect.js';
import type { Task } from '../../src/runtime/task.js';
import type { TcpConnection } from './connection.js';
import { tcpPool, tlsPoolName } from './pools.js';
import { TcpSocket } from './socket.js';
import type { Timeouts } from './socket.js';
import { tlsSettingsOf } from './tls.js';
import type { TlsOptions } from './tls.js';

export { TcpSocket, ReceiveUntilReader } from './socket.js';
export { readBufferStats } from './read-space.js';
export type { SendData, Timeouts } from './socket.js';
export { SslSession } from './tls.js';
export type { Pem, TlsOptions } from './tls.js';

// For protocols built on the tcp cosocket (redis, http): its pooled connections, the queue of received bytes
// a parser reads in place, and a read that runs such a parser.
export { TcpConnection } from './connection.js';
export { NEED_MORE } from './queue-parser.js';
export type { NeedMore, QueueParser } from './queue-parser.js';
export type { ByteQueue } from './byte-queue.js';
export type { Lender } from './read-space.js';
export { parserRead } from './socket.js';
export type { ReadRequest } from './socket.js';

/** Options of `tcp.connect()`: the pool, its size and backlog, timeouts, TLS. */
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
  /**
   * Connect over TLS (the handshake is part of the connect): connections come from a pool of their own
   * for these settings (servername, verify, ca/cert, alpn), and new ones resume the pool's last session.
   */
  tls?: TlsOptions;
}

const DEFAULT_TIMEOUT = 60_000;

const CONNECT = leaseKind('tcp.connect');

/** One connect: its pool, and the timeouts its socket gets. */
class TcpLease implements LeaseRequest<TcpConnection, TcpSocket> {
  constructor(
    readonly source: KeepalivePool<TcpConnection>,
    private readonly timeouts: Timeouts,
  ) {}

  take(connection: Lease<TcpConnection>, owner: Task<unknown>): TcpSocket {
    return new TcpSocket(this.source, connection, owner, this.timeouts);
  }
}

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
  let port = 0;
  let options: ConnectOptions;
  if (host.startsWith('unix:')) {
    if (host.length === 5) throw new InvalidArgumentError("tcp.connect(): 'unix:' needs a socket path");
    options = (portOrOptions as ConnectOptions | undefined) ?? {};
  } else {
    if (typeof host !== 'string' || host === '') throw new InvalidArgumentError('tcp.connect() needs a host');
    if (
      typeof portOrOptions !== 'number' ||
      !Number.isInteger(portOrOptions) ||
      portOrOptions < 1 ||
      portOrOptions > 65535
    ) {
      throw new InvalidArgumentError(
        `tcp.connect(): port must be a whole number from 1 to 65535, got ${typeof portOrOptions === 'object' ? 'an options object' : String(portOrOptions)}`,
      );
    }
    port = portOrOptions;
    options = maybeOptions ?? {};
  }
  const timeouts = timeoutsOf(options.timeouts);
  const name = options.pool ?? peerOf(host, port);
  const tls = options.tls === undefined ? null : tlsSettingsOf(options.tls, host);
  const pool = tcpPool(tls === null ? name : tlsPoolName(name, tls), host, port, tls, timeouts.connect, options);
  return lease(CONNECT, new TcpLease(pool, timeouts));
}

/** What a socket is called in errors: host:port, or unix:/path. */
function peerOf(host: string, port: number): string {
  return port === 0 ? host : `${host}:${port}`;
}

const DEFAULT_TIMEOUTS: Timeouts = { connect: DEFAULT_TIMEOUT, send: DEFAULT_TIMEOUT, read: DEFAULT_TIMEOUT };
/** Timeouts checked before, by the object passed: a caller (the dyups proxy) passes the same one every time. */
const checkedTimeouts = new WeakMap<Partial<Timeouts>, Timeouts>();

/** The timeouts of a connect, each checked, a default where one is missing; never changed once made. */
function timeoutsOf(given: Partial<Timeouts> | undefined): Timeouts {
  if (given === undefined) return DEFAULT_TIMEOUTS;
  const known = checkedTimeouts.get(given);
  if (known !== undefined && known.connect === given.connect && known.send === given.send && known.read === given.read)
    return known;
  const timeouts: Timeouts = {
    connect: timeoutOf('connect', given.connect),
    send: timeoutOf('send', given.send),
    read: timeoutOf('read', given.read),
  };
  // only a whole set is remembered (one with a default filled in would never compare equal)
  if (given.connect !== undefined && given.send !== undefined && given.read !== undefined)
    checkedTimeouts.set(given, timeouts);
  return timeouts;
}
