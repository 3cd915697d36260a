// Over 300 lines: proxyPass and proxyResponse share one streaming loop, its buffering and its temp file.
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as file from '../../adapters/file/index.js';
import type { CoFile } from '../../adapters/file/index.js';
import * as http from '../../adapters/http/index.js';
import type { BodyReader, HeaderValue, Headers, HttpResponse } from '../../adapters/http/index.js';
import { FileShortError, InvalidArgumentError, UpstreamStatusError } from '../errors/index.js';
import type { ResponseSink } from './sink.js';
import type { Effect, Operable, Operation } from '../runtime/effect.js';
import { call } from '../runtime/effects/call.js';
import { spawn } from '../runtime/effects/spawn.js';
import { Signal } from '../runtime/signal.js';
import { incomingBody, isBodySource } from './request-body.js';
import type { BodySource } from './request-body.js';

/** nginx's proxy buffering settings, with nginx's defaults (8k pages). */
export interface BufferingOptions {
  /** proxy_buffering: read ahead of the client into buffers (on), or pass through what arrives (off). Default true. */
  buffering: boolean;
  /** proxy_buffer_size: bytes read from the upstream at a time. Default 8k. */
  bufferSize: number;
  /** proxy_buffers: memory for reading ahead of a slow client. Default 8 x 8k. */
  buffers: { count: number; size: number };
  /** proxy_busy_buffers_size: bytes sent to the client in one write, at least (all ready memory buffers go together). Default 16k. */
  busyBuffersSize: number;
  /** proxy_max_temp_file_size: read-ahead past the memory buffers spills to a temp file up to this. Default 1024m; 0: no file. */
  maxTempFileSize: number;
  /** proxy_temp_file_write_size: bytes moved through the temp file at a time. Default 16k. */
  tempFileWriteSize: number;
  /** proxy_temp_path. Default the system temp directory. */
  tempPath: string;
  /** buffering off: most bytes passed on in one write (whatever has arrived, coalesced). Default 64k. */
  passSize: number;
}

/** nginx's proxy buffering defaults: on, 8 × 8k buffers, 16k busy, temp files up to 1024m. */
export const NGINX_BUFFERING: BufferingOptions = {
  buffering: true,
  bufferSize: 8 * 1024,
  buffers: { count: 8, size: 8 * 1024 },
  busyBuffersSize: 16 * 1024,
  maxTempFileSize: 1024 * 1024 * 1024,
  tempFileWriteSize: 16 * 1024,
  tempPath: tmpdir(),
  passSize: 64 * 1024,
};

/**
 * Upstream chunks of this size or more are passed on with their framing (checked) rather than joined:
 * each then costs no copy; smaller ones are joined into one chunk per write, fewer for the client to parse.
 */
const PASS_CHUNKS_FROM = 1024;

/** What one proxied body cost: for stats and the benchmark. */
export interface ProxyStats {
  bytes: number;
  /** Writes (chunks) sent to the client. */
  downstreamWrites: number;
  /** Most bytes held in memory at once (buffering on). */
  peakMemory: number;
  /** Bytes that went through the temp file, in all. */
  tempFileBytes: number;
  /** Most bytes held in the temp file at once (bounded by maxTempFileSize). */
  peakTempFile: number;
  buffering: boolean;
}

/**
 * The hop-by-hop headers (RFC 9110 section 7.6.1, and Keep-Alive, Proxy-Connection), by name; most
 * names are ruled out by their length alone.
 */
function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te';
    case 7:
      return name === 'trailer' || name === 'upgrade';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 16:
      return name === 'proxy-connection';
    case 17:
      return name === 'transfer-encoding';
    case 18:
      return name === 'proxy-authenticate';
    case 19:
      return name === 'proxy-authorization';
    default:
      return false;
  }
}

/**
 * Names listed in a Connection header that are not hop-by-hop anyway (those go regardless), lowercased;
 * null when there are none (the usual `keep-alive` or `close`).
 */
function namedByConnection(value: HeaderValue | undefined): string[] | null {
  if (value === undefined) return null;
  if (typeof value === 'string' && (sameLower(value, 'keep-alive') || sameLower(value, 'close'))) return null;
  let named: string[] | null = null;
  for (const part of String(value).split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '' && !isHopByHop(name)) (named ??= []).push(name);
  }
  return named;
}

