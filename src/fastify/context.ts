// Over 300 lines: HandlerContext is the one object a handler gets: request, status, headers, output, cosockets.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import * as file from '../../adapters/file/index.js';
import * as http from '../../adapters/http/index.js';
import * as redis from '../../adapters/redis/index.js';
import * as tcp from '../../adapters/tcp/index.js';
import {
  CancelReason,
  CancelledError,
  HeadersSentError,
  InvalidArgumentError,
  ReturnAfterOutputError,
  coroutineChain,
} from '../errors/index.js';
import type { Effect } from '../runtime/effect.js';
import { IdleTimeout } from '../runtime/idle-timeout.js';
import type { Task, TaskObserver } from '../runtime/task.js';
import { STATUS_TEXT, statusForError } from './error-status.js';
import { Output } from './output.js';
import { recordStatus } from './route-stats.js';
import type { RouteStats } from './route-stats.js';
import type { Printable, ResponseHead, Written } from './output.js';

export interface OutputOptions {
  /** print/say buffer size before it goes out by itself. Default 16 KB. */
  bufferSize: number;
  /** flush(true) gives up (and aborts the response) after this long. Default 60 s. */
  sendTimeout: number;
  /**
   * Once the head is sent, the handler's overall deadline hands over to this: the stream is cut only
   * after this long without progress (a write, or ctx.progress()). 0: the overall deadline stays. Default 60 s.
   */
  idleTimeout: number;
}

/** A handler that failed, for a plugin-wide failure log (one that rate-limits, say) instead of the request's logger. */
export interface HandlerFailure {
  err: unknown;
  status: number;
  /** The coroutine chain, outermost first, `a > b`. */
  coroutine: string;
  route: string | undefined;
}

export type FailureLog = (failure: HandlerFailure) => void;

/**
 * What a coroutine handler gets: the request, the response status and headers, output with
 * print/say/flush, and the adapters (`ctx.redis.connect()`, `ctx.tcp`, `ctx.http`, `ctx.file`).
 */
export class HandlerContext implements TaskObserver, ResponseHead {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  private statusCode = 200;
  /**
   * The Content-Type of a response whose handler set none; null: the head goes out without one (a
   * proxied response keeps the upstream's head as it came, like nginx's proxy_pass).
   */
  defaultContentType: string | null = 'text/plain; charset=utf-8';
  /** Set by header(); null until then. */
  private headers: Record<string, string | string[]> | null = null;
  private trailers: Record<string, string> | null = null;
  private readonly output: Output;
  /** Where this response is counted once it ended. */
  private readonly stats: RouteStats;
  private readonly log: FastifyBaseLogger;
  private task: Task<unknown> | null = null;
  private idleMs: number;
  private idle: IdleTimeout | null = null;

  constructor(
    request: FastifyRequest,
    reply: FastifyReply,
    options: OutputOptions,
    stats: RouteStats,
    log: FastifyBaseLogger,
    private readonly failureLog: FailureLog | null = null,
  ) {
    this.request = request;
    this.reply = reply;
    this.stats = stats;
    this.log = log;
    this.output = new Output(reply.raw, options.bufferSize, options.sendTimeout, this);
    this.sendTimeout = options.sendTimeout;
    this.idleMs = options.idleTimeout;
  }

  get redis(): typeof redis {
    return redis;
  }

  get tcp(): typeof tcp {
    return tcp;
  }

  get http(): typeof http {
    return http;
  }

  get file(): typeof file {
    return file;
  }

  /** @internal The coroutine running this handler (its deadline is handed over once the head is sent). */
  attach(task: Task<unknown>): void {
    this.task = task;
    if (this.output.streaming) this.handOverDeadline();
  }

  /**
   * ms a streaming response may go without progress before it is cut (replacing the overall deadline
   * once the head is sent); 0 keeps the overall deadline. Set it before the head goes out.
   */
  set idleTimeout(ms: number) {
    if (!(ms >= 0) || !Number.isFinite(ms))
      throw new InvalidArgumentError(`idleTimeout must be a number of ms >= 0, got ${String(ms)}`);
    this.idleMs = ms;
  }

  get idleTimeout(): number {
    return this.idleMs;
  }

  /** The stream moved (bytes read for it, or sent): its idle timeout starts again. Writes count by themselves. */
  progress(): void {
    if (this.idle !== null) this.idle.touch();
  }

