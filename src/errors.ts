/**
 * Every error cosocket throws on purpose is created here, each with a stable `code`
 * (fastify's convention) so callers can branch on `err.code` instead of messages.
 */

export class CosocketError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export type CancelKind = 'client-abort' | 'deadline' | 'parent' | 'budget' | 'explicit';

const CANCEL_KINDS: ReadonlySet<string> = new Set<CancelKind>([
  'client-abort',
  'deadline',
  'parent',
  'budget',
  'explicit',
]);

/** Why a coroutine was cancelled. `detail` is free text for logs. */
export class CancelReason {
  readonly kind: CancelKind;
  readonly detail: string;

  constructor(kind: CancelKind, detail = '') {
    if (!CANCEL_KINDS.has(kind)) throw new TypeError(`unknown cancel reason kind: ${String(kind)}`);
    this.kind = kind;
    this.detail = detail;
  }

  static explicit(detail = 'cancelled'): CancelReason {
    return new CancelReason('explicit', detail);
  }

  static clientAbort(detail = 'client went away'): CancelReason {
    return new CancelReason('client-abort', detail);
  }

  static deadline(detail = 'deadline passed'): CancelReason {
    return new CancelReason('deadline', detail);
  }

  static parent(detail = 'parent coroutine was cancelled'): CancelReason {
    return new CancelReason('parent', detail);
  }

  static budget(detail = 'budget exceeded'): CancelReason {
    return new CancelReason('budget', detail);
  }

  toString(): string {
    return this.detail ? `${this.kind}: ${this.detail}` : this.kind;
  }
}

/** What a cancelled Task rejects with. */
export class CancelledError extends CosocketError {
  readonly reason: CancelReason;
  /** Errors thrown by `finally` blocks while the coroutine was being unwound. */
  readonly cleanupErrors: unknown[];

  constructor(taskName: string, reason: CancelReason, cleanupErrors: unknown[] = []) {
    super('COSOCKET_ERR_CANCELLED', `coroutine '${taskName}' was cancelled (${reason.toString()})`);
    this.reason = reason;
    this.cleanupErrors = cleanupErrors;
  }
}

/** The concurrency budget and its wait queue are both full. The HTTP layer answers 503. */
export class BudgetExceededError extends CosocketError {
  readonly limit: number;
  readonly backlog: number;

  constructor(schedulerName: string, limit: number, backlog: number) {
    super(
      'COSOCKET_ERR_BUDGET_EXCEEDED',
      `scheduler '${schedulerName}' is at its concurrency budget (${limit} live) and its wait queue is full (${backlog} queued)`,
    );
    this.limit = limit;
    this.backlog = backlog;
  }
}

/** A call/spawn would nest deeper than the scheduler's maxDepth. */
export class StackBudgetError extends CosocketError {
  readonly chain: readonly string[];
  readonly maxDepth: number;

  constructor(chain: readonly string[], maxDepth: number, options?: { cause?: unknown }) {
    super(
      'COSOCKET_ERR_STACK_BUDGET',
      options?.cause instanceof RangeError
        ? `coroutine ran out of JavaScript stack (unbounded yield* recursion?) in: ${formatChain(chain)}; use call() for nesting the scheduler can count`
        : `coroutine nesting exceeds the stack budget of ${maxDepth}: ${formatChain(chain)}`,
      options,
    );
    this.chain = chain;
    this.maxDepth = maxDepth;
  }
}

/** `timeout(ms, op)` or a timed acquire ran out of time. */
export class TimeoutError extends CosocketError {
  readonly ms: number;

  constructor(what: string, ms: number) {
    super('COSOCKET_ERR_TIMEOUT', `${what} timed out after ${ms} ms`);
    this.ms = ms;
  }
}

/** A coroutine yielded something the runtime cannot wait on. */
export class InvalidYieldError extends CosocketError {
  constructor(taskName: string, value: unknown) {
    super(
      'COSOCKET_ERR_INVALID_YIELD',
      `coroutine '${taskName}' yielded ${describe(value)}; use yield* with an effect (sleep, call, ...) or yield a promise`,
    );
  }
}

/** An argument to a runtime function is out of range or of the wrong type. */
export class InvalidArgumentError extends CosocketError {
  constructor(message: string) {
    super('COSOCKET_ERR_INVALID_ARGUMENT', message);
  }
}

const CHAIN = Symbol.for('cosocket.coroutineChain');

export function formatChain(chain: readonly string[]): string {
  return chain.join(' > ');
}

/**
 * Records on an error the chain of coroutine names it passed through, innermost first recorded wins,
 * and appends it to the stack so loggers show it. Non-objects are left alone.
 */
