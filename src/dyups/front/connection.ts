// Over 300 lines: one client connection's state machine (head, request, drain, linger) with its timers and waits.
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { STATUS_CODES } from 'node:http';
import { flushDeferred } from '../../../adapters/write-batch.js';
import { readRequestLine } from '../../fastify/client-errors.js';
import type { RefusedRequest } from '../../fastify/client-errors.js';
import { BodyAbortedError, BodyTimeoutError, BudgetExceededError, SocketTimeoutError } from '../../errors/index.js';
import { defineKind } from '../../runtime/effect.js';
import { activeTracer, incomingTraceparent, runInSpan, serverSpanAttributes } from '../../runtime/tracing.js';
import type { TraceSpan } from '../../runtime/tracing.js';
import type { Effect, Operation, Waiter } from '../../runtime/effect.js';
import { IdleTimeout } from '../../runtime/idle-timeout.js';
import type { Scheduler, StartOptions } from '../../runtime/scheduler.js';
import { BodyDecoder } from './body-decoder.js';
import { ClientTunnel } from './client-tunnel.js';
import { FrontExchange } from './exchange.js';
import type { ExchangeHost, Written } from './host.js';
import { FrontBody, NOTHING_YET } from './request-body.js';
import type { BodyHost } from './request-body.js';
import { HeadParser } from './request-head.js';
import type { RequestHead } from './request-head.js';
import { dateHeaderLine, statusLine } from './response-head.js';

export interface FrontOptions {
  scheduler: Scheduler;
  /** Answers one request: its coroutine's context is the exchange. */
  handler: (ctx: FrontExchange) => Operation<unknown>;
  startOptions: StartOptions;
  /** ms for a request head to arrive whole (client_header_timeout); 408 after it. */
  headerTimeout: number;
  /** ms an idle kept-alive connection stays open. */
  keepAliveTimeout: number;
  maxHeadBytes: number;
  maxHeaders: number;
  /** Largest request body read (413 past it). */
  bodyLimit: number;
  /** ms without request body data before a 408. */
  bodyTimeout: number;
  /** ms a client may take to accept what is sent. */
  sendTimeout: number;
  /** ms a streamed response may go without progress (replacing the coroutine's deadline once the head is out). */
  idleTimeout: number;
  /** Seconds in Retry-After of a 503 when the scheduler's budget is used up. */
  retryAfter: number;
  /** Where a 5xx's reason goes (the client gets a generic page). Default: stderr, one line each. */
  errorLog?: (line: string) => void;
  /** Called once per request when its response went out whole or was cut (access log, metrics). */
  onEnded?: (exchange: FrontExchange) => void;
  /** Called for each request answered by the connection itself before it could run: a bad head, or one too slow. */
  onRefused?: (request: RefusedRequest) => void;
  /** ms a closing connection keeps reading (and dropping) what the client still sends, so the last answer is not lost to a reset. */
  lingerTimeout: number;
  /** node:tls server options: the listener speaks TLS (default: plain TCP). */
  tls?: TlsOptions;
}

/** What a connection asks of its server. */
export interface ConnectionHost {
  readonly closing: boolean;
  connectionClosed(conn: Connection): void;
}

const HEAD = 0;
const REQUEST = 1;
const DRAIN = 2;
/** Switched to another protocol (101): bytes go to and from the ClientTunnel. */
const TUNNEL = 3;
const LINGER = 4;
const CLOSED = 5;

/** Bytes received and not yet read before the socket is paused. */
const HIGH_WATER = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');

const WAIT_BODY = defineKind<Connection, number>({
  name: 'http.readBody',
  start(waiter, conn, ms) {
    conn.beginBodyWait(waiter, ms);
  },
  abandon(waiter, conn) {
    conn.endBodyWait(waiter);
  },
});

function readNext(conn: Connection): void {
  conn.readHead();
}

function ignoreError(): void {}

/**
 * One client connection of the front: reads request heads, runs one request at a time (pipelined ones
 * are answered in order; what arrives meanwhile is buffered, then the socket paused), reads or drains
 * request bodies, and closes on errors with a lingering close so the last answer reaches the client.
 */
