// Over 300 lines: TcpSocket is OpenResty's tcpsock, one class whose reads, writes and keepalive share its state.
import {
  InvalidArgumentError,
  LineTooLongError,
  SocketBusyError,
  SocketClosedError,
  SocketTimeoutError,
  TlsHandshakeError,
  socketErrorFrom,
} from '../../src/errors/index.js';
import type { SocketError } from '../../src/errors/index.js';
import type { KeepalivePool, Lease } from '../../src/pool/keepalive-pool.js';
import { OwnedConnection } from '../../src/pool/owned-connection.js';
import { defineKind } from '../../src/runtime/effect.js';
import { IdleTimeout } from '../../src/runtime/idle-timeout.js';
import type { Effect, Waiter } from '../../src/runtime/effect.js';
import { currentTask } from '../../src/runtime/task.js';
import type { Task } from '../../src/runtime/task.js';
import type { Lender } from './read-space.js';
import { NEED_MORE } from './queue-parser.js';
import type { QueueParser } from './queue-parser.js';
import type { TcpConnection } from './connection.js';
import { deferWrites } from '../write-batch.js';
import { tcpPool, tlsPoolName } from './pools.js';
import { tlsSettingsOf } from './tls.js';
import type { SslSession, TlsOptions } from './tls.js';

/** A socket's timeouts in ms: connect, each send, each read (OpenResty's settimeouts). */
export interface Timeouts {
  connect: number;
  send: number;
  read: number;
}

/** Data `send` accepts: bytes, text (UTF-8), or a list of them sent as one write. */
export type SendData = Buffer | Uint8Array | string | ReadonlyArray<Buffer | Uint8Array | string>;

const LF = Buffer.from('\n');

const BYTES = 0;
const LINE = 1;
const ALL = 2;
const ANY = 3;
const UNTIL = 4;
const MORE = 5;
/** a line as latin1: each byte one char, as HTTP header fields are */
const BYTE_LINE = 6;
/** whatever a protocol parser makes of the bytes */
const PARSE = 7;

/** What one receive asks for. */
class ReadRequest {
  constructor(
    readonly mode: number,
    readonly n: number,
    readonly pattern: Buffer | null,
    readonly inclusive: boolean,
    /** streaming receiveuntil: told when a piece ended with the pattern */
    readonly until: ReceiveUntilReader | null = null,
    readonly parser: QueueParser | null = null,
  ) {}
}

/**
 * A read for a protocol parser (made once, reused for every read of that parser). What the parser
 * returns is the result; an Error it returns fails the read without closing the socket (an error
 * reply of the protocol), an error it throws closes the socket (the peer broke the protocol).
 */
export function parserRead(parser: QueueParser): ReadRequest {
  return new ReadRequest(PARSE, 0, null, false, null, parser);
}
export type { ReadRequest };

/** The pattern was reached in streaming receiveuntil: the reader returns null once. */
const PATTERN_END = null;

const RECEIVE = defineKind<TcpSocket, ReadRequest>({
  name: 'tcp.receive',
  start(waiter, socket, request) {
    socket.beginRead(waiter, request);
  },
  abandon(_waiter, socket) {
    socket.abortPending('receive');
  },
});

const SEND = defineKind<TcpSocket, SendData>({
  name: 'tcp.send',
  start(waiter, socket, data) {
    socket.beginSend(waiter, data);
  },
  abandon(_waiter, socket) {
    socket.abortPending('send');
  },
});

/** A request written and its answer read in one wait (see TcpSocket.exchange). */
interface Exchange {
  readonly data: Buffer | readonly Buffer[];
  readonly request: ReadRequest;
}

const EXCHANGE = defineKind<TcpSocket, Exchange>({
  name: 'tcp.exchange',
  start(waiter, socket, exchange) {
    socket.beginExchange(waiter, exchange.data, exchange.request, socket.readTimeout);
  },
  abandon(_waiter, socket) {
    socket.abortPending('receive');
  },
});

const HANDSHAKE = defineKind<TcpSocket, TlsOptions>({
  name: 'tcp.sslhandshake',
  start(waiter, socket, options) {
    socket.beginHandshake(waiter, options);
  },
  abandon(_waiter, socket) {
    socket.abortPending('send');
  },
});

const IMMEDIATE = defineKind<unknown>({
  name: 'tcp.receiveuntil',
  start(waiter, value) {
    waiter.settleWait(value, false);
  },
  abandon() {},
});