/** `text` is `lower` in any case. */
function sameLower(text: string, lower: string): boolean {
  if (text.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** A lowercased header name that may travel through a proxy. */
function endToEnd(name: string, named: string[] | null): boolean {
  return !isHopByHop(name) && !name.startsWith('x-accel-') && (named === null || !named.includes(name));
}

/** Headers that may travel through a proxy: no hop-by-hop ones, none named by Connection, no X-Accel-*. */
export function endToEndHeaders(headers: Headers): Headers {
  const named = namedByConnection(headers.connection);
  const out: Headers = {};
  for (const name of Object.keys(headers)) if (endToEnd(name, named)) out[name] = headers[name]!;
  return out;
}

/** Copies an upstream response's status and end-to-end headers to the handler's response. */
export function copyResponseHead(
  ctx: ResponseSink,
  response: HttpResponse,
  hide?: ReadonlySet<string>,
  add?: ReadonlyArray<readonly [string, string]>,
): void {
  copyUpstreamHead(ctx, response, hide);
  if (add !== undefined) for (const [name, value] of add) addResponseHeader(ctx, response, name, value, hide);
}

/**
 * A header of the proxy's own beside the upstream's (a sticky cookie's Set-Cookie): a value the upstream
 * sent under that name goes out too.
 */
function addResponseHeader(
  ctx: ResponseSink,
  response: HttpResponse,
  name: string,
  value: string,
  hide: ReadonlySet<string> | undefined,
): void {
  const values: string[] = [];
  const fields = response.fields;
  if (hide === undefined || !hide.has(name))
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) values.push(fields[i + 1]!);
  values.push(value);
  ctx.header(name, values.length === 1 ? value : values);
}

function copyUpstreamHead(ctx: ResponseSink, response: HttpResponse, hide?: ReadonlySet<string>): void {
  ctx.status = response.status;
  ctx.defaultContentType = null; // a response without a Content-Type gets none added (nginx adds none)
  const hidden = hide !== undefined && hide.size > 0 ? hide : null;
  if (response.repeatedNames) {
    // a repeated name goes out as one header with every value
    const headers = endToEndHeaders(response.headers);
    for (const name of Object.keys(headers)) if (hidden === null || !hidden.has(name)) ctx.header(name, headers[name]!);
    return;
  }
  const fields = response.fields;
  let connection: string | undefined;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'connection') connection = fields[i + 1];
  const named = namedByConnection(connection);
  for (let i = 0; i < fields.length; i += 2)
    if (endToEnd(fields[i]!, named) && (hidden === null || !hidden.has(fields[i]!)))
      ctx.header(fields[i]!, fields[i + 1]!);
}

/** What checkOptions made of an options object: the settings, and a copy of the values they were made from. */
interface CheckedOptions {
  readonly from: Partial<BufferingOptions>;
  readonly count: number | undefined;
  readonly size: number | undefined;
  readonly settings: BufferingOptions;
}

/** A caller (the dyups proxy) passes the same options object for every response: it is merged and checked once. */
const checked = new WeakMap<Partial<BufferingOptions>, CheckedOptions>();
const NO_OPTIONS: Partial<BufferingOptions> = {};

function checkOptions(options: Partial<BufferingOptions>): BufferingOptions {
  const known = checked.get(options);
  if (known !== undefined && unchanged(options, known)) return known.settings;
  const settings = mergeOptions(options);
  checked.set(options, {
    from: { ...options },
    count: options.buffers?.count,
    size: options.buffers?.size,
    settings,
  });
  return settings;
}

/** Nothing in `options` changed since it was checked (every field of BufferingOptions). */
function unchanged(o: Partial<BufferingOptions>, known: CheckedOptions): boolean {
  const f = known.from;
  return (
    o.buffering === f.buffering &&
    o.bufferSize === f.bufferSize &&
    o.busyBuffersSize === f.busyBuffersSize &&
    o.maxTempFileSize === f.maxTempFileSize &&
    o.tempFileWriteSize === f.tempFileWriteSize &&
    o.tempPath === f.tempPath &&
    o.passSize === f.passSize &&
    o.buffers === f.buffers &&
    o.buffers?.count === known.count &&
    o.buffers?.size === known.size
  );
}

