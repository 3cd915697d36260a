import {
  BodyAbortedError,
  HttpBusyError,
  HttpProtocolError,
  InvalidArgumentError,
  ResponseTooLargeError,
} from '../../src/errors/index.js';
import type { Operation } from '../../src/runtime/effect.js';
import type { TcpSocket } from '../tcp/index.js';
import { isBodySource } from './body-source.js';
import type { BodySource } from './body-source.js';
import { BodyReader } from './body.js';
import { bodyFraming, checkInterimCount, checkSwitchingProtocols, keepAliveAllowed } from './framing.js';
import { addHeaderLine, buildRequestHead, headerText, parseStatusLine } from './head.js';
import type { Headers, RequestHead } from './head.js';

export interface HttpRequest {
  method?: string;
  /** origin-form target: /path?query. Default '/'. */
  path?: string;
  headers?: Headers;
  /** a whole body, or one read piece by piece while it is sent (Content-Length when its length is known, else chunked) */
  body?: string | Buffer | Uint8Array | BodySource;
}

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
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly version: '1.0' | '1.1',
    /** Lowercased names; a repeated header is an array. */
    readonly headers: Headers,
    /** Names as sent, in order. */
    readonly rawHeaders: ReadonlyArray<[string, string]>,
    /** The body, read in pieces of whatever has arrived. */
    readonly body: BodyReader,
    /** The upstream allows another request on this connection. */
    readonly keepalive: boolean,
  ) {}

  /** The body in pieces of at most `max` bytes (lua-resty-http's body_reader): `yield* reader.read()`. */
  bodyReader(max = this.body.defaultReadSize): { read(): Operation<Buffer | null> } {
    const body = this.body;
    return { read: () => body.read(max) };
  }

  header(name: string): string | undefined {
    return headerText(this.headers, name.toLowerCase());
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

/**
 * An HTTP/1.1 connection to one upstream, on a pooled cosocket (like lua-resty-http): send requests
 * one after another, read each response, then setkeepalive(). The connection goes back to the pool
 * only if the last response was read to its end and allows keepalive.
 */
export class HttpConnection {
  private last: HttpResponse | null = null;
  private requestedClose = false;

  constructor(
    readonly socket: TcpSocket,
    private readonly hostHeader: string,
    private readonly limits: HttpLimits,
  ) {}

  get peer(): string {
    return this.socket.peer;
  }

  getreusedtimes(): number {
    return this.socket.getreusedtimes();
  }

  *request(request: HttpRequest = {}): Operation<HttpResponse> {
    if (this.last !== null && !this.last.body.done) {
      throw new HttpBusyError(this.peer);
    }
    const method = (request.method ?? 'GET').toUpperCase();
    const headers = request.headers ?? {};
    const lowered = lowerCaseKeys(headers);
    this.requestedClose = /\bclose\b/i.test(headerText(lowered, 'connection') ?? '');
    const upgradeAsked = lowered.upgrade !== undefined;
    if (isBodySource(request.body)) {
      yield* this.sendStreamed(method, request.path ?? '/', headers, request.body);
    } else {
      const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
      const head = requestHeadBytes({
        method,
        path: request.path ?? '/',
        hostHeader: this.hostHeader,
        headers,
        bodyLength:
          body !== undefined ? body.length : method === 'POST' || method === 'PUT' || method === 'PATCH' ? 0 : null,
      });
      yield* this.socket.send(body !== undefined && body.length > 0 ? [head, body] : head);
    }
    const response = yield* this.readResponse(method, upgradeAsked);
    this.last = response;
    return response;
  }

  /** Head, then the body as it is read: with its Content-Length when known, else chunked. */
  private *sendStreamed(method: string, path: string, headers: Headers, body: BodySource): Operation<void> {
    const own: Headers = {};
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (lower !== 'content-length' && lower !== 'transfer-encoding') own[name] = value;
    }
    const chunked = body.length === null;
    if (chunked) own['Transfer-Encoding'] = 'chunked';
    yield* this.socket.send(
      requestHeadBytes({ method, path, hostHeader: this.hostHeader, headers: own, bodyLength: body.length }),
    );
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
    if (last === null || !last.body.done || !last.keepalive || this.requestedClose || this.socket.buffered > 0) {
      this.socket.close();
      return false;
    }
    this.socket.setkeepalive(idleMs);
    return true;
  }

  close(): void {
    this.socket.close();
  }

  private *readResponse(method: string, upgradeAsked: boolean): Operation<HttpResponse> {
    const peer = this.peer;
    const { maxHeaderBytes, maxHeaders } = this.limits;
    for (let interim = 0; ; interim++) {
      checkInterimCount(peer, interim);
      let budget = maxHeaderBytes;
      const statusLine = yield* this.socket.receiveByteLine(budget);
      budget -= statusLine.length + 2;
      const status = parseStatusLine(peer, statusLine);
      const headers: Headers = {};
      const raw: Array<[string, string]> = [];
      for (;;) {
        if (budget <= 0) throw new HttpProtocolError(peer, `response head larger than ${maxHeaderBytes} bytes`);
        const line = yield* this.socket.receiveByteLine(budget);
        budget -= line.length + 2;
        if (line === '') break;
        if (raw.length >= maxHeaders) throw new HttpProtocolError(peer, `more than ${maxHeaders} response headers`);
        addHeaderLine(peer, line, headers, raw);
      }
      checkSwitchingProtocols(peer, status.status, upgradeAsked);
      if (status.status >= 100 && status.status < 200 && status.status !== 101) continue; // interim response
      const framing = bodyFraming(peer, method, status.status, headers);
      const reader = new BodyReader(this.socket, framing, this.limits.readSize);
      return new HttpResponse(
        status.status,
        status.reason,
        status.version,
        headers,
        raw,
        reader,
        keepAliveAllowed(status.version, headers, framing),
      );
    }
  }
}

/** Header bytes as they were received (latin1), never re-encoded as UTF-8. */
function requestHeadBytes(head: RequestHead): Buffer {
  return Buffer.from(buildRequestHead(head), 'latin1');
}

function lowerCaseKeys(headers: Headers): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

export function checkLimits(limits: Partial<HttpLimits> | undefined): HttpLimits {
  const out = { ...DEFAULT_LIMITS, ...limits };
  for (const [name, value] of Object.entries(out)) {
    if (!Number.isInteger(value) || value < 1)
      throw new InvalidArgumentError(`http limit '${name}' must be a whole number >= 1, got ${String(value)}`);
  }
  return out;
}