/**
 * A cosocket: a TCP (or unix) connection used from a coroutine, with the methods of OpenResty's
 * tcpsock. Every wait is an effect (`yield* sock.receive('*l')`). A read timeout is not fatal (the
 * socket stays usable, unread bytes stay queued); any other error closes the socket. Cancelling the
 * coroutine during a send or receive closes the socket; it is never pooled. The socket belongs to the
 * coroutine that connected (and the coroutines under the same root); it is closed when that coroutine
 * ends without setkeepalive() or close().
 */
export class TcpSocket extends OwnedConnection {
  private readonly pool: KeepalivePool<TcpConnection> | null;
  private lease: Lease<TcpConnection> | null;
  /** The lease's count when this use began: it stays readable after setkeepalive or close. */
  private readonly reusedTimes: number;
  private conn: TcpConnection | null;
  /** Shared with the connect that made it until settimeouts() makes it a copy of its own. */
  private timeouts: Timeouts;
  private ownTimeouts = false;
  private readonly wake = (): void => this.onActivity();

  private reader: Waiter | null = null;
  private readRequest: ReadRequest | null = null;
  private readIdle: IdleTimeout | null = null;
  private writer: Waiter | null = null;
  private sendIdle: IdleTimeout | null = null;
  /** The pool of the TLS settings of a handshake done on this socket: where setkeepalive puts it. */
  private tlsPool: KeepalivePool<TcpConnection> | null = null;

  /**
   * @internal made by tcp.connect (a pooled connection) or by a protocol adapter with a connection of its
   * own (pool and lease null: setkeepalive closes it).
   */
  constructor(
    pool: KeepalivePool<TcpConnection> | null,
    lease: Lease<TcpConnection> | null,
    owner: Task<unknown>,
    timeouts: Timeouts,
    connection?: TcpConnection,
  ) {
    const conn = connection ?? lease!.connection!;
    super(conn.peer, owner);
    this.pool = pool;
    this.lease = lease;
    this.reusedTimes = lease === null ? 0 : Math.max(0, lease.reusedTimes);
    this.conn = conn;
    this.timeouts = timeouts;
    this.closeWithOwner();
  }

  protected override get noun(): string {
    return 'socket';
  }

  /** Bytes received and not read yet. */
  get buffered(): number {
    return this.conn?.queue.length ?? 0;
  }

  /**
   * The oldest piece received and not read yet, without copying or consuming it. Nothing else refers
   * to these bytes: a parser may rewrite the ones it then consumes (the HTTP body reader de-chunks in
   * place). Follow with consume(n).
   */
  peekFirst(): Buffer {
    if (this.conn === null) throw new SocketClosedError('receive', this.peer);
    return this.conn.queue.first();
  }

  /**
   * The connection's lending side, for a reader that hands out views of received bytes and gets them
   * back when their user is done (so read buffers are reused): see ReadSpace. Stays valid after the
   * socket is put back in the pool.
   */
  lender(): Lender {
    if (this.conn === null) throw new SocketClosedError('receive', this.peer);
    return this.conn;
  }

  /** What a protocol adapter keeps with the connection across its uses from the pool: null until it sets one. */
  get protocolState(): object | null {
    return this.conn === null ? null : this.conn.protocolState;
  }

  set protocolState(state: object | null) {
    if (this.conn !== null) this.conn.protocolState = state;
  }

  /** Waits until more than `bytes` bytes are buffered (nothing is consumed); closed or reset throw. */
  waitMore(bytes: number): Effect<null> {
    return RECEIVE<null>(this, new ReadRequest(MORE, bytes, null, false));
  }

  /** Joins the two oldest pieces received into one, for a parser of peekFirst() whose token was cut between them. */
  joinFirstTwo(): void {
    this.conn?.queue.joinFirstTwo();
  }

  /** Drops the first `n` buffered bytes (after peekBuffered). */
  consume(n: number): void {
    if (n > 0) this.conn!.queue.skip(n);
  }

  /** Whether `pattern` is among the bytes received and not read yet. */
  hasBuffered(pattern: Buffer): boolean {
    return this.conn !== null && this.conn.queue.indexOf(pattern) >= 0;
  }

  /** A receive or send is in progress. */
  get busy(): boolean {
    return this.reader !== null || this.writer !== null;
  }

  /** True once closed or handed back with setkeepalive. */
  override get closed(): boolean {
    return this.conn === null;
  }