function mergeOptions(options: Partial<BufferingOptions>): BufferingOptions {
  const merged = { ...NGINX_BUFFERING, ...options, buffers: { ...NGINX_BUFFERING.buffers, ...options.buffers } };
  for (const name of ['bufferSize', 'busyBuffersSize', 'tempFileWriteSize', 'passSize'] as const) {
    if (!Number.isInteger(merged[name]) || merged[name] < 1)
      throw new InvalidArgumentError(`proxy buffering: ${name} must be a whole number of bytes >= 1`);
  }
  if (!Number.isInteger(merged.maxTempFileSize) || merged.maxTempFileSize < 0) {
    throw new InvalidArgumentError('proxy buffering: maxTempFileSize must be a whole number of bytes >= 0');
  }
  if (
    !Number.isInteger(merged.buffers.count) ||
    merged.buffers.count < 1 ||
    !Number.isInteger(merged.buffers.size) ||
    merged.buffers.size < 1
  ) {
    throw new InvalidArgumentError('proxy buffering: buffers needs a count and a size >= 1');
  }
  return merged;
}

/**
 * Sends an upstream response (head and body) to the handler's client with nginx's buffering.
 * `X-Accel-Buffering: no` from the upstream turns buffering off for this response. The client's pace
 * reaches the upstream read (backpressure); memory per response stays within the buffers.
 */
export function* proxyResponse(
  ctx: ResponseSink,
  response: HttpResponse,
  options: Partial<BufferingOptions> = NO_OPTIONS,
  hideHeaders?: ReadonlySet<string>,
  addHeaders?: ReadonlyArray<readonly [string, string]>,
): Operation<ProxyStats> {
  const settings = checkOptions(options);
  const accel = response.header('x-accel-buffering');
  const buffering = accel !== undefined ? accel.toLowerCase() !== 'no' : settings.buffering;
  copyResponseHead(ctx, response, hideHeaders, addHeaders);
  const body = response.body;
  const stats: ProxyStats = {
    bytes: 0,
    downstreamWrites: 0,
    peakMemory: 0,
    tempFileBytes: 0,
    peakTempFile: 0,
    buffering,
  };
  body.lendPieces(); // every piece goes back once written: read buffers are reused
  let framed = false;
  if (!body.done) {
    // a framing fault in what has already arrived throws before the head goes out: the client gets a 502
    const arrived = objects<Buffer>();
    body.readArrived(settings.passSize, arrived);
    const chunked = ctx.chunkOnSocket(); // each write: one chunk, straight to the socket
    if (arrived.length > 0) {
      stats.downstreamWrites++;
      yield* ctx.writeLent(arrived, body.giveBack);
    }
    // a chunked body of large chunks to a client that gets chunks: they go on as they came, framing checked
    framed = chunked && body.passFraming(PASS_CHUNKS_FROM);
  }
  if (body.allReceived) {
    // a body that has all arrived needs no reading ahead (nor a coroutine): it goes out as it is
    if (!body.done) yield* passOn(new PassThrough(ctx, body, framed, settings.passSize, stats));
  } else if (buffering) yield* bufferedCopy(ctx, body, framed, settings, stats);
  else yield* yield* spawn(passOn, new PassThrough(ctx, body, framed, settings.passSize, stats));
  stats.bytes = body.bytesRead;
  return stats;
}

/** Body pieces to the client: chunks with their framing (`framed`: see BodyReader.passFraming), else one chunk's data. */
function send(
  ctx: ResponseSink,
  framed: boolean,
  parts: readonly Buffer[],
  written: (part: Buffer) => void,
): Effect<void> {
  return framed ? ctx.writeFramed(parts, written) : ctx.writeLent(parts, written);
}

/**
 * The loops that move a body are steps (plain methods, each returning what to wait for next: an
 * upstream read, a client write, space, data; null at the end) driven by a generator of one `yield*`
 * each, in a coroutine of its own: a wait resumes one small generator, not the handler's stack of
 * them (proxy, proxyPass, proxyResponse), and V8 compiles small, monomorphic pieces fast.
 */
type Wait = Operable<unknown>;

/**
 * An empty array made for objects: a fresh `[]` is one of small integers until the first push, and
 * V8's optimized code for a push that saw such arrays is thrown away at the first object it meets.
 */