export function annotateChain(err: unknown, chain: readonly string[]): void {
  if (typeof err !== 'object' || err === null) return;
  if (Object.prototype.hasOwnProperty.call(err, CHAIN)) return;
  if (!Object.isExtensible(err)) return;
  Object.defineProperty(err, CHAIN, { value: chain, enumerable: false });
  if (err instanceof Error && typeof err.stack === 'string') {
    err.stack += `\n    in coroutine chain: ${formatChain(chain)}`;
  }
}

/** The chain of coroutine names an error passed through, or undefined when it came from elsewhere. */
export function coroutineChain(err: unknown): readonly string[] | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as Record<symbol, readonly string[] | undefined>)[CHAIN];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'}); did you mean yield* call(fn)?`;
  return `${typeof value} ${String(value)}`;
}

// ---- sockets and pools (messages follow OpenResty's where users know them: "timeout", "closed", ...) ----

/** Base of every socket error; `op` is what was being done: connect, send, receive, acquire. */
export class SocketError extends CosocketError {
  readonly op: string;
  readonly peer: string;

  constructor(code: string, op: string, peer: string, message: string, options?: { cause?: unknown }) {
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

export class ConnectionRefusedError extends SocketError {
  constructor(peer: string, options?: { cause?: unknown }) {
    super('COSOCKET_ERR_CONNECTION_REFUSED', 'connect', peer, 'connection refused', options);
  }
}

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

/**
 * An error reply from Redis (`-ERR ...`, `-WRONGTYPE ...`, `-MOVED 3999 10.0.0.1:6381`, RESP3 `!...`).
 * The message is Redis's text, untouched; `redisCode` is its first word (ERR, WRONGTYPE, MOVED, ASK,
 * NOSCRIPT, BUSY, NOAUTH, READONLY, EXECABORT...). The connection stays usable.
 */
export class RedisReplyError extends CosocketError {
  readonly redisCode: string;

  constructor(text: string) {
    super('COSOCKET_ERR_REDIS_REPLY', text);
    const space = text.indexOf(' ');
    this.redisCode = space > 0 ? text.slice(0, space) : text;
  }
}

/** Redis (or whatever answered) broke RESP, or a reply passed a limit (maxBulk): the connection is closed. */
export class RedisProtocolError extends SocketError {
  constructor(op: string, peer: string, message: string) {
    super('COSOCKET_ERR_REDIS_PROTOCOL', op, peer, message);
  }
}

/** No sentinel named a master, or the server a sentinel named is not the master (yet). */
export class RedisSentinelError extends SocketError {
  constructor(peer: string, message: string) {
    super('COSOCKET_ERR_REDIS_SENTINEL', 'connect', peer, message);
  }
}

/** A Redis reply did not have the shape its command's typed method promises (the command still ran). */
export class UnexpectedReplyError extends CosocketError {
  readonly command: string;

  constructor(command: string, detail: string) {
    super('COSOCKET_ERR_REDIS_UNEXPECTED_REPLY', `redis ${command.toUpperCase()}: unexpected reply: ${detail}`);
    this.command = command;
  }
}

/** An upstream broke HTTP/1.1: bad status line, header, chunk framing, or a limit was passed. */
export class HttpProtocolError extends CosocketError {
  readonly peer: string;

  constructor(peer: string, message: string) {
    super('COSOCKET_ERR_HTTP_PROTOCOL', `${peer}: ${message}`);
    this.peer = peer;
  }
}

/** A Redis Cluster node answered CLUSTER SLOTS (or a redirect) with something that is not a slot table. */
export class RedisClusterReplyError extends CosocketError {
  constructor(message: string) {
    super('COSOCKET_ERR_REDIS_CLUSTER_REPLY', message);
  }
}

/** No seed and no known master of a Redis Cluster answered CLUSTER SLOTS: each one's failure is in the message. */
export class RedisClusterDownError extends SocketError {
  constructor(peer: string, failures: readonly string[]) {
    super(
      'COSOCKET_ERR_REDIS_CLUSTER_DOWN',
      'connect',
      peer,
      `no cluster node answered CLUSTER SLOTS (${failures.join('; ') || 'no node to ask'})`,
    );
  }
}

/** A client's request body could not be passed on: too large (413), too slow (408), or cut off (400). */
export class RequestBodyError extends CosocketError {
  constructor(
    code: 'COSOCKET_ERR_BODY_TOO_LARGE' | 'COSOCKET_ERR_BODY_TIMEOUT' | 'COSOCKET_ERR_BODY_ABORTED',
    message: string,
    readonly statusCode: 413 | 408 | 400,
  ) {
    super(code, message);
  }
}
