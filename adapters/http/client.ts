import {
  BodyAbortedError,
  HttpBusyError,
  InvalidArgumentError,
  ResponseTooLargeError,
} from '../../src/errors/index.js';
import type { Operation } from '../../src/runtime/effect.js';
import { activeTracer, startClientSpan } from '../../src/runtime/tracing.js';
import { parserRead } from '../tcp/index.js';
import type { ReadRequest, TcpSocket } from '../tcp/index.js';
import { isBodySource } from './body-source.js';
import type { BodySource } from './body-source.js';
import { BodyReader } from './body.js';
import {
  ASKS_CLOSE,
  ASKS_UPGRADE,
  buildRequestHead,
  connectionAsks,
  headerText,
  withHeader,
  withoutFraming,
} from './head.js';
import type { HeaderList, Headers, RequestHead } from './head.js';
import { ResponseHeadParser } from './response-head.js';
import type { ResponseHead } from './response-head.js';

/** One request on an HTTP connection: method, path, headers, body. */
export interface HttpRequest {
  method?: string;
  /** origin-form target: /path?query. Default '/'. */
  path?: string;
  /** a record (names in any case), or a flat list name, value, name, value, ... */
  headers?: Headers | HeaderList;
  /** a whole body, or one read piece by piece while it is sent (Content-Length when its length is known, else chunked) */
  body?: string | Buffer | Uint8Array | BodySource;
  /** Send no Host line (the request's headers hold none): nginx's `proxy_set_header Host` with an empty value. */
  omitHost?: boolean;
}

/** Limits on what an upstream may send: a response head past them is an HttpProtocolError. */
export interface HttpLimits {
  /** Largest response head (status line and headers). Default 64 KB. */
  maxHeaderBytes: number;
  /** Most header lines. Default 200. */
  maxHeaders: number;
  /** Default piece size of bodyReader().read(). Default 64 KB. */
  readSize: number;
}

export const DEFAULT_LIMITS: HttpLimits = { maxHeaderBytes: 64 * 1024, maxHeaders: 200, readSize: 64 * 1024 };

/** One response: its head at once, its body read through `body` (or all of it with readBody). */
export class HttpResponse {
  readonly status: number;
  readonly reason: string;
  readonly version: '1.0' | '1.1';
  /** Lowercased name, value, name, value, ... in the order received (what `headers` is made of). */
  readonly fields: readonly string[];
  /** Some header name came more than once (`headers` has an array for it). */
  readonly repeatedNames: boolean;
  /** The upstream allows another request on this connection. */
  readonly keepalive: boolean;
  private readonly sentNames: readonly string[];
  private headerRecord: Headers | null = null;
  private rawList: ReadonlyArray<[string, string]> | null = null;

  /** @internal made by HttpConnection.request */
  constructor(
    head: ResponseHead,
    /** The body, read in pieces of whatever has arrived. */
    readonly body: BodyReader,
  ) {
    this.status = head.status;
    this.reason = head.reason;
    this.version = head.version;
    this.fields = head.fields;
    this.repeatedNames = head.repeated;
    this.keepalive = head.keepalive;
    this.sentNames = head.sentNames;
  }