  /**
   * How many times this connection was reused from the pool before this use (0 for a new one); the
   * same after setkeepalive() or close().
   */
  getreusedtimes(): number {
    return this.reusedTimes;
  }

  /** Sends everything; returns the byte count once the kernel took all of it (send timeout: fatal). */
  send(data: SendData): Effect<number> {
    return SEND<number>(this, data);
  }

  /** Exactly `size` bytes. */
  receive(size: number): Effect<Buffer>;
  /** One line, without its `\n` (and `\r`), as UTF-8 text; longer than `maxLength` bytes: an error (fatal). */
  receive(pattern: '*l', maxLength?: number): Effect<string>;
  /** Everything until the peer closes. */
  receive(pattern: '*a'): Effect<Buffer>;
  receive(what: number | '*l' | '*a', maxLength = Infinity): Effect<Buffer> | Effect<string> {
    if (what === '*l') return RECEIVE<string>(this, new ReadRequest(LINE, maxLength, LF, false));
    if (what === '*a') return RECEIVE<Buffer>(this, new ReadRequest(ALL, 0, null, false));
    if (typeof what !== 'number' || !Number.isInteger(what) || what < 0) {
      throw new InvalidArgumentError(`receive() takes a byte count >= 0, '*l' or '*a', got ${String(what)}`);
    }
    return RECEIVE<Buffer>(this, new ReadRequest(BYTES, what, null, false));
  }

  /** One line like receive('*l'), as latin1 text: each byte one char (HTTP field bytes pass through unchanged). */
  receiveByteLine(maxLength = Infinity): Effect<string> {
    return RECEIVE<string>(this, new ReadRequest(BYTE_LINE, maxLength, LF, false));
  }

  /** What a protocol parser's read (parserRead) returns once the bytes it needs have arrived. */
  receiveParsed<T>(request: ReadRequest): Effect<T> {
    return RECEIVE<T>(this, request);
  }

  /**
   * Writes `data` and reads with a protocol parser's `request`, in one wait: the write is not waited
   * for (a failed write fails the read), the read has the read timeout. For a request whose answer is
   * read next (an HTTP request without a body): one wait instead of two.
   */
  exchange<T>(data: Buffer | readonly Buffer[], request: ReadRequest): Effect<T> {
    return EXCHANGE<T>(this, { data, request });
  }

  /** @internal ms a read may wait. */
  get readTimeout(): number {
    return this.timeouts.read;
  }

  /** Whatever has arrived, at least one byte and at most `max`. */
  receiveany(max: number): Effect<Buffer> {
    if (!Number.isInteger(max) || max < 1)
      throw new InvalidArgumentError(`receiveany() takes a byte count >= 1, got ${String(max)}`);
    return RECEIVE<Buffer>(this, new ReadRequest(ANY, max, null, false));
  }

  /**
   * A reader of the bytes up to `pattern`. `yield* reader.read()` returns them all (with the pattern
   * when `inclusive`); `yield* reader.read(size)` returns them in pieces of at most `size` bytes and
   * then null once the pattern is reached. Each read after that looks for the next occurrence.
   */
  receiveuntil(pattern: string | Buffer, options: { inclusive?: boolean } = {}): ReceiveUntilReader {
    const bytes = typeof pattern === 'string' ? Buffer.from(pattern) : pattern;
    if (bytes.length === 0) throw new InvalidArgumentError('receiveuntil() needs a non-empty pattern');
    return new ReceiveUntilReader(this, bytes, options.inclusive === true);
  }

  /**
   * Speaks TLS from now on (OpenResty's sslhandshake): `const session = yield* sock.sslhandshake({ servername })`.
   * The certificate is verified by default. On a connection that already speaks TLS with the same
   * settings (from the pool, or connected with `tls`) it returns that connection's session at once;
   * with other settings it throws. Within the connect timeout; a failure closes the socket. After
   * it, setkeepalive puts the connection in the pool of its TLS settings.
   */
  sslhandshake(options: TlsOptions = {}): Effect<SslSession> {
    return HANDSHAKE<SslSession>(this, options);
  }

  /** The session of this connection's TLS handshake, or null while it speaks plain TCP. */
  getsslsession(): SslSession | null {
    return this.conn?.tls?.session ?? null;
  }