export class Connection implements BodyHost, ExchangeHost {
  readonly ip: string;
  private state = HEAD;
  private buf: Buffer = EMPTY;
  private pos = 0;
  private readonly parser: HeadParser;
  private readonly decoder = new BodyDecoder();
  private readonly pieces: Buffer[] = [];
  private exchange: FrontExchange | null = null;
  /** when a byte last came, or a response last ended (Date.now()) */
  private lastActive = Date.now();
  private tunnel: ClientTunnel | null = null;
  /** Bytes of the next head have arrived: the header timeout runs. */
  private headStarted = false;
  /** performance.now() when the head's first byte came. */
  private headStartedAt = 0;
  private served = 0;
  private paused = false;
  /** Between requests, the client has not taken the last answer: the next request waits for 'drain'. */
  private blocked = false;
  private bodyBroken = false;
  private expectContinue = false;
  /** The request being answered asked for no further one (Connection: close, or HTTP/1.0 without keep-alive). */
  private clientCloses = false;
  private bodyWaiter: Waiter | null = null;
  private drainWaiter: Waiter | null = null;
  private headerTimer: IdleTimeout | null = null;
  private keepAliveTimer: IdleTimeout | null = null;
  private bodyTimer: IdleTimeout | null = null;
  private sendTimer: IdleTimeout | null = null;
  private lingerTimer: IdleTimeout | null = null;
  private streamTimer: IdleTimeout | null = null;
  /** Lent parts whose writes are in flight, their counts per write and whom to give them back to. */
  private lentParts: Array<Buffer | null> = [];
  private lentCounts: number[] = [];
  private lentOwners: Written[] = [];
  private lentAt = 0;
  private lentPartsAt = 0;

  constructor(
    readonly socket: Socket,
    private readonly options: FrontOptions,
    private readonly host: ConnectionHost,
  ) {
    this.ip = socket.remoteAddress ?? '';
    this.parser = new HeadParser({ maxHeadBytes: options.maxHeadBytes, maxHeaders: options.maxHeaders });
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('error', ignoreError); // 'close' follows
    this.timer('header')?.touch(); // the first head: from the connection on
  }

  get closing(): boolean {
    return this.host.closing;
  }

