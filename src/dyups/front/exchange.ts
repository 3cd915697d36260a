// Over 300 lines: one request and its response on the front: head, framing, body writes, the end and errors.
import type { IncomingHttpHeaders } from 'node:http';
import {
  BodyFramingError,
  CancelReason,
  CancelledError,
  HeadersSentError,
  InvalidArgumentError,
  SocketClosedError,
} from '../../errors/index.js';
import { STATUS_TEXT, statusForError } from '../../fastify/error-status.js';
import { deferWrites, flushDeferred } from '../../../adapters/write-batch.js';
import { defineKind } from '../../runtime/effect.js';
import type { TraceSpan } from '../../runtime/tracing.js';
import type { UpstreamTry } from '../../server/log-format.js';
import type { Effect, Waiter } from '../../runtime/effect.js';
import type { Task, TaskObserver } from '../../runtime/task.js';
import type { ResponseSink } from '../../stream/sink.js';
import { trimOws } from './chars.js';
import type { ClientTunnel } from './client-tunnel.js';
import type { ExchangeHost, Written } from './host.js';
import type { FrontBody } from './request-body.js';
import type { RequestHead } from './request-head.js';
import { ERROR_PAGE_TYPE, errorLogLine, errorPage } from './error-page.js';
import { checkField, dateHeaderLine, statusLine } from './response-head.js';

export type { Written } from './host.js';

/**
 * A Content-Length as one number: a repeated one (`5, 5`, or an array, as an upstream may send it) is
 * sent once; anything else cannot frame the body the front writes.
 */
function oneLength(value: string | string[]): string {
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return value;
  const items = (typeof value === 'string' ? value : value.join(',')).split(',');
  const first = trimOws(items[0]!);
  for (const item of items)
    if (!/^\d{1,15}$/.test(trimOws(item)) || Number(trimOws(item)) !== Number(first))
      throw new InvalidArgumentError(`Content-Length ${JSON.stringify(value)} is not one number of bytes`);
  return String(Number(first));
}

/** How the body is framed on the wire, once the head is decided. */
const UNDECIDED = 0;
const NO_BODY = 1;
const LENGTH = 2;
const CHUNKED = 3;
/** HTTP/1.0 without a Content-Length: the body ends when the connection does. */
const UNTIL_CLOSE = 4;
/** A 101 went out: the connection carries another protocol (switchProtocols). */
const SWITCHED = 5;

const CRLF = Buffer.from('\r\n');
/** Bytes of a write (head and body) copied into one Buffer rather than handed to the socket piece by piece. */
const COPY_LIMIT = 16 * 1024;
const NO_PARTS: readonly Buffer[] = [];
const EMPTY = Buffer.alloc(0);
const TEXT = 'text/plain; charset=utf-8';

function writeToStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

function abandonWrite(waiter: Waiter, exchange: FrontExchange): void {
  exchange.conn.abandonDrain(waiter);
}

const WRITE = defineKind<FrontExchange, Buffer>({
  name: 'http.write',
  start(waiter, exchange, data) {
    exchange.beginWrite(waiter, NO_PARTS, data, null, false);
  },
  abandon: abandonWrite,
});

const WRITE_LENT = defineKind<FrontExchange, readonly Buffer[]>({
  name: 'http.write',
  start(waiter, exchange, parts) {
    exchange.beginWrite(waiter, parts, null, exchange.takeWritten(), false);
  },
  abandon: abandonWrite,
});

const WRITE_FRAMED = defineKind<FrontExchange, readonly Buffer[]>({
  name: 'http.write',
  start(waiter, exchange, parts) {
    exchange.beginWrite(waiter, parts, null, exchange.takeWritten(), true);
  },
  abandon: abandonWrite,
});

const FLUSH = defineKind<FrontExchange, boolean>({
  name: 'http.flush',
  start(waiter, exchange, wait) {
    exchange.beginFlush(waiter, wait);
  },
  abandon: abandonWrite,
});

/**
 * One request on the front and the response to it: what a handler gets as its context. The request
 * fields are the parsed head; the response is written straight to the socket, its head with the
 * first body bytes (or with the whole body) in one write, a chunked body framed here.
 */