  /** Timeouts in ms for connect, send and read; undefined leaves one as it is. */
  settimeouts(connect?: number, send?: number, read?: number): void {
    for (const [name, value] of [
      ['connect', connect],
      ['send', send],
      ['read', read],
    ] as const) {
      if (value === undefined) continue;
      if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
        throw new InvalidArgumentError(
          `settimeouts(): ${name} timeout must be a number of ms > 0, got ${String(value)}`,
        );
      }
      if (!this.ownTimeouts) {
        this.timeouts = { ...this.timeouts };
        this.ownTimeouts = true;
      }
      this.timeouts[name] = value;
    }
  }

  /** Socket options: 'keepalive' (TCP keepalive probes) and 'nodelay' (no Nagle; on by default). */
  setoption(option: 'keepalive' | 'nodelay', value: boolean): void {
    const conn = this.usable('setoption');
    if (option === 'keepalive') conn.socket.setKeepAlive(value);
    else if (option === 'nodelay') conn.socket.setNoDelay(value);
    else throw new InvalidArgumentError(`setoption(): unsupported option '${String(option)}' (keepalive, nodelay)`);
  }

  protected override get poolable(): boolean {
    return this.pool !== null;
  }

  /** A connection with unread bytes or a pending operation is in a dubious state. */
  protected override dubiousReason(): string | null {
    const conn = this.conn!;
    if (this.reader !== null || this.writer !== null) return 'an operation is pending';
    if (conn.queue.length > 0) return `${conn.queue.length} unread byte(s)`;
    if (conn.ended || conn.error !== null || conn.closed) return 'closed by the peer';
    return null;
  }

  protected override release(idleMs: number | undefined): void {
    const conn = this.conn!;
    const lease = this.lease!;
    const pool = this.pool!;
    this.detach();
    conn.parkIdle();
    if (conn.tls === null || this.tlsPool === null) {
      pool.release(lease, idleMs);
      return;
    }
    // made TLS here: it belongs in the pool of its TLS settings, never back among plain connections
    pool.handOff(lease);
    if (!this.tlsPool.adopt(conn, idleMs)) conn.destroy();
  }

  /** Closes the connection (never pooled). Safe to call twice, and from outside the coroutine. */
  override close(): void {
    const lease = this.lease;
    const conn = this.conn;
    if (conn === null) return;
    if (this.reader !== null || this.writer !== null) {
      this.failPending(
        new SocketClosedError(this.reader !== null ? 'receive' : 'send', this.peer, undefined, 'closed'),
      );
    }
    this.detach();
    conn.destroy();
    if (lease !== null) this.pool!.discard(lease);
  }

  // ---------------------------------------------------------------- effect plumbing (internal)

  /** @internal */
  beginRead(waiter: Waiter, request: ReadRequest): void {
    const conn = this.usable('receive', waiter.task);
    if (this.reader !== null) throw new SocketBusyError('receive', this.peer, 'reading');
    this.startRead(waiter, conn, request, this.timeouts.read);
  }

  /**
   * @internal A request and its answer in one wait: writes `data` (not waiting for the kernel to take it;
   * a failed write fails the read) and reads with `request`, whose read timeout is `readMs` (Infinity:
   * none). Protocol adapters (Redis) use it: one effect per command. The write goes out at the end of
   * the event-loop turn with the turn's other writes (deferWrites).
   */
  beginExchange(waiter: Waiter, data: string | Buffer | readonly Buffer[], request: ReadRequest, readMs: number): void {
    const conn = this.usable('send', waiter.task);
    if (this.reader !== null || this.writer !== null) throw new SocketBusyError('send', this.peer, 'both');
    const socket = conn.socket;
    // nothing waits on the write but the answer: it leaves with the turn's other writes (see deferWrites)
    if (data.length > 0) deferWrites(socket);
    if (typeof data === 'string' || data instanceof Uint8Array) {
      if (data.length > 0) socket.write(data);
    } else if (data.length > 0) {
      socket.cork();
      for (const part of data) socket.write(part);
      socket.uncork();
    }
    this.startRead(waiter, conn, request, readMs);
  }

  private startRead(waiter: Waiter, conn: TcpConnection, request: ReadRequest, readMs: number): void {
    let result: unknown;
    try {
      result = this.attempt(conn, request);
    } catch (err) {
      this.close();
      throw err;
    }
    if (result !== NEED_MORE) {
      waiter.settleWait(result, result instanceof Error);
      return;
    }
    this.reader = waiter;
    this.readRequest = request;
    conn.onActivity = this.wake;
    conn.want();
    if (readMs === Infinity) return;
    // the read timeout in the shared deadline lanes: no timer per read
    if (this.readIdle === null || this.readIdle.ms !== readMs) {
      this.readIdle?.stop();
      this.readIdle = new IdleTimeout(readMs, (ms) => this.readTimedOut(ms));
    }
    this.readIdle.touch();
  }

  /** @internal */
  beginSend(waiter: Waiter, data: SendData): void {
    const conn = this.usable('send', waiter.task);
    if (this.writer !== null) throw new SocketBusyError('send', this.peer, 'writing');
    const parts = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
    let bytes = 0;
    for (const part of parts) bytes += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
    this.writer = waiter;
    if (this.sendIdle === null || this.sendIdle.ms !== this.timeouts.send)
      this.sendIdle = new IdleTimeout(this.timeouts.send, () => this.sendTimedOut());
    this.sendIdle.touch();
    const socket = conn.socket;
    const done = (err?: Error | null): void => {
      if (this.writer !== waiter) return;
      this.endSend();
      if (err) {
        const error = socketErrorFrom('send', this.peer, err);
        this.close();
        waiter.settleWait(error, true);
      } else {
        waiter.settleWait(bytes, false);
      }
    };
    if (parts.length === 1) {
      socket.write(parts[0]!, done);
      return;
    }
    socket.cork();
    for (let i = 0; i < parts.length; i++) socket.write(parts[i]!, i === parts.length - 1 ? done : undefined);
    socket.uncork();
    if (parts.length === 0) done(null);
  }

  /** @internal */
  beginHandshake(waiter: Waiter, options: TlsOptions): void {
    const conn = this.usable('sslhandshake', waiter.task);
    if (this.reader !== null || this.writer !== null) throw new SocketBusyError('send', this.peer, 'both');
    const host = 'host' in conn.target ? conn.target.host : `unix:${conn.target.path}`;
    const settings = tlsSettingsOf(options, host);
    if (conn.tls !== null) {
      if (conn.tls.settings.key !== settings.key) {
        throw new InvalidArgumentError(
          `sslhandshake ${this.peer}: the connection already speaks TLS with other settings (${conn.tls.settings.key}, asked ${settings.key})`,
        );
      }
      waiter.settleWait(conn.tls.session, false);
      return;
    }
    if (conn.queue.length > 0) {
      this.close();
      throw new TlsHandshakeError(this.peer, `${conn.queue.length} byte(s) arrived before the handshake`);
    }
    this.writer = waiter;
    conn.startTls(settings, host, options.session?.ticket, this.timeouts.connect).then(
      (state) => {
        if (this.writer !== waiter) return;
        this.endSend();
        if (this.pool !== null) {
          const port = 'port' in conn.target ? conn.target.port : 0;
          this.tlsPool = tcpPool(tlsPoolName(this.pool.name, settings), host, port, settings, this.timeouts.connect);
        }
        waiter.settleWait(state.session, false);
      },
      (err: unknown) => {
        if (this.writer !== waiter) return;
        this.endSend();
        this.close();
        waiter.settleWait(err, true);
      },
    );
  }

  /** @internal The pending operation was abandoned (the coroutine is being cancelled): close, never pool. */
  abortPending(op: 'receive' | 'send'): void {
    if (op === 'receive') this.endRead();
    else this.endSend();
    this.close();
  }

  /** @internal */
  readTimedOut(ms: number): void {
    const reader = this.reader;
    if (reader === null) return;
    this.endRead();
    reader.settleWait(new SocketTimeoutError('receive', this.peer, ms), true);
  }

  /** @internal */
  sendTimedOut(): void {
    const writer = this.writer;
    if (writer === null) return;
    this.endSend();
    this.close();
    writer.settleWait(new SocketTimeoutError('send', this.peer, this.timeouts.send), true);
  }

  /** @internal One step of receiveuntil. */
  readUntil(pattern: Buffer, inclusive: boolean, size: number, reader: ReceiveUntilReader): Effect<Buffer | null> {
    return RECEIVE<Buffer | null>(this, new ReadRequest(UNTIL, size, pattern, inclusive, reader));
  }

  private onActivity(): void {
    const reader = this.reader;
    const conn = this.conn;
    if (reader === null || conn === null) return;
    let result: unknown;
    try {
      result = this.attempt(conn, this.readRequest!);
    } catch (err) {
      this.endRead();
      this.close();
      reader.settleWait(err, true);
      return;
    }
    if (result === NEED_MORE) return;
    this.endRead();
    reader.settleWait(result, result instanceof Error);
  }

  /** The result of `request` from what is queued, NEED_MORE, or a thrown SocketError (fatal). */
  private attempt(conn: TcpConnection, request: ReadRequest): unknown {
    const queue = conn.queue;
    switch (request.mode) {
      case PARSE: {
        const parsed = request.parser!.parse(queue);
        if (parsed !== NEED_MORE) return parsed;
        break;
      }
      case BYTES:
        if (queue.length >= request.n) return queue.take(request.n);
        break;
      case LINE:
      case BYTE_LINE: {
        const at = queue.indexOf(LF);
        if (at >= 0 && at <= request.n) {
          const line = queue.take(at + 1);
          const end = at > 0 && line[at - 1] === 13 ? at - 1 : at;
          return line.toString(request.mode === LINE ? 'utf8' : 'latin1', 0, end);
        }
        if (at > request.n || (at < 0 && queue.length > request.n)) {
          throw new LineTooLongError(this.peer, request.n);
        }
        break;
      }
      case ALL:
        if (conn.ended || conn.closed) return queue.takeAll();
        break;
      case ANY:
        if (queue.length > 0) return queue.take(Math.min(queue.length, request.n));
        break;
      case MORE:
        if (queue.length > request.n) return null;
        break;
      default: {
        const pattern = request.pattern!;
        const at = queue.indexOf(pattern);
        if (request.n === Infinity) {
          if (at >= 0) {
            const data = queue.take(at);
            if (request.inclusive) return Buffer.concat([data, queue.take(pattern.length)]);
            queue.skip(pattern.length);
            return data;
          }
          break;
        }
        // streaming: pieces of at most n bytes that cannot be the start of the pattern
        if (at === 0) {
          const found = queue.take(pattern.length);
          if (!request.inclusive) return PATTERN_END;
          request.until!.endNext = true;
          return found;
        }
        const safe = at > 0 ? at : queue.length - pattern.length + 1;
        if (safe > 0) return queue.take(Math.min(safe, request.n));
        break;
      }
    }
    if (conn.error !== null) throw socketErrorFrom('receive', this.peer, conn.error);
    if (conn.ended || conn.closed) {
      throw new SocketClosedError('receive', this.peer, queue.length > 0 ? queue.takeAll() : undefined);
    }
    return NEED_MORE;
  }

  /** The connection, if `task` may use it for `op` now (see checkUse); a connection error closes it and is thrown. */
  private usable(op: string, task: Task<unknown> | null = currentTask()): TcpConnection {
    this.checkOwner(op, task);
    const conn = this.conn;
    if (conn === null) throw new SocketClosedError(op, this.peer);
    if (conn.error !== null && this.reader === null) {
      const error = socketErrorFrom(op, this.peer, conn.error);
      this.close();
      throw error;
    }
    return conn;
  }

  protected override checkUse(op: string, task: Task<unknown> | null = currentTask()): void {
    this.usable(op, task);
  }

  private endRead(): void {
    if (this.readIdle !== null) this.readIdle.stop();
    this.reader = null;
    this.readRequest = null;
    if (this.conn !== null) this.conn.onActivity = null;
  }

  private endSend(): void {
    if (this.sendIdle !== null) this.sendIdle.stop();
    this.writer = null;
  }

  private failPending(error: SocketError): void {
    const reader = this.reader;
    const writer = this.writer;
    this.endRead();
    this.endSend();
    if (reader !== null) reader.settleWait(error, true);
    if (writer !== null && writer !== reader) writer.settleWait(error, true);
  }

  private detach(): void {
    this.forgetOwner();
    this.lease = null;
    this.conn = null;
  }
}

/** What `receiveuntil` returns: read the bytes before a pattern, whole or in pieces. */
export class ReceiveUntilReader {
  /** @internal the last piece ended with the (inclusive) pattern: the next read returns null */
  endNext = false;

  constructor(
    private readonly socket: TcpSocket,
    private readonly pattern: Buffer,
    private readonly inclusive: boolean,
  ) {}

  /** Without `size`: all bytes up to the pattern. With `size`: the next piece, or null at the pattern. */
  read(size?: number): Effect<Buffer | null> {
    if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
      throw new InvalidArgumentError(`receiveuntil reader: size must be a whole number >= 1, got ${String(size)}`);
    }
    if (size !== undefined && this.endNext) {
      this.endNext = false;
      return IMMEDIATE<Buffer | null>(null);
    }
    return this.socket.readUntil(this.pattern, this.inclusive, size ?? Infinity, this);
  }
}