  /** The client can no longer be written to. */
  get socketGone(): boolean {
    return this.state === CLOSED || !this.socket.writable;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastActive = Date.now();
    const state = this.state;
    if (state >= LINGER) return; // closing: what still comes is dropped
    if (state === TUNNEL) {
      this.tunnel!.received(chunk);
      return;
    }
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
      this.pos = 0;
    }
    if (state === HEAD) this.readHead();
    else if (state === DRAIN) this.drain();
    else {
      if (this.bodyWaiter !== null) this.wakeBody();
      if (!this.paused && this.state === REQUEST && this.buf.length - this.pos > HIGH_WATER) {
        this.paused = true;
        this.socket.pause();
      }
    }
  };

  /** Parses what arrived of the next head; runs the request once it is whole. */
  readHead(): void {
    if (this.state !== HEAD || this.blocked || this.pos >= this.buf.length) return;
    if (!this.headStarted) {
      this.headStarted = true;
      this.headStartedAt = performance.now();
      this.keepAliveTimer?.stop();
      if (this.served > 0) this.timer('header')?.touch();
    }
    const head = this.parser.parse(this.buf, this.pos);
    this.pos = this.parser.next;
    if (head === null) {
      const failed = this.parser.failed;
      if (failed !== null) this.refuse(failed.status, failed.reason);
      return;
    }
    this.headerTimer?.stop();
    this.headStarted = false;
    this.dispatch(head);
  }

  private dispatch(head: RequestHead): void {
    const options = this.options;
    this.state = REQUEST;
    this.parser.reset();
    const hasBody = head.chunked || head.contentLength > 0;
    this.decoder.start(head.contentLength, head.chunked);
    this.expectContinue = hasBody && head.expectContinue;
    this.clientCloses = !head.keepAlive;
    const body = hasBody
      ? new FrontBody(this, head.chunked ? null : head.contentLength, options.bodyLimit, options.bodyTimeout)
      : null;
    const exchange = new FrontExchange(this, head, body, options);
    this.exchange = exchange;
    const tracer = activeTracer();
    const span =
      tracer === null
        ? null
        : tracer.startSpan(
            head.method,
            'server',
            serverSpanAttributes(head.method, head.url, 'server.address', head.headers.host),
            incomingTraceparent(head.headers),
          );
    exchange.span = span;
    let task;
    try {
      task =
        span === null
          ? options.scheduler.start(options.startOptions, options.handler, exchange)
          : options.scheduler.start(options.startOptions, handlerInSpan, span, options.handler, exchange);
    } catch (err) {
      if (!(err instanceof BudgetExceededError)) throw err;
      exchange.overloaded(err, options.retryAfter);
      return;
    }
    exchange.attach(task);
    if (task.done) {
      task.markObserved(); // it ended on its first step: the response below is its observer
      exchange.onTaskSettled(task);
      return;
    }
    task.addObserver(exchange);
  }

  /** @internal The response to `exchange` went out whole (`keepAlive`: the next request may follow), or was cut. */
  exchangeEnded(exchange: object, keepAlive: boolean): void {
    if (this.exchange !== exchange) return;
    this.exchange = null;
    this.lastActive = Date.now();
    if (this.state >= LINGER) return;
    if (this.state === TUNNEL) {
      // either side closing ends both, as nginx does: our FIN after what was written
      this.tunnel!.release();
      this.finish();
      return;
    }
    // a body the client still holds back for its 100 Continue would never come: no next request to find behind it
    if (!keepAlive || this.bodyBroken || this.host.closing || this.expectContinue) {
      // a client that said it sends nothing more, its request read whole: no lingering, like nginx
      if (this.clientCloses && !this.bodyBroken && this.decoder.done && this.pos >= this.buf.length) this.closeSoon();
      else this.finish();
      return;
    }
    if (!this.decoder.done) {
      this.state = DRAIN;
      this.timer('linger')?.touch(); // the rest of the body has that long to arrive, in all
      this.drain();
      return;
    }
    this.nextRequest();
  }

  /** Drops the rest of a body the handler did not read, then reads the next request. */
  private drain(): void {
    try {
      this.pos = this.decoder.decode(this.buf, this.pos, null);
    } catch {
      this.cut();
      return;
    }
    if (this.decoder.done) {
      this.lingerTimer?.stop();
      this.nextRequest();
      return;
    }
    this.resume();
  }

  private nextRequest(): void {
    this.state = HEAD;
    this.served++;
    if (this.socket.writableNeedDrain) {
      // a client that sends requests and never reads the answers: no more is read or answered until it
      // takes this one (as node's server does), and it has the send timeout to do so
      this.blocked = true;
      if (!this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      this.timer('send', this.options.sendTimeout)?.touch();
      return;
    }
    this.readOn();
  }

  private readOn(): void {
    this.resume();
    if (this.pos < this.buf.length) process.nextTick(readNext, this);
    else {
      this.buf = EMPTY;
      this.pos = 0;
      this.timer('keepAlive')?.touch();
    }
  }

  /** Ends the connection after what was written: the client's FIN (or the linger timeout) closes it. */
  private finish(): void {
    if (this.state >= LINGER) return;
    this.state = LINGER;
    this.stopTimers();
    this.resume();
    this.socket.end();
    this.timer('linger')?.touch();
  }

  /** Closes once what was written has gone out (the close sends the FIN: no shutdown first when it all has). */
  private closeSoon(): void {
    this.state = LINGER;
    this.stopTimers();
    flushDeferred(this.socket); // what deferWrites holds goes to the kernel: the close sends the FIN after it
    if (this.socket.writableLength === 0) {
      this.socket.destroy();
      return;
    }
    this.socket.destroySoon();
    this.timer('linger')?.touch(); // a client that does not take the answer is cut after the linger timeout
  }

  /** Closes at once: the client sees the response cut (`reset`: with a TCP reset, where a FIN would read as its end). */
  cut(reset = false): void {
    flushDeferred(this.socket); // a response written whole before the cut went out before it, as without deferWrites
    if (reset) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  /** A head that cannot be served: its status and reason, then the connection closes. */
  private refuse(status: number, reason: string): void {
    this.headerTimer?.stop();
    this.send(status, reason);
    this.finish();
  }

  /** Answers a head that cannot be run, and reports it (the access log, the metrics). */
  private send(status: number, reason: string): void {
    const body = `${status} ${STATUS_CODES[status] ?? 'Error'}: ${reason}\n`;
    const bodyBytes = Buffer.byteLength(body, 'latin1');
    this.socket.write(
      `${statusLine(status)}Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${bodyBytes}\r\n${dateHeaderLine()}Connection: close\r\n\r\n${body}`,
      'latin1',
    );
    const onRefused = this.options.onRefused;
    if (onRefused === undefined) return;
    // the request line as parsed, or the bytes of the line that failed (the parser stops at its start)
    const parsed = this.parser.parsedLine;
    onRefused({
      remoteAddr: this.ip,
      ...(parsed !== null ? parsed : readRequestLine(this.buf.subarray(this.pos))),
      status,
      bodyBytesSent: bodyBytes,
      seconds: (performance.now() - this.headStartedAt) / 1000,
    });
  }

  private readonly onEnd = (): void => {
    const state = this.state;
    if (state === TUNNEL) {
      this.tunnel!.clientEnded();
      return;
    }
    if (state === HEAD && this.pos >= this.buf.length) this.finish();
    // like node's server: a client that ends its side mid-request is gone
    else if (state < LINGER) this.cut();
  };

  private readonly onClose = (): void => {
    this.state = CLOSED;
    this.tunnel?.socketClosed();
    this.stopTimers();
    this.lingerTimer?.stop();
    this.streamTimer?.stop();
    const exchange = this.exchange;
    this.exchange = null;
    exchange?.clientGone();
    const bodyWaiter = this.bodyWaiter;
    if (bodyWaiter !== null) {
      this.bodyWaiter = null;
      bodyWaiter.settleWait(new BodyAbortedError(), true);
    }
    this.buf = EMPTY;
    this.pos = 0;
    this.host.connectionClosed(this);
  };

  private stopTimers(): void {
    this.headerTimer?.stop();
    this.keepAliveTimer?.stop();
    this.bodyTimer?.stop();
    this.sendTimer?.stop();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** Server shutdown: a connection between requests closes now, one in a request after its response. */
  closeIfIdle(): void {
    if (this.state === HEAD || this.state === DRAIN) this.finish();
  }

  /**
   * A retirement: closes the connection if it is between requests with nothing of the next one read and
   * has been so for `quietMs` — a client silent that long is not writing a request on it right now.
   */
  closeIfQuiet(quietMs: number): void {
    if (
      this.state === HEAD &&
      this.exchange === null &&
      this.pos >= this.buf.length &&
      Date.now() - this.lastActive >= quietMs
    )
      this.finish();
  }

  /**
   * @internal The request was answered with a 101: from now on the connection carries raw bytes, read and
   * written through the tunnel (what arrived after the head first) until the exchange ends.
   */
  takeOver(): ClientTunnel {
    this.state = TUNNEL;
    this.stopTimers();
    const leftover = this.pos < this.buf.length ? this.buf.subarray(this.pos) : EMPTY;
    this.buf = EMPTY;
    this.pos = 0;
    const tunnel = new ClientTunnel(this, leftover, this.paused, this.options.sendTimeout);
    this.paused = false; // the tunnel pauses and resumes the socket now
    this.tunnel = tunnel;
    return tunnel;
  }

  // ---- request bodies ----

  takeBody(): Buffer | null {
    const decoder = this.decoder;
    if (decoder.done) return null;
    const out = this.pieces;
    out.length = 0;
    try {
      this.pos = decoder.decode(this.buf, this.pos, out);
    } catch (err) {
      this.bodyBroken = true;
      throw err;
    }
    if (this.pos >= this.buf.length) {
      this.buf = EMPTY;
      this.pos = 0;
    }
    if (this.paused && this.buf.length - this.pos < HIGH_WATER / 2) this.resume();
    if (out.length === 0) return decoder.done ? null : NOTHING_YET;
    this.expectContinue = false;
    const piece = out.length === 1 ? out[0]! : Buffer.concat(out);
    out.length = 0;
    return piece;
  }

  waitBody(idleMs: number): Effect<void> {
    return WAIT_BODY(this, idleMs);
  }

  /** @internal */
  beginBodyWait(waiter: Waiter, ms: number): void {
    if (this.state === CLOSED || this.socket.readableEnded) {
      waiter.settleWait(new BodyAbortedError(), true);
      return;
    }
    this.bodyWaiter = waiter;
    // once the response head is out a 100 would land inside the response: the client gets none
    if (this.expectContinue && this.exchange !== null && !this.exchange.headSent) {
      this.expectContinue = false;
      this.socket.write(CONTINUE);
    }
    this.resume();
    this.timer('body', ms)?.touch();
  }

  /** @internal */
  endBodyWait(waiter: Waiter): void {
    if (this.bodyWaiter !== waiter) return;
    this.bodyWaiter = null;
    this.bodyTimer?.stop();
  }

  private wakeBody(): void {
    const waiter = this.bodyWaiter!;
    this.bodyWaiter = null;
    this.bodyTimer?.stop();
    waiter.settleWait(undefined, false);
  }

  // ---- response writes ----

  /** @internal `written` gets `parts` back once the write ending with them completed: the callback to give that write. */
  lend(parts: readonly Buffer[], written: Written): (err?: Error | null) => void {
    for (let i = 0; i < parts.length; i++) this.lentParts.push(parts[i]!);
    this.lentCounts.push(parts.length);
    this.lentOwners.push(written);
    return this.onLentWritten;
  }

  private readonly onLentWritten = (err?: Error | null): void => {
    const count = this.lentCounts[this.lentAt]!;
    const owner = this.lentOwners[this.lentAt]!;
    this.lentAt++;
    const parts = this.lentParts;
    const first = this.lentPartsAt;
    this.lentPartsAt += count;
    for (let i = first; i < first + count; i++) {
      const part = parts[i]!;
      parts[i] = null;
      if (err == null) owner(part);
    }
    if (this.lentAt === this.lentCounts.length) {
      this.lentAt = 0;
      this.lentPartsAt = 0;
      this.lentCounts.length = 0;
      this.lentOwners.length = 0;
      parts.length = 0;
    }
  };

  /** @internal The client is behind: `waiter` resumes on 'drain', or fails after `ms`. */
  waitDrain(waiter: Waiter, ms: number): void {
    this.drainWaiter = waiter;
    this.timer('send', ms)?.touch();
  }

  /** @internal */
  abandonDrain(waiter: Waiter): void {
    if (this.drainWaiter !== waiter) return;
    this.drainWaiter = null;
    this.sendTimer?.stop();
  }

  private readonly onDrain = (): void => {
    if (this.blocked) {
      this.blocked = false;
      this.sendTimer?.stop();
      if (this.state === HEAD) this.readOn();
      return;
    }
    const waiter = this.drainWaiter;
    if (waiter === null) return;
    this.drainWaiter = null;
    this.sendTimer?.stop();
    waiter.settleWait(undefined, false);
  };

  // ---- the streamed response's idle timeout ----

  /** @internal */
  armStream(ms: number): void {
    this.timer('stream', ms)?.touch();
  }

  /** @internal */
  touchStream(): void {
    this.streamTimer?.touch();
  }

  /** @internal */
  stopStream(): void {
    this.streamTimer?.stop();
  }

  // ---- timers: one IdleTimeout each, made on first use; none for a timeout of 0 (no limit) ----

  private timer(kind: 'header' | 'keepAlive' | 'body' | 'send' | 'linger' | 'stream', ms = 0): IdleTimeout | null {
    const options = this.options;
    switch (kind) {
      case 'header':
        if (options.headerTimeout <= 0) return null;
        return (this.headerTimer ??= new IdleTimeout(options.headerTimeout, () => this.headerTimedOut()));
      case 'keepAlive':
        if (options.keepAliveTimeout <= 0) return null;
        return (this.keepAliveTimer ??= new IdleTimeout(options.keepAliveTimeout, () => {
          if (this.state === HEAD && !this.headStarted) this.finish();
        }));
      case 'linger':
        if (options.lingerTimeout <= 0) return null;
        return (this.lingerTimer ??= new IdleTimeout(options.lingerTimeout, () => this.cut()));
    }
    if (ms <= 0) return null;
    switch (kind) {
      case 'body':
        if (this.bodyTimer === null || this.bodyTimer.ms !== ms)
          this.bodyTimer = new IdleTimeout(ms, () => this.bodyTimedOut(ms));
        return this.bodyTimer;
      case 'send':
        if (this.sendTimer === null || this.sendTimer.ms !== ms)
          this.sendTimer = new IdleTimeout(ms, () => this.sendTimedOut(ms));
        return this.sendTimer;
      case 'stream':
        if (this.streamTimer === null || this.streamTimer.ms !== ms)
          this.streamTimer = new IdleTimeout(ms, () => this.exchange?.streamIdle(ms));
        return this.streamTimer;
    }
  }

  private headerTimedOut(): void {
    if (this.state !== HEAD) return;
    // nothing sent at all: closed without an answer (nginx); a head that stalled: 408
    if (!this.headStarted && this.pos >= this.buf.length) {
      this.finish();
      return;
    }
    this.send(408, `the request head did not arrive within ${this.options.headerTimeout} ms`);
    this.finish();
  }

  private bodyTimedOut(ms: number): void {
    const waiter = this.bodyWaiter;
    if (waiter === null) return;
    this.bodyWaiter = null;
    waiter.settleWait(new BodyTimeoutError(ms), true);
  }

  private sendTimedOut(ms: number): void {
    if (this.blocked) {
      this.cut();
      return;
    }
    const waiter = this.drainWaiter;
    if (waiter === null) return;
    this.drainWaiter = null;
    this.cut();
    waiter.settleWait(new SocketTimeoutError('send', 'client', ms), true);
  }
}

function handlerInSpan(
  span: TraceSpan,
  handler: (exchange: FrontExchange) => Operation<unknown>,
  exchange: FrontExchange,
): Operation<unknown> {
  return runInSpan(span, handler(exchange));
}
