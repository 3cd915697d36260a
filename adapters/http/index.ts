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

/** Options of `http.connect()`: the tcp connect options and limits on responses. */
export interface HttpConnectOptions extends ConnectOptions {
  limits?: Partial<HttpLimits>;
}

/**
 * An HTTP/1.1 connection from the keepalive pool of host:port: `const c = yield* http.connect('127.0.0.1', 8080)`;
 * or of a unix socket, `http.connect('unix:/run/app.sock', 0)` (Host: localhost, as nginx sends). With
 * `tls` it speaks HTTPS (SNI and the verified name: the host, unless `tls.servername` says otherwise).
 */
export function* connect(host: string, port: number, options: HttpConnectOptions = {}): Operation<HttpConnection> {
  const limits = checkLimits(options.limits);
  if (host.startsWith('unix:')) {
    const socket = yield* tcpConnect(host as `unix:${string}`, options);
    return new HttpConnection(socket, 'localhost', limits);
  }
  const socket = yield* tcpConnect(host, port, options);
  return new HttpConnection(socket, hostHeaderOf(host, port, options.tls !== undefined), limits);
}

let lastHost = '';
let lastPort = 0;
let lastTls = false;
let lastHostHeader = '';

/** The Host header for host:port (the last one is remembered: a proxy asks for the same one again and again). */
function hostHeaderOf(host: string, port: number, tls: boolean): string {
  if (host !== lastHost || port !== lastPort || tls !== lastTls) {
    const name = host.includes(':') ? `[${host}]` : host;
    lastHostHeader = port === (tls ? 443 : 80) ? name : `${name}:${port}`;
    lastHost = host;
    lastPort = port;
    lastTls = tls;
  }
  return lastHostHeader;
}

/** https:// without `tls`: verified against the default CA store, the URL's host as the name (one object: checked once). */
const HTTPS_DEFAULTS = {};

/** What `http.request()` answers: the status, the headers and the whole body. */
export interface FetchResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

/**
 * One request to a URL, the body read whole, the connection kept alive when it may be:
 * `const res = yield* http.request('http://127.0.0.1:8080/x', { method: 'POST', body: 'hi' })`. An
 * https:// URL connects over TLS, verifying the certificate for the URL's host (`tls` adds a CA,
 * another servername, verify: false...); `tls` with an http:// URL is an InvalidArgumentError.
 */
export function* request(
  url: string,
  req: HttpRequest & HttpConnectOptions & { maxBody?: number } = {},
): Operation<FetchResult> {
  let parsed: URL;
  // `localhost:8080/x` parses as the scheme `localhost:`, `127.0.0.1:8080` not at all: both lack http://
  const hint = /^[^/@]*:\d+(\/|$)/.test(url) ? ` (a scheme is missing: http://${url})` : '';
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`http.request(): invalid URL, got '${url}'${hint}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new InvalidArgumentError(`http.request(): only http:// and https:// URLs are supported, got '${url}'${hint}`);
  const https = parsed.protocol === 'https:';
  // the URL's scheme decides; tls options with http:// are a mistake, not a quiet upgrade or a quiet plain connection
  if (!https && req.tls !== undefined)
    throw new InvalidArgumentError(
      `http.request(): tls options given for the http:// URL '${url}': use https:// for TLS (or drop tls)`,
    );
  const port = parsed.port === '' ? (https ? 443 : 80) : Number(parsed.port);
  // an IPv6 host comes in brackets in a URL, not in a connect
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const conn = yield* connect(host, port, https ? { ...req, tls: req.tls ?? HTTPS_DEFAULTS } : req);
  try {
    const response = yield* conn.request({ ...req, path: `${parsed.pathname}${parsed.search}` });
    const body = yield* response.readBody(req.maxBody);
    conn.setkeepalive();
    return { status: response.status, headers: response.headers, body };
  } finally {
    conn.close(); // no-op after setkeepalive; closes on any error
  }
}