  /** Lowercased names; a repeated header is an array. */
  get headers(): Headers {
    if (this.headerRecord !== null) return this.headerRecord;
    const out: Headers = {};
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      const existing = out[name];
      // `constructor`, `toString`...: the object's prototype has them, the response does not
      if (existing === undefined || !Object.hasOwn(out, name)) out[name] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else out[name] = [existing, value];
    }
    this.headerRecord = out;
    return out;
  }

  /** Names as sent, in order. */
  get rawHeaders(): ReadonlyArray<[string, string]> {
    if (this.rawList !== null) return this.rawList;
    const out: Array<[string, string]> = [];
    for (let i = 0; i < this.sentNames.length; i++) out.push([this.sentNames[i]!, this.fields[2 * i + 1]!]);
    this.rawList = out;
    return out;
  }

  /** The body in pieces of at most `max` bytes (lua-resty-http's body_reader): `yield* reader.read()`. */
  bodyReader(max = this.body.defaultReadSize): { read(): Operation<Buffer | null> } {
    const body = this.body;
    return { read: () => body.read(max) };
  }

  /** A header's value, several joined with ', '; the name in any case. */
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    if (this.headerRecord !== null) return headerText(this.headerRecord, lower);
    const fields = this.fields;
    let found: string | undefined;
    for (let i = 0; i < fields.length; i += 2)
      if (fields[i] === lower) found = found === undefined ? fields[i + 1]! : `${found}, ${fields[i + 1]!}`;
    return found;
  }

  /** The whole body; past `max` bytes an error (the connection is closed). */
  *readBody(max = 16 * 1024 * 1024): Operation<Buffer> {
    const pieces: Buffer[] = [];
    let total = 0;
    for (;;) {
      const piece = yield* this.body.read();
      if (piece === null) break;
      total += piece.length;
      if (total > max) throw new ResponseTooLargeError(max);
      pieces.push(piece);
    }
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, total);
  }
}

/** A response head parser and its read, kept on the pooled connection for its next request. */
class HeadReading {
  readonly parser: ResponseHeadParser;
  readonly read: ReadRequest;

  constructor(
    peer: string,
    readonly limits: HttpLimits,
  ) {
    this.parser = new ResponseHeadParser(peer, limits.maxHeaderBytes, limits.maxHeaders);
    this.read = parserRead(this.parser);
  }
}

/**
 * An HTTP/1.1 connection to one upstream, on a pooled cosocket (like lua-resty-http): send requests
 * one after another, read each response, then setkeepalive(). The connection goes back to the pool
 * only if the last response was read to its end and allows keepalive.
 */
export class HttpConnection {
  private last: HttpResponse | null = null;
  private requestedClose = false;
  private readonly headParser: ResponseHeadParser;
  private readonly headRead: ReadRequest;

  constructor(
    readonly socket: TcpSocket,
    private readonly hostHeader: string,
    private readonly limits: HttpLimits,
  ) {
    // a kept-alive connection reads each response with the parser it read the last one with
    let reading = socket.protocolState;
    if (!(reading instanceof HeadReading) || reading.limits !== limits) {
      reading = new HeadReading(socket.peer, limits);
      socket.protocolState = reading;
    }
    this.headParser = (reading as HeadReading).parser;
    this.headRead = (reading as HeadReading).read;
  }

  get peer(): string {
    return this.socket.peer;
  }

  getreusedtimes(): number {
    return this.socket.getreusedtimes();
  }

  // a plain method, not a generator: with tracing off the request runs as one generator, nothing around it
  request(request: HttpRequest = {}): Operation<HttpResponse> {
    return activeTracer() === null ? this.send(request, null) : this.sendTraced(request);
  }

  /** The request under a client span, sending a traceparent that names it. */
  private *sendTraced(request: HttpRequest): Operation<HttpResponse> {
    const method = request.method === undefined ? 'GET' : request.method.toUpperCase();
    const span = startClientSpan(`HTTP ${method}`, {
      'http.request.method': method,
      'server.address': this.peer,
      'url.path': request.path ?? '/',
    })!;
    // a cancelled coroutine leaves through finally alone
    let failure: unknown = 'cancelled before the response head came';
    try {
      const response = yield* this.send(request, span.traceparent);
      span.setAttribute('http.response.status_code', response.status);
      failure = undefined;
      return response;
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      span.end(failure);
    }
  }