  private handOverDeadline(): void {
    const task = this.task;
    if (task === null || this.idle !== null || this.idleMs === 0 || task.done || task.cancelling) return;
    const deadlineAt = task.deadlineAt;
    // a handler without an overall deadline (deadline: 0) keeps running as it was started
    if (task.clearDeadline() === 0) return;
    // never cut earlier than the overall deadline would have: until then an idle period only re-arms it
    const idle = new IdleTimeout(this.idleMs, (ms) => {
      if (Date.now() < deadlineAt) idle.touch();
      else task.cancel(CancelReason.deadline(`the response stream made no progress for ${ms} ms`));
    });
    this.idle = idle;
    idle.touch();
    task.addCleanup(() => idle.stop());
  }

  /** ms a client may take to accept what is sent (nginx's send_timeout): also for streams returned from the handler. */
  readonly sendTimeout: number;

  /** Response status, 200 unless set; setting it once the head went out throws HeadersSentError. */
  get status(): number {
    return this.statusCode;
  }

  set status(code: number) {
    if (this.headSent) throw new HeadersSentError(`status ${String(code)}`);
    this.statusCode = code;
  }

  /** Sets a response header; once the head went out (flush, write, the end) it throws HeadersSentError. */
  header(name: string, value: string | number | string[]): this {
    if (this.headSent) throw new HeadersSentError(`header '${name}'`);
    if (this.headers === null) this.headers = {};
    this.headers[name.toLowerCase()] = Array.isArray(value) ? value : String(value);
    return this;
  }

  /**
   * A trailer field sent after a chunked body (declare it first with header('trailer', name)). Clients
   * of HTTP/1.0 responses, which are not chunked, do not get it.
   */
  trailer(name: string, value: string): this {
    if (this.headSent && !(this.output.streaming && !this.reply.raw.writableEnded && this.announces(name)))
      throw new HeadersSentError(
        `trailer '${name}'`,
        'the response head went out without announcing it in a Trailer header (or the response ended)',
      );
    // Node's own field checks, here rather than at the end of the response where nobody could catch them
    try {
      validateHeaderName(name);
    } catch {
      throw new InvalidArgumentError(`trailer name ${JSON.stringify(name)} is not a valid field name`);
    }
    try {
      validateHeaderValue(name, value);
    } catch {
      throw new InvalidArgumentError(
        `trailer '${name}': the value has a character a field value cannot hold (CR, LF, other controls)`,
      );
    }
    if (this.trailers === null) this.trailers = {};
    this.trailers[name] = value;
    return this;
  }

  /** The Trailer header as set names `name`. */
  private announces(name: string): boolean {
    const declared = this.headers?.trailer;
    if (declared === undefined) return false;
    const lower = name.toLowerCase();
    const names = (Array.isArray(declared) ? declared.join(',') : declared).split(',');
    return names.some((n) => n.trim().toLowerCase() === lower);
  }

  /** Appends to the output buffer (like ngx.print); nothing is written until it fills, flush, or the end. */
  print(...values: Printable[]): void {
    this.output.append(values);
  }

  /** print, then a newline (like ngx.say). */
  say(...values: Printable[]): void {
    values.push('\n');
    this.output.append(values);
  }

  /** Sends `data` now as one chunk, waiting only while the client is not taking data (backpressure). */
  write(data: Buffer): Effect<void> {
    if (this.idle !== null) this.idle.touch();
    return this.output.write(data);
  }

  /**
   * Sends `parts` now, a chunk each, in one socket write, waiting like write(); `written(part)` is
   * called for each part once the socket no longer needs it (the caller may reuse its memory then).
   */
  writeLent(parts: readonly Buffer[], written: Written): Effect<void> {
    if (this.idle !== null) this.idle.touch();
    return this.output.writeLent(parts, written);
  }

  /**
   * Sends `parts`, bytes already framed as chunks (whole size lines, data and CRLFs; no last chunk:
   * the end of the handler writes it), in one socket write, waiting like write(); `written` as in
   * writeLent(). Only after chunkOnSocket() returned true.
   */
  writeFramed(parts: readonly Buffer[], written: Written): Effect<void> {
    if (this.idle !== null) this.idle.touch();
    return this.output.writeFramed(parts, written);
  }

  /**
   * Sends the head now (status and headers as set) and frames the body's chunks on the client socket
   * instead of through Node's ServerResponse: each writeLent() is then one chunk in one socket write.
   * False when this response cannot be chunked that way (HEAD, HTTP/1.0, a bodiless status, a
   * Content-Length set, a pipelined response still waiting for the socket): writes then go the usual
   * way, and the head may have gone out already.
   */
  chunkOnSocket(): boolean {
    return this.output.chunkOnSocket(this.status);
  }

  /** The client's socket has not taken all that was written (its send buffer is full). */
  writeBlocked(): boolean {
    return this.output.writeBlocked();
  }

  /** True once the response head went out (by flush or write, or with the whole response at the end). */
  get headSent(): boolean {
    return this.output.streaming || this.reply.raw.headersSent;
  }

