// Over 300 lines: one output state machine (buffered, flushed, chunked, ended) shared by print, say, flush and write.
import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { InvalidArgumentError, SocketClosedError, SocketTimeoutError } from '../errors/index.js';
import { defineKind } from '../runtime/effect.js';
import type { Effect, Waiter } from '../runtime/effect.js';
import { RawChunkedBody } from './raw-chunked.js';
import type { Written } from './raw-chunked.js';

export type { Written } from './raw-chunked.js';

/** What print/say accept: text, bytes, numbers, and arrays of them (nested). */
export type Printable = string | number | boolean | Buffer | Uint8Array | null | undefined | readonly Printable[];

/** A cancelled flush or write stops waiting for the client. */
function abandonWait(waiter: Waiter, output: Output): void {
  output.abandonFlush(waiter);
}

const FLUSH = defineKind<Output, boolean>({
  name: 'http.flush',
  start(waiter, output, wait) {
    output.beginFlush(waiter, wait);
  },
  abandon: abandonWait,
  describe(_output, wait) {
    return `http.flush(${wait})`;
  },
});

const WRITE = defineKind<Output, Buffer>({
  name: 'http.write',
  start(waiter, output, data) {
    output.beginWrite(waiter, data);
  },
  abandon: abandonWait,
  describe(_output, data) {
    return `http.write (${data.length} bytes)`;
  },
});

interface LentWrite {
  parts: readonly Buffer[];
  written: Written;
  /** the parts are chunks already framed */
  framed: boolean;
}

const WRITE_LENT = defineKind<Output, LentWrite>({
  name: 'http.write',
  start(waiter, output, write) {
    output.beginLentWrite(waiter, write);
  },
  abandon: abandonWait,
});

function onSendTimeout(output: Output): void {
  output.sendTimedOut();
}

/** Sends the response head (status and headers) when the body starts to stream. */
export interface ResponseHead {
  sendHead(): void;
}

/**
 * A handler's output buffer, with ngx.print/ngx.flush semantics: print appends without writing; the
 * buffer goes out when it passes `bufferSize`, on flush, or when the handler ends. The first flush
 * sends the head (chunked unless a Content-Length was set); each flush leaves as one chunk in one write.
 */
export class Output {
  /** Printed text stays a string until it must be bytes: a small text response then leaves with its head in one write. */
  private chunks: Array<Buffer | string> = [];
  private size = 0;
  /** Every buffered part is text. */
  private text = true;
  /** The head is on the wire: the rest goes out as chunks through `raw`. */
  streaming = false;
  /** Set by chunkOnSocket(): the body goes to the socket with our framing, not through `raw`. */
  private rawBody: RawChunkedBody | null = null;
  private flushWaiter: Waiter | null = null;
  private flushTimer: NodeJS.Timeout | null = null;

  /** Made on the first wait for 'drain': most responses never wait. */
  private drainListener: (() => void) | null = null;

  constructor(
    private readonly raw: ServerResponse,
    private readonly bufferSize: number,
    private readonly sendTimeout: number,
    private readonly head: ResponseHead,
  ) {}

  get buffered(): number {
    return this.size;
  }

  append(values: readonly Printable[]): void {
    for (const value of values) this.add(value);
    if (this.size >= this.bufferSize) this.writeOut(null);
  }

  /** `yield* ctx.flush(wait)`: hand the buffer to the socket; with `wait`, return once the kernel took it. */
  flush(wait: boolean): Effect<void> {
    return FLUSH(this, wait);
  }

  /**
   * `yield* ctx.write(data)`: sends `data` (after anything printed) as one chunk; returns at once while
   * the socket takes more, else when it drained (backpressure), bounded by the send timeout.
   */
  write(data: Buffer): Effect<void> {
    return WRITE(this, data);
  }

  /**
   * Like write(), for memory the caller reuses: `parts` go out in one socket write (one chunk when
   * chunkOnSocket() is on, else a chunk each), and `written(part)` is called for each once the socket
   * no longer needs it.
   */
  writeLent(parts: readonly Buffer[], written: Written): Effect<void> {
    return WRITE_LENT(this, { parts, written, framed: false });
  }

  /** Like writeLent(), for bytes already framed as chunks; only after chunkOnSocket() returned true. */
  writeFramed(parts: readonly Buffer[], written: Written): Effect<void> {
    return WRITE_LENT(this, { parts, written, framed: true });
  }

  /**
   * Sends the head now and frames the body's chunks here, on the socket, instead of through Node's
   * ServerResponse (see RawChunkedBody). False when this response cannot: then nothing changed, or
   * the head went out the usual way.
   */
  chunkOnSocket(status: number): boolean {
    if (this.streaming) return false;
    this.rawBody = RawChunkedBody.open(this.raw, status, () => this.startStreaming());
    return this.rawBody !== null;
  }

  /** The handler ended: what is still buffered, trailers, the end of a chunked body. The caller ends `raw`. */
  endBody(trailers: Record<string, string> | null): void {
    const rawBody = this.rawBody;
    if (rawBody === null) {
      if (this.size > 0) this.raw.write(this.takeAll());
      if (trailers !== null) this.raw.addTrailers(trailers);
      return;
    }
    if (this.size > 0) rawBody.writeChunk(this.takeAll());
    rawBody.end(trailers);
  }

  /** @internal */
  beginWrite(waiter: Waiter, data: Buffer): void {
    this.startStreaming();
    const chunk = this.size > 0 ? Buffer.concat([...this.chunks.map(asBytes), data], this.size + data.length) : data;
    this.clear();
    if (this.clientGone()) throw new SocketClosedError('send', 'client');
    this.afterWrite(waiter, this.rawBody === null ? this.raw.write(chunk) : this.rawBody.writeChunk(chunk));
  }