  /** `traceparent`: sent in place of one the request has; null: the request's headers as they are. */
  private *send(request: HttpRequest, traceparent: string | null): Operation<HttpResponse> {
    if (this.last !== null && !this.last.body.done) {
      throw new HttpBusyError(this.peer);
    }
    const method = request.method === undefined ? 'GET' : request.method.toUpperCase();
    const path = request.path ?? '/';
    const hostHeader = request.omitHost === true ? null : this.hostHeader;
    const own = request.headers ?? NO_HEADERS;
    const headers = traceparent === null ? own : withHeader(own, 'traceparent', traceparent);
    const asks = connectionAsks(headers);
    this.requestedClose = (asks & ASKS_CLOSE) !== 0;
    this.headParser.start(method, (asks & ASKS_UPGRADE) !== 0);
    let head: ResponseHead;
    if (isBodySource(request.body)) {
      yield* this.sendStreamed(method, path, hostHeader, headers, request.body);
      head = yield* this.socket.receiveParsed<ResponseHead>(this.headRead);
    } else {
      const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
      const bytes = requestHeadBytes({
        method,
        path,
        hostHeader,
        headers,
        bodyLength:
          body !== undefined ? body.length : method === 'POST' || method === 'PUT' || method === 'PATCH' ? 0 : null,
      });
      if (body !== undefined && body.length > 0) {
        yield* this.socket.send([bytes, body]);
        head = yield* this.socket.receiveParsed<ResponseHead>(this.headRead);
      } else {
        // nothing to wait for between the head going out and the answer: one wait for both
        head = yield* this.socket.exchange<ResponseHead>(bytes, this.headRead);
      }
    }
    const response = new HttpResponse(head, new BodyReader(this.socket, head.framing, this.limits.readSize));
    this.last = response;
    return response;
  }

  /** Head, then the body as it is read: with its Content-Length when known, else chunked. */
  private *sendStreamed(
    method: string,
    path: string,
    hostHeader: string | null,
    headers: Headers | HeaderList,
    body: BodySource,
  ): Operation<void> {
    const own = withoutFraming(headers);
    const chunked = body.length === null;
    if (chunked) own.push('Transfer-Encoding', 'chunked');
    yield* this.socket.send(requestHeadBytes({ method, path, hostHeader, headers: own, bodyLength: body.length }));
    let sent = 0;
    for (;;) {
      const piece = yield* body.read();
      if (piece === null) break;
      if (piece.length === 0) continue;
      sent += piece.length;
      yield* this.socket.send(chunked ? [`${piece.length.toString(16)}\r\n`, piece, '\r\n'] : piece);
    }
    if (chunked) yield* this.socket.send('0\r\n\r\n');
    else if (sent !== body.length) {
      throw new BodyAbortedError(sent, body.length);
    }
  }

  /**
   * Back to the pool if the last response was read to its end and allows keepalive (returns true);
   * otherwise the connection is closed (returns false).
   */
  setkeepalive(idleMs?: number): boolean {
    const last = this.last;
    // after a 101 the connection speaks another protocol: never pooled
    const switched = last !== null && last.status === 101;
    if (
      last === null ||
      switched ||
      !last.body.done ||
      !last.keepalive ||
      this.requestedClose ||
      this.socket.buffered > 0
    ) {
      this.socket.close();
      return false;
    }
    this.socket.setkeepalive(idleMs);
    return true;
  }

  close(): void {
    this.socket.close();
  }
}

const NO_HEADERS: Headers = {};

/** Header bytes as they were received (latin1), never re-encoded as UTF-8. */
function requestHeadBytes(head: RequestHead): Buffer {
  return Buffer.from(buildRequestHead(head), 'latin1');
}

export function checkLimits(limits: Partial<HttpLimits> | undefined): HttpLimits {
  if (limits === undefined && defaultsValid(DEFAULT_LIMITS)) return DEFAULT_LIMITS;
  const out = { ...DEFAULT_LIMITS, ...limits };
  for (const [name, value] of Object.entries(out)) {
    if (!Number.isInteger(value) || value < 1)
      throw new InvalidArgumentError(`http limit '${name}' must be a whole number >= 1, got ${String(value)}`);
  }
  return out;
}

function defaultsValid(limits: HttpLimits): boolean {
  return (
    Number.isInteger(limits.maxHeaderBytes) &&
    limits.maxHeaderBytes >= 1 &&
    Number.isInteger(limits.maxHeaders) &&
    limits.maxHeaders >= 1 &&
    Number.isInteger(limits.readSize) &&
    limits.readSize >= 1
  );
}