  /** Sends what is buffered; `yield* ctx.flush(true)` returns once the kernel took it (bounded by the send timeout). */
  flush(wait = false): Effect<void> {
    if (this.idle !== null) this.idle.touch();
    return this.output.flush(wait);
  }

  /** @internal The handler's coroutine ended: send what it made, or the error it ended with. */
  onTaskSettled(task: Task<unknown>): void {
    const isError = task.settledInError();
    const value = task.settledWith();
    if (isError) this.fail(value, task);
    else if (value !== undefined && value !== null && (this.output.streaming || this.output.buffered > 0))
      this.fail(new ReturnAfterOutputError(task.name, typeof value), task);
    else this.finish(value);
  }

  private finish(value: unknown): void {
    const raw = this.reply.raw;
    if (raw.destroyed) return;
    if (this.output.streaming) {
      try {
        this.output.endBody(this.trailers);
        raw.end();
      } catch (err) {
        // nothing may escape here (no caller would see it): cut the response instead of leaving it open
        this.log.error({ err, route: this.request.routeOptions.url }, 'could not end a streamed response');
        raw.destroy();
      }
      recordStatus(this.stats, this.status);
      return;
    }
    const reply = this.reply;
    if (reply.sent) {
      // the handler answered on reply.raw itself, after reply.hijack(): nothing more to send
      recordStatus(this.stats, raw.statusCode);
      return;
    }
    const headers = this.headers;
    if (this.output.buffered > 0 || value === undefined || value === null) {
      const addedType = headers === null || headers['content-type'] === undefined ? this.defaultContentType : undefined;
      // fastify's send() would name a type (octet-stream) for a Buffer: a response meant to have none goes out by itself
      if (addedType === null) {
        this.sendUntyped(this.output.takeAll());
        return;
      }
      this.setReplyHead(headers);
      if (addedType !== undefined) reply.type(addedType);
      reply.send(this.output.takeBody());
    } else {
      this.setReplyHead(headers);
      reply.send(value);
    }
    recordStatus(this.stats, reply.statusCode);
  }

  /** Status and headers as set, onto the fastify reply (skipping what would change nothing). */
  private setReplyHead(headers: Record<string, string | string[]> | null): void {
    if (this.reply.statusCode !== this.status) this.reply.code(this.status);
    if (headers !== null) this.reply.headers(headers);
  }

  /** A response with no Content-Type: status, headers as set, and `body` (its Content-Length by Node). */
  private sendUntyped(body: Buffer): void {
    this.reply.hijack();
    const raw = this.reply.raw;
    raw.statusCode = this.status;
    if (this.headers !== null) for (const [name, value] of Object.entries(this.headers)) raw.setHeader(name, value);
    raw.end(body); // the head goes out with it, so Node frames it by the body's length
    recordStatus(this.stats, this.status);
  }

  private fail(err: unknown, task: Task<unknown>): void {
    const raw = this.reply.raw;
    if (err instanceof CancelledError && err.reason.kind === 'client-abort') return; // nobody to answer
    const status = statusForError(err);
    const log = this.log;
    const fields = {
      err,
      coroutine: (coroutineChain(err) ?? task.chain()).join(' > '),
      route: this.request.routeOptions.url,
    };
    if (this.failureLog !== null) this.failureLog({ ...fields, status });
    else if (status === 500) log.error(fields, 'coroutine handler failed');
    else log.warn(fields, `coroutine handler answered ${status}`);
    if (raw.destroyed) return;
    if (this.output.streaming) {
      // the head went out already: cut the response so the client cannot take it for complete
      raw.destroy();
      recordStatus(this.stats, status);
      return;
    }
    const message = err instanceof Error && status !== 500 ? `: ${err.message}` : '';
    // a request whose body was refused part-way: its unread rest makes the connection unusable
    if (status === 413 || status === 408) this.reply.header('connection', 'close');
    this.reply
      .code(status)
      .type('text/plain; charset=utf-8')
      .send(`${status} ${STATUS_TEXT[status] ?? 'Error'}${message}\n`);
    recordStatus(this.stats, status);
  }

  /** @internal The body starts to stream: the head goes out now, and the deadline hands over to the idle timeout. */
  sendHead(): void {
    this.handOverDeadline();
    this.reply.hijack();
    const headers: Record<string, string | string[]> = { ...this.headers };
    if (headers['content-type'] === undefined && this.defaultContentType !== null)
      headers['content-type'] = this.defaultContentType;
    // an HTTP/1.0 response is not chunked, so it cannot carry trailers: Node refuses the whole head if it announces them
    if (this.request.raw.httpVersionMinor === 0 && this.request.raw.httpVersionMajor === 1) delete headers.trailer;
    this.reply.raw.writeHead(this.status, headers);
  }
}