export class FrontExchange implements ResponseSink, TaskObserver {
  readonly request: this;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly protocol = 'http';
  /** 0 or 1: HTTP/1.0 or HTTP/1.1. */
  readonly minor: number;
  /** The request body, null when the request has none. */
  readonly body: FrontBody | null;
  /** The client asks to switch protocols (Upgrade and `Connection: upgrade`, HTTP/1.1, no body). */
  readonly upgrade: boolean;
  private statusCode = 200;
  defaultContentType: string | null = TEXT;
  readonly sendTimeout: number;
  /** The connection may carry another request after this one. */
  keepAlive: boolean;
  /** The coroutine answering it. */
  task: Task<unknown> | null = null;
  /** The response went out whole, or was cut: nothing more happens on it. */
  ended = false;
  /** The client went away before the response ended (nginx logs 499). */
  clientClosed = false;
  /** The upstream group its Host named, once the proxy found it ('' until then): for the metrics and the access log. */
  upstreamGroup = '';
  /** The proxy's tries of upstream servers, when the access log wants them. */
  upstreamTries: UpstreamTry[] | null = null;
  /** Its server span, with tracing on; ends with the exchange. */
  span: TraceSpan | null = null;
  private names: string[] | null = null;
  private values: Array<string | string[]> | null = null;
  private trailers: string | null = null;
  private framing = UNDECIDED;
  /** The head, decided and not yet written: it goes out with the first body bytes. */
  private pendingHead: string | null = null;
  private declared = 0;
  private sent = 0;
  private idleMs: number;
  private readonly errorLog: (line: string) => void;
  /** The stream's idle timeout replaced the coroutine's deadline (at that deadline). */
  private idleArmed = false;
  deadlineAt = 0;
  private written: Written | null = null;
  /** performance.now() when the request head was read: for $request_time and the latency metrics. */
  readonly startedAt = performance.now();
  private readonly onEnded: ((exchange: FrontExchange) => void) | undefined;

  constructor(
    readonly conn: ExchangeHost,
    head: RequestHead,
    body: FrontBody | null,
    options: {
      sendTimeout: number;
      idleTimeout: number;
      errorLog?: ((line: string) => void) | undefined;
      onEnded?: ((exchange: FrontExchange) => void) | undefined;
    },
  ) {
    this.request = this;
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.minor = head.minor;
    this.keepAlive = head.keepAlive;
    this.upgrade = head.upgrade;
    this.body = body;
    this.sendTimeout = options.sendTimeout;
    this.idleMs = options.idleTimeout;
    this.errorLog = options.errorLog ?? writeToStderr;
    this.onEnded = options.onEnded;
  }

  /** Response body bytes written to the socket so far (chunk framing aside). */
  get bodyBytesSent(): number {
    return this.sent;
  }

  get ip(): string {
    return this.conn.ip;
  }

  /** True once the response head is decided (it goes out with the first bytes written). */
  get headSent(): boolean {
    return this.framing !== UNDECIDED;
  }

  set idleTimeout(ms: number) {
    this.idleMs = ms;
  }

  get idleTimeout(): number {
    return this.idleMs;
  }

  /** Response status, 200 unless set; setting it once the head is decided throws HeadersSentError. */
  get status(): number {
    return this.statusCode;
  }

  set status(code: number) {
    if (this.framing !== UNDECIDED) throw new HeadersSentError(`status ${String(code)}`);
    this.statusCode = code;
  }

  header(name: string, value: string | number | string[]): this {
    if (this.framing !== UNDECIDED) throw new HeadersSentError(`header '${name}'`);
    let text = typeof value === 'number' ? String(value) : value;
    checkField(name, text);
    const lower = name.toLowerCase();
    if (lower === 'content-length') text = oneLength(text);
    if (this.names === null) {
      this.names = [lower];
      this.values = [text];
      return this;
    }
    const at = this.names.indexOf(lower);
    if (at >= 0) this.values![at] = text;
    else {
      this.names.push(lower);
      this.values!.push(text);
    }
    return this;
  }

