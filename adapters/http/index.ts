import { InvalidArgumentError } from '../../src/errors/index.js';
import type { Operation } from '../../src/runtime/effect.js';
import { connect as tcpConnect } from '../tcp/index.js';
import type { ConnectOptions } from '../tcp/index.js';
import { HttpConnection, checkLimits } from './client.js';
import type { HttpLimits, HttpRequest } from './client.js';
import type { Headers } from './head.js';

export { HttpConnection, HttpResponse } from './client.js';
export type { HttpLimits, HttpRequest } from './client.js';
export { BodyReader } from './body.js';
export { isBodySource } from './body-source.js';
export type { BodySource } from './body-source.js';
export type { HeaderList, HeaderValue, Headers } from './head.js';

export interface HttpConnectOptions extends ConnectOptions {
  limits?: Partial<HttpLimits>;
}

/**
 * An HTTP/1.1 connection from the keepalive pool of host:port: `const c = yield* http.connect('127.0.0.1', 8080)`;
 * or of a unix socket, `http.connect('unix:/run/app.sock', 0)` (Host: localhost, as nginx sends).
 */
export function* connect(host: string, port: number, options: HttpConnectOptions = {}): Operation<HttpConnection> {
  const limits = checkLimits(options.limits);
  if (host.startsWith('unix:')) {
    const socket = yield* tcpConnect(host as `unix:${string}`, options);
    return new HttpConnection(socket, 'localhost', limits);
  }
  const socket = yield* tcpConnect(host, port, options);
  return new HttpConnection(socket, hostHeaderOf(host, port), limits);
}

let lastHost = '';
let lastPort = 0;
let lastHostHeader = '';

/** The Host header for host:port (the last one is remembered: a proxy asks for the same one again and again). */
function hostHeaderOf(host: string, port: number): string {
  if (host !== lastHost || port !== lastPort) {
    lastHostHeader = port === 80 ? host : `${host}:${port}`;
    lastHost = host;
    lastPort = port;
  }
  return lastHostHeader;
}

export interface FetchResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

/**
 * One request to a URL, the body read whole, the connection kept alive when it may be:
 * `const res = yield* http.request('http://127.0.0.1:8080/x', { method: 'POST', body: 'hi' })`.
 */
export function* request(
  url: string,
  req: HttpRequest & HttpConnectOptions & { maxBody?: number } = {},
): Operation<FetchResult> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`http.request(): invalid URL '${url}'`);
  }
  if (parsed.protocol !== 'http:')
    throw new InvalidArgumentError(`http.request(): only http:// URLs are supported, got '${parsed.protocol}//'`);
  const port = parsed.port === '' ? 80 : Number(parsed.port);
  const conn = yield* connect(parsed.hostname, port, req);
  try {
    const response = yield* conn.request({ ...req, path: `${parsed.pathname}${parsed.search}` });
    const body = yield* response.readBody(req.maxBody);
    conn.setkeepalive();
    return { status: response.status, headers: response.headers, body };
  } finally {
    conn.close(); // no-op after setkeepalive; closes on any error
  }
}