function objects<T extends object>(): T[] {
  const array = [null] as unknown as T[];
  array.length = 0;
  return array;
}

/** buffering off: whatever has arrived, up to passSize, in one write; the next read waits for the client. */
class PassThrough {
  private readonly parts = objects<Buffer>();

  constructor(
    private readonly ctx: ResponseSink,
    private readonly body: BodyReader,
    private readonly framed: boolean,
    private readonly passSize: number,
    private readonly stats: ProxyStats,
  ) {}

  step(): Wait | null {
    const parts = this.parts;
    parts.length = 0; // the write that took them is done
    const body = this.body;
    if (body.readNow(this.passSize, parts) === 0) return body.done ? null : body.more();
    this.ctx.progress();
    this.stats.downstreamWrites++;
    return send(this.ctx, this.framed, parts, body.giveBack);
  }
}

function* passOn(pass: PassThrough): Operation<void> {
  for (let wait = pass.step(); wait !== null; wait = pass.step()) yield* wait;
}

type Segment = { kind: 'memory'; data: Buffer } | { kind: 'file'; offset: number; length: number };

/**
 * buffering on: an upstream reader fills memory buffers ahead of the client; with them full it reads on
 * into a temp file, up to maxTempFileSize, only while the client is really behind (its socket did not
 * take the last write: nginx spills so), else it waits for the writer (backpressure); the writer sends in
 * order as the client takes it, up to busyBuffersSize per write. The temp file is written and read on
 * this thread, as nginx does: its pages stay in the page cache, and a thread pool round trip costs more.
 */
function* bufferedCopy(
  ctx: ResponseSink,
  body: BodyReader,
  framed: boolean,
  settings: BufferingOptions,
  stats: ProxyStats,
): Operation<void> {
  const buffers = new ReadAhead(ctx, body, settings, stats);
  const reader = yield* spawn(readAhead, buffers);
  yield* yield* spawn(writeOut, new WriteOut(ctx, body, framed, settings, buffers));
  yield* reader; // an upstream failure surfaces here
}

/** What the reader holds for the writer: segments in order, in memory or in the temp file. */
class ReadAhead {
  readonly segments = objects<Segment>();
  memory = 0;
  fileHeld = 0;
  upstreamDone = false;
  temp: CoFile | null = null;
  readonly dataReady = new Signal();
  readonly spaceFreed = new Signal();
  private readonly memoryLimit: number;
  private fileEnd = 0;
  private readonly arrived = objects<Buffer>();

  constructor(
    private readonly ctx: ResponseSink,
    private readonly body: BodyReader,
    private readonly settings: BufferingOptions,
    readonly stats: ProxyStats,
  ) {
    this.memoryLimit = settings.buffers.count * settings.buffers.size;
  }

  /** The reader's step: reads what has arrived into memory (or the file) until it has to wait; says for what. */
  step(): Wait | null {
    for (;;) {
      const settings = this.settings;
      const room = this.memoryLimit - this.memory;
      let fileRoom = 0;
      if (room <= 0) {
        fileRoom = settings.maxTempFileSize - this.fileHeld;
        if (fileRoom < settings.bufferSize || !this.ctx.writeBlocked()) return this.spaceFreed.wait();
        if (this.temp === null) return this.openTemp();
      }
      // like nginx's readv into every free buffer: one read takes as much as the free memory holds
      const max =
        room > 0
          ? Math.max(room, settings.bufferSize)
          : Math.min(Math.max(this.memoryLimit, settings.tempFileWriteSize, settings.bufferSize), fileRoom);
      const arrived = this.arrived;
      const body = this.body;
      const size = body.readNow(max, arrived);
      if (size === 0) return body.done ? null : body.more();
      this.ctx.progress();
      if (room > 0) this.keep(arrived, size);
      else this.spill(arrived, size);
      arrived.length = 0;
      this.dataReady.notify();
    }
  }

  end(): void {
    this.upstreamDone = true;
    this.dataReady.notify();
  }

  private keep(arrived: readonly Buffer[], size: number): void {
    for (let i = 0; i < arrived.length; i++) this.segments.push({ kind: 'memory', data: arrived[i]! });
    this.memory += size;
    if (this.memory > this.stats.peakMemory) this.stats.peakMemory = this.memory;
  }