  trailer(name: string, value: string): this {
    if (this.framing !== UNDECIDED && !(this.framing === CHUNKED && !this.ended && this.announces(name)))
      throw new HeadersSentError(
        `trailer '${name}'`,
        'the response head went out without announcing it in a Trailer header (or the response ended)',
      );
    checkField(name, value);
    this.trailers = `${this.trailers ?? ''}${name}: ${value}\r\n`;
    return this;
  }

  /** The Trailer header as set names `name`. */
  private announces(name: string): boolean {
    const declared = this.headerValue('trailer');
    if (declared === undefined) return false;
    const lower = name.toLowerCase();
    const names = (Array.isArray(declared) ? declared.join(',') : declared).split(',');
    return names.some((n) => n.trim().toLowerCase() === lower);
  }

  write(data: Buffer): Effect<void> {
    return WRITE(this, data);
  }

  writeLent(parts: readonly Buffer[], written: Written): Effect<void> {
    this.written = written;
    return WRITE_LENT(this, parts);
  }

  /** Like writeLent(), for bytes already framed as chunks; only after chunkOnSocket() returned true. */
  writeFramed(parts: readonly Buffer[], written: Written): Effect<void> {
    this.written = written;
    return WRITE_FRAMED(this, parts);
  }

  flush(wait = false): Effect<void> {
    return FLUSH(this, wait);
  }

  /** The client's socket holds bytes the kernel has not taken yet (its send buffer is full). */
  writeBlocked(): boolean {
    flushDeferred(this.conn.socket);
    return this.conn.socket.writableLength > 0;
  }

  /** Decides the head now; true when each later write is one chunk of a chunked body. */
  chunkOnSocket(): boolean {
    this.decideHead();
    return this.framing === CHUNKED;
  }

  progress(): void {
    if (this.idleArmed) this.conn.touchStream();
  }