  /** @internal */
  beginLentWrite(waiter: Waiter, { parts, written, framed }: LentWrite): void {
    this.startStreaming();
    if (this.clientGone()) throw new SocketClosedError('send', 'client');
    const rawBody = this.rawBody;
    if (framed) {
      if (rawBody === null)
        throw new InvalidArgumentError('writeFramed() needs a body chunked on the socket (chunkOnSocket())');
      if (this.size > 0) rawBody.writeChunk(this.takeAll());
      this.afterWrite(waiter, rawBody.writeFramed(parts, written));
      return;
    }
    if (rawBody !== null) {
      this.afterWrite(waiter, rawBody.writeChunkParts(this.size > 0 ? this.takeAll() : null, parts, written));
      return;
    }
    const raw = this.raw;
    raw.cork();
    if (this.size > 0) raw.write(this.takeAll());
    let sent = true;
    for (const part of parts) {
      sent = raw.write(part, (err) => {
        if (err == null) written(part);
      });
    }
    raw.uncork();
    this.afterWrite(waiter, sent);
  }

  /** Bytes written and not yet taken by the kernel (the client's send buffer is full). */
  writeBlocked(): boolean {
    return this.sink.writableLength > 0;
  }

  /** Where the body goes: the response, or its socket once chunkOnSocket() took the framing over. */
  private get sink(): Writable {
    return this.rawBody === null ? this.raw : this.rawBody.socket;
  }

  private clientGone(): boolean {
    return this.raw.destroyed || this.sink.destroyed;
  }

  private startStreaming(): void {
    if (!this.streaming) {
      this.streaming = true;
      this.head.sendHead();
    }
  }

  /** Returns to the writer at once while the socket takes more, else on drain (or the send timeout). */
  private afterWrite(waiter: Waiter, sent: boolean): void {
    if (sent) {
      waiter.settleWait(undefined, false);
      return;
    }
    this.flushWaiter = waiter;
    this.flushTimer = setTimeout(onSendTimeout, this.sendTimeout, this);
    this.sink.once('drain', this.onDrain());
  }

  private onDrain(): () => void {
    if (this.drainListener === null) {
      this.drainListener = () => {
        const waiter = this.flushWaiter;
        if (waiter === null) return;
        this.endFlushWait();
        waiter.settleWait(undefined, false);
      };
    }
    return this.drainListener;
  }

  /** Everything buffered, in one Buffer. */
  takeAll(): Buffer {
    const chunks = this.chunks;
    let all: Buffer;
    if (chunks.length === 1) {
      const only = chunks[0]!;
      all = typeof only === 'string' ? Buffer.from(only) : only;
    } else {
      all = Buffer.concat(chunks.map(asBytes), this.size);
    }
    this.clear();
    return all;
  }

  /** Everything buffered, for a response that was never flushed: one string when only text was printed. */
  takeBody(): Buffer | string {
    if (!this.text) return this.takeAll();
    const chunks = this.chunks;
    const body = chunks.length === 1 ? (chunks[0] as string) : chunks.join('');
    this.clear();
    return body;
  }

  private clear(): void {
    this.chunks = [];
    this.size = 0;
    this.text = true;
  }

  /** @internal */
  beginFlush(waiter: Waiter, wait: boolean): void {
    if (!wait) {
      this.writeOut(null);
      waiter.settleWait(undefined, false);
      return;
    }
    this.flushWaiter = waiter;
    this.flushTimer = setTimeout(onSendTimeout, this.sendTimeout, this);
    this.writeOut(() => {
      if (this.flushWaiter !== waiter) return;
      this.endFlushWait();
      waiter.settleWait(undefined, false);
    });
  }

  /** @internal */
  abandonFlush(waiter: Waiter): void {
    if (this.flushWaiter === waiter) this.endFlushWait();
  }

  /** @internal */
  sendTimedOut(): void {
    const waiter = this.flushWaiter;
    this.endFlushWait();
    if (waiter === null) return;
    this.raw.destroy();
    waiter.settleWait(new SocketTimeoutError('send', 'client', this.sendTimeout), true);
  }

  private endFlushWait(): void {
    if (this.drainListener !== null) this.sink.off('drain', this.drainListener);
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.flushWaiter = null;
  }

  /** Sends the head if not yet, then the buffer as one chunk; `done` when the kernel took it. */
  private writeOut(done: (() => void) | null): void {
    if (!this.streaming) {
      this.startStreaming();
      // Node sends a head with the first body bytes; with none buffered, send it now
      if (this.size === 0) this.raw.flushHeaders();
    }
    if (this.size === 0) {
      if (done !== null) {
        const sink = this.sink;
        if (sink.writableNeedDrain) sink.once('drain', done);
        else done();
      }
      return;
    }
    const data = this.takeAll();
    if (this.rawBody !== null) this.rawBody.writeChunk(data, done === null ? undefined : () => done());
    else if (done === null) this.raw.write(data);
    else this.raw.write(data, () => done());
  }

  private add(value: Printable): void {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      for (const item of value as readonly Printable[]) this.add(item);
      return;
    }
    if (value instanceof Uint8Array) {
      if (value.length === 0) return;
      this.chunks.push(value as Buffer);
      this.size += value.length;
      this.text = false;
      return;
    }
    const text = typeof value === 'string' ? value : String(value);
    if (text.length === 0) return;
    this.chunks.push(text);
    this.size += Buffer.byteLength(text);
  }
}

function asBytes(chunk: Buffer | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}