  private spill(arrived: readonly Buffer[], size: number): void {
    const stats = this.stats;
    writeSpill(this.temp!, arrived, this.fileEnd, this.settings.tempFileWriteSize);
    for (let i = 0; i < arrived.length; i++) this.body.giveBack(arrived[i]!);
    this.segments.push({ kind: 'file', offset: this.fileEnd, length: size });
    this.fileEnd += size;
    this.fileHeld += size;
    if (this.fileHeld > stats.peakTempFile) stats.peakTempFile = this.fileHeld;
    stats.tempFileBytes += size;
  }

  private *openTemp(): Operation<void> {
    this.temp = yield* openTempFile(this.settings.tempPath);
  }
}

function* readAhead(buffers: ReadAhead): Operation<void> {
  try {
    for (let wait = buffers.step(); wait !== null; wait = buffers.step()) yield* wait;
  } finally {
    buffers.end();
  }
}

/** The writer: what the reader holds goes to the client in order. */
class WriteOut {
  private readonly writeSize: number;
  /** Memory the file is read back into, reused once the socket wrote it. */
  private readonly readBack = objects<ArrayBuffer>();
  private readonly readBackSize: number;
  private readonly parts = objects<Buffer>();

  constructor(
    private readonly ctx: ResponseSink,
    private readonly body: BodyReader,
    private readonly framed: boolean,
    settings: BufferingOptions,
    private readonly buffers: ReadAhead,
  ) {
    this.writeSize = Math.max(settings.busyBuffersSize, settings.buffers.count * settings.buffers.size);
    this.readBackSize = Math.max(this.writeSize, settings.tempFileWriteSize);
  }

  private readonly readBackWritten = (part: Buffer): void => void this.readBack.push(part.buffer as ArrayBuffer);

  step(): Wait | null {
    this.parts.length = 0; // the write that took them is done
    const buffers = this.buffers;
    const first = buffers.segments[0];
    if (first === undefined) return buffers.upstreamDone ? null : buffers.dataReady.wait();
    this.buffers.stats.downstreamWrites++;
    return first.kind === 'memory' ? this.fromMemory() : this.fromFile(first);
  }

  /** Every ready memory buffer, in one socket write. */
  private fromMemory(): Wait {
    const buffers = this.buffers;
    const segments = buffers.segments;
    const parts = this.parts;
    let size = 0;
    let n = 0;
    for (; n < segments.length && size < this.writeSize; n++) {
      const next = segments[n]!;
      if (next.kind !== 'memory') break;
      parts.push(next.data);
      size += next.data.length;
    }
    segments.splice(0, n);
    buffers.memory -= size;
    buffers.spaceFreed.notify();
    return send(this.ctx, this.framed, parts, this.body.giveBack);
  }

  /** File segments lie in order in the file: read back as many as fit in one piece. */
  private fromFile(first: { offset: number; length: number }): Wait {
    const buffers = this.buffers;
    const segments = buffers.segments;
    const readBackSize = this.readBackSize;
    let length = 0;
    let n = 0;
    for (; n < segments.length; n++) {
      const next = segments[n]!;
      if (next.kind !== 'file' || length + next.length > readBackSize) break;
      length += next.length;
    }
    const offset = first.offset;
    if (n === 0) {
      // one segment larger than a read-back piece: take part of it
      length = readBackSize;
      first.offset += length;
      first.length -= length;
    } else segments.splice(0, n);
    const temp = buffers.temp!;
    const into = this.readBack.length > 0 ? Buffer.from(this.readBack.pop()!) : Buffer.allocUnsafeSlow(readBackSize);
    const got = temp.readNow(into, length, offset);
    if (got !== length) throw new FileShortError(temp.path, 'read', got, length);
    buffers.fileHeld -= length;
    buffers.spaceFreed.notify();
    this.parts.push(into.subarray(0, length));
    return send(this.ctx, this.framed, this.parts, this.readBackWritten);
  }
}

function* writeOut(writer: WriteOut): Operation<void> {
  for (let wait = writer.step(); wait !== null; wait = writer.step()) yield* wait;
}