  /**
   * Answers `101 Switching Protocols` with `fields` (name, value, ...: Upgrade among them; Connection is
   * added) and hands the connection over: its bytes both ways go through the returned tunnel, for as long
   * as the coroutine runs (no deadline, the caller keeps its own idle timeout); when it ends, so does the
   * connection.
   */
  switchProtocols(fields: readonly string[]): ClientTunnel {
    if (this.framing !== UNDECIDED) throw new HeadersSentError('status 101 (switchProtocols)');
    if (!this.upgrade) throw new InvalidArgumentError('switchProtocols(): the request asked for no upgrade');
    if (this.conn.socketGone) throw new SocketClosedError('send', 'client');
    let head = statusLine(101);
    let dated = false;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      checkField(name, value);
      if (name.toLowerCase() === 'connection') continue;
      if (name.toLowerCase() === 'date') dated = true;
      head += `${name}: ${value}\r\n`;
    }
    if (!dated) head += dateHeaderLine();
    this.framing = SWITCHED;
    this.keepAlive = false;
    this.task?.clearDeadline();
    this.conn.socket.write(`${head}Connection: upgrade\r\n\r\n`, 'latin1');
    return this.conn.takeOver();
  }

  /** @internal The `written` of the writeLent() being started. */
  takeWritten(): Written | null {
    const written = this.written;
    this.written = null;
    return written;
  }

  /** @internal The coroutine answering this request. */
  attach(task: Task<unknown>): void {
    this.task = task;
    if (this.framing !== UNDECIDED) this.handOverDeadline();
  }

  /** @internal `framed`: the parts are chunks with their framing (writeFramed), sent as they are. */
  beginWrite(
    waiter: Waiter,
    parts: readonly Buffer[],
    data: Buffer | null,
    written: Written | null,
    framed: boolean,
  ): void {
    if (this.ended || this.conn.socketGone) throw new SocketClosedError('send', 'client');
    // an idle timeout armed by this very write's head needs no push
    const armed = this.idleArmed;
    this.decideHead();
    if (framed && this.framing !== CHUNKED)
      throw new InvalidArgumentError('writeFramed() needs a body chunked on the socket (chunkOnSocket())');
    if (armed) this.conn.touchStream();
    if (this.emit(parts, data, written, framed)) waiter.settleWait(undefined, false);
    else this.conn.waitDrain(waiter, this.sendTimeout);
  }

  /** @internal */
  beginFlush(waiter: Waiter, wait: boolean): void {
    if (this.ended || this.conn.socketGone) throw new SocketClosedError('send', 'client');
    this.decideHead();
    if (this.pendingHead !== null) this.emit(NO_PARTS, null, null, false);
    if (!wait || !this.conn.socket.writableNeedDrain) waiter.settleWait(undefined, false);
    else this.conn.waitDrain(waiter, this.sendTimeout);
  }

  /** The head's framing, from the status, the method, a Content-Length set and the client's version. */
  private decideHead(): void {
    if (this.framing !== UNDECIDED) return;
    const status = this.status;
    const length = this.headerValue('content-length');
    if (this.method === 'HEAD' || status < 200 || status === 204 || status === 304) this.framing = NO_BODY;
    else if (length !== undefined) {
      this.framing = LENGTH;
      this.declared = Number(length);
    } else if (this.minor === 1) this.framing = CHUNKED;
    else {
      this.framing = UNTIL_CLOSE;
      this.keepAlive = false;
    }
    this.pendingHead = this.headText(this.framing === CHUNKED ? 'Transfer-Encoding: chunked\r\n' : '');
    this.handOverDeadline();
  }

  /**
   * Writes the pending head (if any) and `data` then `parts` as body bytes, in one socket write: copied
   * into one Buffer when small (the parts go back at once), else as they are. False when the client is behind.
   */
  private emit(parts: readonly Buffer[], data: Buffer | null, written: Written | null, framed: boolean): boolean {
    const socket = this.conn.socket;
    const head = this.pendingHead;
    this.pendingHead = null;
    let size = data === null ? 0 : data.length;
    for (let i = 0; i < parts.length; i++) size += parts[i]!.length;
    if (size === 0 || this.framing === NO_BODY) {
      if (written !== null) for (let i = 0; i < parts.length; i++) written(parts[i]!);
      return head === null ? !socket.writableNeedDrain : socket.write(head, 'latin1');
    }
    this.sent += size;
    if (this.framing === LENGTH && this.sent > this.declared) {
      // more than the Content-Length said: the client could read it as the next response
      this.conn.cut();
      throw new SocketClosedError('send', 'client', undefined, 'the body is longer than its Content-Length');
    }
    // framed parts carry their own size lines and CRLFs
    const chunked = this.framing === CHUNKED && !framed;
    const sizeLine = chunked ? `${size.toString(16)}\r\n` : '';
    const total = (head === null ? 0 : head.length) + sizeLine.length + size + (chunked ? 2 : 0);
    if (total <= COPY_LIMIT) {
      const out = Buffer.allocUnsafe(total);
      let at = head === null ? 0 : out.write(head, 0, 'latin1');
      if (chunked) at += out.write(sizeLine, at, 'latin1');
      if (data !== null) at += data.copy(out, at);
      for (let i = 0; i < parts.length; i++) at += parts[i]!.copy(out, at);
      if (chunked) {
        out[at] = 0x0d;
        out[at + 1] = 0x0a;
      }
      if (written !== null) for (let i = 0; i < parts.length; i++) written(parts[i]!);
      // the whole response: it leaves with the turn's other writes (see deferWrites)
      if (this.framing === LENGTH && this.sent === this.declared) deferWrites(socket);
      return socket.write(out);
    }
    socket.cork();
    if (head !== null) socket.write(head, 'latin1');
    if (chunked) socket.write(sizeLine, 'latin1');
    let sent = data === null || socket.write(data);
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) socket.write(parts[i]!);
    const callback = written === null ? undefined : this.conn.lend(parts, written);
    if (chunked) {
      if (last >= 0) socket.write(parts[last]!);
      sent = socket.write(CRLF, callback);
    } else if (last >= 0) sent = socket.write(parts[last]!, callback);
    socket.uncork();
    return sent;
  }

  /** @internal The handler's coroutine ended: the rest of the response, or the error it ended with. */
  onTaskSettled(task: Task<unknown>): void {
    const isError = task.settledInError();
    const value = task.settledWith();
    if (this.ended) return;
    if (isError) this.fail(value);
    else this.finish(value);
  }

  private finish(value: unknown): void {
    if (this.conn.socketGone || this.framing === SWITCHED) {
      this.end(false);
      return;
    }
    if (this.framing === UNDECIDED) {
      this.sendWhole(value);
      return;
    }
    const head = this.pendingHead;
    this.pendingHead = null;
    // the response's last bytes: they leave with the turn's other writes (see deferWrites)
    if (head !== null || this.framing === CHUNKED) deferWrites(this.conn.socket);
    if (this.framing === CHUNKED) {
      const last = this.trailers === null ? '0\r\n\r\n' : `0\r\n${this.trailers}\r\n`;
      this.conn.socket.write(head === null ? last : head + last, 'latin1');
    } else if (head !== null) this.conn.socket.write(head, 'latin1');
    if (this.framing === LENGTH && this.sent !== this.declared) {
      this.conn.cut(); // shorter than its Content-Length: the client must see it cut
      this.end(false);
      return;
    }
    this.end(this.keepAlive);
  }

  /** A response never flushed: its head and `value` as the body, in one write. */
  private sendWhole(value: unknown): void {
    let body: Buffer;
    if (value === undefined || value === null) body = EMPTY;
    else if (typeof value === 'string') body = Buffer.from(value);
    else if (Buffer.isBuffer(value)) body = value;
    else if (value instanceof Uint8Array) body = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    else {
      if (this.headerValue('content-type') === undefined)
        this.header('content-type', 'application/json; charset=utf-8');
      body = Buffer.from(JSON.stringify(value));
    }
    const status = this.status;
    const bodyless = this.method === 'HEAD' || status < 200 || status === 204 || status === 304;
    this.framing = bodyless ? NO_BODY : LENGTH;
    let extra = '';
    if (this.defaultContentType !== null && this.headerValue('content-type') === undefined)
      extra = `Content-Type: ${this.defaultContentType}\r\n`;
    // a HEAD answer tells the length of what a GET would get: unknown here unless the handler made a body
    if (
      this.headerValue('content-length') === undefined &&
      status >= 200 &&
      status !== 204 &&
      status !== 304 &&
      (this.method !== 'HEAD' || body.length > 0)
    )
      extra += `Content-Length: ${body.length}\r\n`;
    const head = this.headText(extra);
    const socket = this.conn.socket;
    deferWrites(socket); // the whole response, in one write: it leaves with the turn's other writes
    if (bodyless || body.length === 0) socket.write(head, 'latin1');
    else {
      const whole = Buffer.allocUnsafe(head.length + body.length);
      whole.write(head, 0, 'latin1');
      body.copy(whole, head.length);
      socket.write(whole);
      this.sent = body.length;
    }
    this.end(this.keepAlive);
  }

  private fail(err: unknown): void {
    if (err instanceof CancelledError && err.reason.kind === 'client-abort') {
      this.end(false); // nobody to answer
      return;
    }
    const status = statusForError(err);
    if (this.conn.socketGone || (this.framing !== UNDECIDED && this.pendingHead === null)) {
      // the head went out already: cut the response so the client cannot take it for complete (a body
      // that ends with the connection needs a reset for that: a FIN is its normal end)
      this.conn.cut(this.framing === UNTIL_CLOSE);
      this.end(false);
      return;
    }
    // a request whose body was refused part-way: its unread rest makes the connection unusable
    if (status === 413 || status === 408 || err instanceof BodyFramingError) this.keepAlive = false;
    // a head decided but not yet written is replaced by the error's
    this.framing = UNDECIDED;
    this.pendingHead = null;
    this.names = null;
    this.values = null;
    this.status = status;
    if (status >= 500) {
      // the client gets nginx's generic page; what went wrong is for the log
      this.errorLog(errorLogLine(`${status}: ${err instanceof Error ? err.message : String(err)}`, this));
      this.sendPage(status);
      return;
    }
    // a 4xx is about the client's own request: the reason helps it
    const message = err instanceof Error ? `: ${err.message}` : '';
    this.defaultContentType = TEXT;
    this.sendWhole(`${status} ${STATUS_TEXT[status] ?? 'Error'}${message}\n`);
  }

  /** @internal The scheduler's budget is used up: 503 with Retry-After, the coroutine never started. */
  overloaded(err: Error, retryAfter: number): void {
    this.errorLog(errorLogLine(`503: ${err.message}`, this));
    this.status = 503;
    this.header('retry-after', String(retryAfter));
    this.sendPage(503);
  }

  /** Answers with the generic page for `status` (a 5xx), nothing about why. */
  private sendPage(status: number): void {
    this.status = status;
    this.defaultContentType = ERROR_PAGE_TYPE;
    this.sendWhole(errorPage(status));
  }

  /** The client went away before the response ended: its coroutine is cancelled. */
  clientGone(): void {
    if (this.ended) return;
    this.ended = true;
    this.clientClosed = true;
    this.stopIdle();
    if (this.span !== null) this.endSpan('the client went away before the response was sent');
    const task = this.task;
    if (task !== null && !task.done) task.cancel(CancelReason.clientAbort());
    this.onEnded?.(this);
  }

  private end(keepAlive: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.stopIdle();
    if (this.span !== null) this.endSpan(this.status >= 500 ? `status ${this.status}` : undefined);
    this.conn.exchangeEnded(this, keepAlive && this.keepAlive);
    this.onEnded?.(this);
  }

  private endSpan(error: string | undefined): void {
    const span = this.span!;
    this.span = null;
    span.setAttribute('http.response.status_code', this.status);
    span.end(error);
  }

  /** Once the head is decided, the coroutine's overall deadline hands over to an idle timeout. */
  private handOverDeadline(): void {
    const task = this.task;
    if (task === null || this.idleArmed || this.idleMs === 0 || task.done || task.cancelling) return;
    this.deadlineAt = task.deadlineAt;
    // a handler without an overall deadline keeps running as it was started
    if (task.clearDeadline() === 0) return;
    this.idleArmed = true;
    this.conn.armStream(this.idleMs);
  }

  /** @internal The stream made no progress for `ms`: cut it, but never before the overall deadline would have. */
  streamIdle(ms: number): void {
    const task = this.task;
    if (!this.idleArmed || task === null || task.done) return;
    if (Date.now() < this.deadlineAt) this.conn.touchStream();
    else task.cancel(CancelReason.deadline(`the response stream made no progress for ${ms} ms`));
  }

  private stopIdle(): void {
    if (!this.idleArmed) return;
    this.idleArmed = false;
    this.conn.stopStream();
  }

  /** The value of a response header set, by lowercased name. */
  private headerValue(name: string): string | string[] | undefined {
    const names = this.names;
    if (names === null) return undefined;
    const at = names.indexOf(name);
    return at < 0 ? undefined : this.values![at];
  }

  /** The head: status line, the headers set, Date, `extra` lines, Connection. */
  private headText(extra: string): string {
    let head = statusLine(this.status);
    const names = this.names;
    let dated = false;
    if (names !== null) {
      const values = this.values!;
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        // the front frames the body and decides on the connection itself
        if (name === 'connection') {
          const value = values[i]!;
          if (/close/i.test(typeof value === 'string' ? value : value.join(','))) this.keepAlive = false;
          continue;
        }
        if (name === 'transfer-encoding' || name === 'keep-alive') continue;
        if (name === 'date') dated = true;
        const value = values[i]!;
        if (typeof value === 'string') head += `${name}: ${value}\r\n`;
        else for (const item of value) head += `${name}: ${item}\r\n`;
      }
    }
    if (!dated) head += dateHeaderLine();
    if (this.conn.closing) this.keepAlive = false;
    return `${head}${extra}${this.keepAlive ? 'Connection: keep-alive\r\n\r\n' : 'Connection: close\r\n\r\n'}`;
  }
}
