// Socket and pool errors. Messages follow OpenResty's where users know them: "timeout", "closed", ...
import { CosocketError } from './base.js';
import type { ErrorCode } from './table.js';

/** Base of every socket error; `op` is what was being done: connect, send, receive, acquire, setkeepalive. */
export abstract class SocketError extends CosocketError {
  readonly op: string;
  readonly peer: string;

  constructor(code: ErrorCode, op: string, peer: string, message: string, options?: { cause?: unknown }) {
    super(code, `${op} ${peer}: ${message}`, options);
    this.op = op;
    this.peer = peer;
  }
}

/** The operation took longer than its timeout. A read timeout leaves the socket usable. */
export class SocketTimeoutError extends SocketError {
  readonly ms: number;

  constructor(op: string, peer: string, ms: number) {
    super('COSOCKET_ERR_SOCKET_TIMEOUT', op, peer, `timeout (${ms} ms)`);
    this.ms = ms;
  }
}

/** The connection is closed (by the peer, or earlier by us). `partial` holds what was read before. */
export class SocketClosedError extends SocketError {
  readonly partial: Buffer | undefined;

  constructor(op: string, peer: string, partial?: Buffer, detail = 'closed') {
    super('COSOCKET_ERR_SOCKET_CLOSED', op, peer, detail);
    this.partial = partial;
  }
}

/** The peer refused the connection (ECONNREFUSED): 502 from a handler. */
export class ConnectionRefusedError extends SocketError {
  constructor(peer: string, options?: { cause?: unknown }) {
    super('COSOCKET_ERR_CONNECTION_REFUSED', 'connect', peer, 'connection refused', options);
  }
}

/** The peer reset the connection (ECONNRESET): 502 from a handler. */
export class ConnectionResetError extends SocketError {
  constructor(op: string, peer: string, options?: { cause?: unknown }) {
    super('COSOCKET_ERR_CONNECTION_RESET', op, peer, 'connection reset by peer', options);
  }
}

/** The pool's size is reached and its backlog of waiting connects is full. */
export class PoolBacklogFullError extends SocketError {
  readonly pool: string;

  constructor(pool: string, size: number, backlog: number) {
    super(
      'COSOCKET_ERR_POOL_BACKLOG_FULL',
      'connect',
      pool,
      `too many waiting connect operations (pool '${pool}': ${size} open, ${backlog} waiting)`,
    );
    this.pool = pool;
  }
}

/** Connects to the pool failed repeatedly and the next attempt is not due yet: refused at once. */
export class ConnectBackoffError extends SocketError {
  constructor(pool: string, last: SocketError, failures: number, retryInMs: number) {
    super(
      'COSOCKET_ERR_CONNECT_BACKOFF',
      'connect',
      pool,
      `${last.message.replace(/^connect \S+: /, '')} (failed ${failures} time(s) in a row; next attempt in ${retryInMs} ms)`,
      { cause: last },
    );
  }
}

/** setkeepalive on a connection that still has unread data or is mid-protocol: it was closed instead. */
export class DubiousStateError extends SocketError {
  constructor(peer: string, why: string) {
    super(
      'COSOCKET_ERR_DUBIOUS_STATE',
      'setkeepalive',
      peer,
      `connection in dubious state (${why}); closed instead of pooled`,
    );
  }
}

/** Any other socket failure, with the system error as its cause. */
export class SocketIOError extends SocketError {
  constructor(op: string, peer: string, cause: unknown) {
    super('COSOCKET_ERR_SOCKET', op, peer, cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** receive('*l') met a line longer than it allows. */
export class LineTooLongError extends SocketError {
  constructor(peer: string, limit: number) {
    super('COSOCKET_ERR_LINE_TOO_LONG', 'receive', peer, `line longer than ${limit} bytes`);
  }
}

/** A second reader (or writer) on a socket that already has one: a bug in the handler, so a 500. */
export class SocketBusyError extends SocketError {
  constructor(op: 'send' | 'receive', peer: string, busyWith: 'reading' | 'writing' | 'both') {
    super('COSOCKET_ERR_SOCKET_BUSY', op, peer, busyWith === 'both' ? 'socket busy' : `socket busy ${busyWith}`);
  }
}

/** A socket or connection used by a coroutine outside the root that connected it. */
export class SocketOwnerError extends CosocketError {
  constructor(op: string, peer: string, what: string, ownerName: string, userName: string | null) {
    super(
      'COSOCKET_ERR_SOCKET_OWNER',
      `${op} ${peer}: this ${what} belongs to coroutine '${ownerName}'${userName === null ? ' and was used outside any coroutine' : `, not '${userName}'`}`,
    );
  }
}

/** The TLS handshake failed for another reason than the certificate check. */
export class TlsHandshakeError extends SocketError {
  constructor(peer: string, detail: string, options?: { cause?: unknown }) {
    super('COSOCKET_ERR_TLS_HANDSHAKE', 'sslhandshake', peer, `TLS handshake failed: ${detail}`, options);
  }
}

/** The peer's certificate failed verification; `reason` is the check's code (UNABLE_TO_VERIFY_LEAF_SIGNATURE...). */
export class TlsVerifyError extends SocketError {
  readonly reason: string;
  readonly servername: string;

  constructor(peer: string, servername: string, reason: string, detail: string, options?: { cause?: unknown }) {
    super(
      'COSOCKET_ERR_TLS_VERIFY',
      'sslhandshake',
      peer,
      `certificate verify failed for '${servername}': ${reason} (${detail})`,
      options,
    );
    this.reason = reason;
    this.servername = servername;
  }
}

/** Maps a system error of a socket operation to the typed error users branch on. */
export function socketErrorFrom(op: string, peer: string, err: unknown): SocketError {
  if (err instanceof SocketError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ECONNREFUSED') return new ConnectionRefusedError(peer, { cause: err });
  if (code === 'ECONNRESET') return new ConnectionResetError(op, peer, { cause: err });
  if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END') {
    return new SocketClosedError(op, peer, undefined, 'closed');
  }
  return new SocketIOError(op, peer, err);
}