/** Writes `parts` to the temp file at `position`, at most `pieceSize` bytes a write (proxy_temp_file_write_size). */
function writeSpill(temp: CoFile, parts: readonly Buffer[], position: number, pieceSize: number): void {
  const piece: Buffer[] = [];
  let size = 0;
  let at = position;
  for (let part of parts) {
    while (size + part.length > pieceSize) {
      const take = pieceSize - size;
      piece.push(part.subarray(0, take));
      temp.writeNow(piece, at);
      at += pieceSize;
      piece.length = 0;
      size = 0;
      part = part.subarray(take);
    }
    if (part.length > 0) {
      piece.push(part);
      size += part.length;
    }
  }
  if (size > 0) temp.writeNow(piece, at);
}

/** A temp file for a response's spill, unlinked at once: its data lives on in the open file only. */
function* openTempFile(dir: string): Operation<CoFile> {
  const path = join(dir, `cosocket-proxy-${randomBytes(8).toString('hex')}`);
  const temp = yield* file.open(path, 'w+', 0o600);
  yield* call(unlink(path));
  return temp;
}

/** Options of proxyPass(): the upstream path, buffering, request body limits, headers, and the connection's. */
export interface ProxyPassOptions extends http.HttpConnectOptions {
  /** Path and query on the upstream; default the client's. */
  path?: string;
  buffering?: Partial<BufferingOptions>;
  /** Largest request body passed on when it arrives as a stream (proxy_request_buffering off). Default 1 MB. */
  bodyLimit?: number;
  /** The body to send instead of the request's own (null: none); a caller that retries builds it once. */
  body?: string | Buffer | BodySource | null;
  /** Filled in as the exchange goes, so a caller that retries knows how far a failed one got. */
  progress?: ProxyProgress;
  /** Headers sent in place of the client's (proxy_set_header), and the client address for X-Forwarded-For. */
  headers?: UpstreamHeaderRules;
  /** Response headers not passed to the client (proxy_hide_header), lowercased. */
  hideHeaders?: ReadonlySet<string>;
  /** Response headers of the proxy's own (lowercased name, value), sent beside the upstream's. */
  addHeaders?: ReadonlyArray<readonly [string, string]>;
  /**
   * Whether a response with this status goes to the client; false: the connection is closed and
   * UpstreamStatusError thrown, for the caller to try another server (proxy_next_upstream http_502 ...).
   */
  passStatus?: (status: number) => boolean;
}

/** What the proxy sends upstream in place of the client's headers (nginx's proxy_set_header). */
export interface UpstreamHeaderRules {
  /** Lowercased name and value, in order: replaces the client's header of that name; an empty value drops it. */
  readonly set: ReadonlyArray<readonly [string, string]>;
  /** The address X-Forwarded-For ends with (default: the connection's peer). */
  readonly clientIp?: string;
}

const NO_RULES: UpstreamHeaderRules = { set: [] };

export interface ProxyProgress {
  /** the upstream connection had served requests before (a keepalive one that may have gone stale) */
  reused: boolean;
  /** the upstream's response head arrived */
  headReceived: boolean;
}

/**
 * A body to send on: a parsed one as it is, a stream (a content-type parser that hands over the raw
 * request) read while it is sent. Reuse across retries is the caller's business (see BodySource.consumed).
 */
export function requestBody(
  body: unknown,
  contentLength: string | undefined,
  options: ProxyPassOptions,
): string | Buffer | BodySource | null {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (isBodySource(body)) return body;
  if (body instanceof Readable) {
    if (!announcesBody(body, contentLength)) return null;
    const length = contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : null;
    return incomingBody(body, length, options.bodyLimit ?? 1024 * 1024, options.timeouts?.read ?? 60_000);
  }
  return null;
}

/** A request stream with a body to read: a Content-Length other than 0, or a Transfer-Encoding. */
function announcesBody(stream: Readable, contentLength: string | undefined): boolean {
  if (contentLength !== undefined) return contentLength !== '0';
  const headers = (stream as Readable & { headers?: Record<string, unknown> }).headers;
  return headers === undefined || headers['transfer-encoding'] !== undefined;
}

/**
 * The request's body to pass on: the parsed one, else the raw stream (fastify reads no body of a GET,
 * HEAD or TRACE, but one announced must still travel with its request, never be left to desync the upstream).
 */
export function bodyOf(request: ResponseSink['request']): unknown {
  return request.body ?? request.raw;
}

/**
 * The client's end-to-end headers for the upstream, as a list: without Host (like nginx, the upstream's
 * $proxy_host), Content-Length (the framing is the proxy's, from the body it sends) and Expect, with
 * X-Forwarded-For and X-Forwarded-Proto set (in place, when the client sent them). `upgrade`: the
 * client's Upgrade goes on too, with `Connection: upgrade` (nginx's `proxy_set_header Upgrade
 * $http_upgrade; proxy_set_header Connection "upgrade"`).
 */
export function requestHeaders(
  request: ResponseSink['request'],
  rules: UpstreamHeaderRules = NO_RULES,
  upgrade = false,
): string[] {
  const headers = request.headers as Headers;
  const named = namedByConnection(headers.connection);
  const previous = headers['x-forwarded-for'];
  const ip = rules.clientIp ?? request.ip;
  const forwardedFor = previous ? `${String(previous)}, ${ip}` : ip;
  const set = rules.set;
  const isSet = (name: string): boolean => set.length > 0 && set.some((rule) => rule[0] === name);
  let forSet = isSet('x-forwarded-for');
  let protoSet = isSet('x-forwarded-proto');
  const list: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    // Expect: the proxy's own server answered it to the client (nginx clears it too)
    if (value === undefined || name === 'host' || name === 'content-length' || name === 'expect') continue;
    if (!endToEnd(name, named) || isSet(name)) continue;
    if (name === 'x-forwarded-for') {
      list.push(name, forwardedFor);
      forSet = true;
    } else if (name === 'x-forwarded-proto') {
      list.push(name, request.protocol);
      protoSet = true;
    } else if (Array.isArray(value)) for (const one of value) list.push(name, one);
    else list.push(name, value);
  }
  if (!forSet) list.push('x-forwarded-for', forwardedFor);
  if (!protoSet) list.push('x-forwarded-proto', request.protocol);
  for (const [name, value] of set) if (value !== '') list.push(name, value);
  if (upgrade && headers.upgrade !== undefined) list.push('upgrade', String(headers.upgrade), 'connection', 'upgrade');
  return list;
}

/** `proxy_set_header Host` came out empty: as nginx, no Host line goes upstream (not the server's address). */
export function dropsHost(rules: UpstreamHeaderRules): boolean {
  for (const [name, value] of rules.set) if (name === 'host') return value === '';
  return false;
}

/**
 * proxy_pass for a handler: the client's request (method, path, end-to-end headers, a parsed body if
 * any) goes to host:port on a pooled connection, X-Forwarded-For/Proto added; the response comes back
 * with nginx buffering. The upstream connection is kept alive when the response allows it.
 */
export function* proxyPass(
  ctx: ResponseSink,
  host: string,
  port: number,
  options: ProxyPassOptions = {},
): Operation<ProxyStats> {
  const request = ctx.request;
  const headers = requestHeaders(request, options.headers ?? NO_RULES);
  const body =
    options.body !== undefined
      ? options.body
      : requestBody(bodyOf(request), request.headers['content-length'], options);
  const conn = yield* http.connect(host, port, options);
  if (options.progress) options.progress.reused = conn.getreusedtimes() > 0;
  const upstreamRequest: http.HttpRequest = { method: request.method, path: options.path ?? request.url, headers };
  if (options.headers !== undefined && dropsHost(options.headers)) upstreamRequest.omitHost = true;
  if (body !== null) upstreamRequest.body = body;
  const response = yield* conn.request(upstreamRequest);
  if (options.progress) options.progress.headReceived = true;
  if (options.passStatus !== undefined && !options.passStatus(response.status)) {
    conn.close();
    throw new UpstreamStatusError(`${host}:${port}`, response.status);
  }
  // the body streams for as long as it moves: each read waits proxy_read_timeout at most, each client
  // write send_timeout; the handler's overall deadline hands over to an idle timeout no shorter than those
  if (ctx.idleTimeout !== 0)
    ctx.idleTimeout = Math.max(ctx.idleTimeout, options.timeouts?.read ?? 60_000, ctx.sendTimeout);
  const stats = yield* proxyResponse(ctx, response, options.buffering, options.hideHeaders, options.addHeaders);
  conn.setkeepalive();
  return stats;
}
