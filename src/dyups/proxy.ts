import type { IncomingHttpHeaders } from 'node:http';
import { upstreamPoolName } from './upstream-pools.js';
import { HttpProtocolError, SocketError, SocketTimeoutError } from '../errors/index.js';
import { MAX_REQUEST_HEADERS } from '../fastify/header-count-limit.js';
import type { Timeouts } from '../../adapters/tcp/index.js';
import type { Operation } from '../runtime/effect.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { proxyPass } from '../stream/proxy.js';
import type { BufferingOptions, ProxyPassOptions, ProxyProgress } from '../stream/proxy.js';
import { FrontServer } from './front/index.js';
import type { FrontExchange } from './front/index.js';
import type { Balancers, Peer } from './balancer.js';
import type { UpstreamTable } from './table.js';
import { endpointOf } from './upstream.js';
import { upstreamTlsOf } from './upstream-tls.js';

export interface DyupsProxyOptions {
  scheduler: Scheduler;
  /** ms to connect to an upstream server (then the next one is tried). Default 1 s. */
  connectTimeout: number;
  /** ms to wait for each read from an upstream server (proxy_read_timeout). Default 60 s. */
  readTimeout: number;
  /** ms to wait for each write to an upstream server (proxy_send_timeout). Default: readTimeout. */
  sendTimeout?: number;
  /** Largest request body passed on. Default 1 MB. */
  bodyLimit: number;
  /** ms for the request head to arrive (client_header_timeout). Default 60 s. */
  headerTimeout?: number;
  /** Largest request head in bytes (431 past it). Default 16 KB, node's. */
  headerSize?: number;
  /** ms an idle kept-alive client connection stays open. Default 72 s, as fastify had it. */
  keepAliveTimeout?: number;
  buffering?: Partial<BufferingOptions>;
}

/** What a hash key is computed from: the request's target, address and headers. */
export interface HashKeyRequest {
  readonly url: string;
  readonly ip: string;
  readonly headers: IncomingHttpHeaders;
}

/** Retries on a fresh connection after kept-alive ones turned out closed (they do not count as failures). */
const MAX_STALE_RETRIES = 2;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** The value of a group's `hash` key for a request: nginx variables ($request_uri, $remote_addr, ...). */
export function hashKeyOf(template: string, request: HashKeyRequest): string {
  const url = targetUrl(request.url);
  return template.replace(/\$([a-z_][a-z0-9_]*)/gi, (_match, variable: string) => {
    const name = variable.toLowerCase();
    if (name === 'request_uri') return request.url;
    if (name === 'uri') return url.pathname;
    if (name === 'args' || name === 'query_string') return url.search.slice(1);
    if (name === 'remote_addr') return request.ip;
    if (name === 'host') return hostOf(request);
    if (name.startsWith('arg_')) return url.searchParams.get(name.slice(4)) ?? '';
    if (name.startsWith('http_')) return String(request.headers[name.slice(5).replace(/_/g, '-')] ?? '');
    if (name.startsWith('cookie_')) {
      const wanted = name.slice(7);
      for (const part of String(request.headers.cookie ?? '').split(';')) {
        const [k, ...v] = part.trim().split('=');
        if (k === wanted) return v.join('=');
      }
      return '';
    }
    return '';
  });
}

/**
 * The path and query of a request target as a URL: an origin-form one under a dummy origin (`//a/b` is a
 * path there, not a host), an absolute-form one by its path; one no URL can hold (`//[`) as `/`.
 */
function targetUrl(target: string): URL {
  const path = target.charCodeAt(0) === 0x2f ? target : (absoluteTarget(target)?.path ?? '/');
  try {
    return new URL(`http://x${path}`);
  } catch {
    return new URL('http://x/');
  }
}

/** The name in a host[:port] (Host header or URI authority): lowercased, port and a trailing dot dropped. */
function nameOf(hostPort: string): string {
  const host = hostPort.toLowerCase();
  let name = host;
  if (host.startsWith('[')) name = host.slice(0, host.indexOf(']') + 1);
  else {
    const colon = host.indexOf(':');
    if (colon >= 0) name = host.slice(0, colon);
  }
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function hostOf(request: HashKeyRequest): string {
  return nameOf(String(request.headers.host ?? ''));
}

/**
 * An absolute-form target (`GET http://name/path`, the scheme in any case): its authority names the group
 * (RFC 9112 section 3.2.2), its path goes on. The front refused any with userinfo or odd bytes in it.
 */
function absoluteTarget(url: string): { host: string; path: string } | null {
  if (url.charCodeAt(0) === 0x2f || !/^https?:\/\//i.test(url)) return null;
  const start = url.indexOf('//') + 2;
  let end = start;
  while (end < url.length && url[end] !== '/' && url[end] !== '?' && url[end] !== '#') end++;
  const rest = url.slice(end);
  return { host: nameOf(url.slice(start, end)), path: rest.startsWith('/') ? rest : `/${rest}` };
}

/** What a request that has not been retried skips: no server yet. */
const NOT_TRIED: ReadonlySet<Peer> = new Set<Peer>();

/** Where a peer is reached: host and port (or a unix path), its keepalive pool and the timeouts. */
class PeerRoute {
  readonly host: string;
  readonly port: number;
  readonly pool: string;

  constructor(
    readonly address: string,
    readonly poolSize: number,
    readonly timeouts: Timeouts,
  ) {
    const endpoint = endpointOf(address);
    this.host = 'path' in endpoint ? address : endpoint.host;
    this.port = 'path' in endpoint ? 0 : endpoint.port;
    this.pool = upstreamPoolName(address);
  }
}

/** Errors after which the next server may be tried: the request never reached a server's application. */
function retryable(err: unknown): boolean {
  return err instanceof SocketError && (err.op === 'connect' || err instanceof SocketTimeoutError);
}

/**
 * The dyups proxy listener: like `proxy_pass http://$host`, the Host header (without port) names the
 * upstream group. Balanced per the group's method; connect errors and timeouts mark the server failed
 * (max_fails/fail_timeout) and, for idempotent methods, the next server is tried; 502/504 with a clear
 * body when none is left. Keepalive pool per upstream server address, so a server kept by an update keeps
 * its connections. The response comes back with nginx's buffering (src/stream/proxy). Requests arrive
 * through a raw-socket HTTP/1.1 front (src/dyups/front): a strict parser (two Host headers, ambiguous
 * framing: 400), one request at a time per connection, the response head and body in one write.
 */
export function buildProxyServer(table: UpstreamTable, balancers: Balancers, options: DyupsProxyOptions): FrontServer {
  const timeouts = {
    connect: options.connectTimeout,
    read: options.readTimeout,
    send: options.sendTimeout ?? options.readTimeout,
  };
  const buffering = options.buffering;
  /** Each peer's connect settings, made once per peer (and again when its address or its group's keepalive changes). */
  const routes = new WeakMap<Peer, PeerRoute>();
  function routeOf(peer: Peer, poolSize: number): PeerRoute {
    const known = routes.get(peer);
    if (known !== undefined && known.address === peer.address && known.poolSize === poolSize) return known;
    const route = new PeerRoute(peer.address, poolSize, timeouts);
    routes.set(peer, route);
    return route;
  }

  function* proxy(ctx: FrontExchange): Operation<unknown> {
    const request = ctx.request;
    const absolute = absoluteTarget(request.url);
    const name = absolute !== null ? absolute.host : hostOf(request);
    const group = table.get(name);
    const balancer = balancers.get(name);
    if (group === undefined || balancer === undefined) {
      ctx.status = 502;
      return `502 Bad Gateway: no upstream group named '${name}' (the Host header names it)\n`;
    }
    const hashKey = group.balancer.kind === 'hash' ? hashKeyOf(group.balancer.key, request) : '';
    const poolSize = group.keepalive > 0 ? group.keepalive : 64;
    const tls = upstreamTlsOf(group);
    // made on the first retry: most requests never need one
    let tried: Set<Peer> | null = null;
    let lastError: unknown = null;
    let staleRetries = 0;
    // streamed on as it arrives (proxy_request_buffering off); a Content-Length over the limit is a 413 here
    const body = ctx.body;
    body?.checkLength();
    for (;;) {
      const peer = balancer.pick({ clientIp: request.ip, hashKey }, tried ?? NOT_TRIED);
      if (peer === null) {
        const timedOut = lastError instanceof SocketTimeoutError;
        ctx.status = timedOut ? 504 : 502;
        const why =
          lastError === null
            ? 'no server of the group is available'
            : `every server failed; last: ${(lastError as Error).message}`;
        return `${ctx.status} ${timedOut ? 'Gateway Timeout' : 'Bad Gateway'}: upstream '${name}': ${why}\n`;
      }
      peer.active++;
      const progress: ProxyProgress = { reused: false, headReceived: false };
      try {
        const route = routeOf(peer, poolSize);
        const passOptions: ProxyPassOptions = {
          pool: route.pool,
          poolSize,
          timeouts: route.timeouts,
          body,
          progress,
        };
        if (absolute !== null) passOptions.path = absolute.path;
        if (tls !== undefined) passOptions.tls = tls;
        if (buffering !== undefined) passOptions.buffering = buffering;
        yield* proxyPass(ctx, route.host, route.port, passOptions);
        peer.succeeded();
        return undefined;
      } catch (err) {
        // like proxy_next_upstream error timeout: failures to connect, to send, or to read the response head
        const beforeHead = !progress.headReceived && !ctx.headSent;
        if (!retryable(err) && !(err instanceof HttpProtocolError) && !(beforeHead && err instanceof SocketError))
          throw err;
        lastError = err;
        // a kept-alive connection the server had already closed is not the server failing: try again fresh
        const stale =
          progress.reused && beforeHead && !(err instanceof SocketTimeoutError) && staleRetries < MAX_STALE_RETRIES;
        if (stale) staleRetries++;
        else {
          peer.failed(Date.now());
          (tried ??= new Set<Peer>()).add(peer);
        }
        if (!IDEMPOTENT.has(request.method) || !beforeHead || (body !== null && body.consumed > 0)) throw err;
      } finally {
        peer.active--;
      }
    }
  }

  return new FrontServer({
    scheduler: options.scheduler,
    handler: proxy,
    startOptions: { name: 'dyups-proxy' },
    headerTimeout: options.headerTimeout ?? 60_000,
    keepAliveTimeout: options.keepAliveTimeout ?? 72_000,
    maxHeadBytes: options.headerSize ?? 16 * 1024,
    maxHeaders: MAX_REQUEST_HEADERS,
    bodyLimit: options.bodyLimit,
    bodyTimeout: options.readTimeout,
    // as the fastify listener had them (cosocketPlugin's output defaults)
    sendTimeout: 60_000,
    idleTimeout: 60_000,
    retryAfter: 1,
    lingerTimeout: 5_000,
  });
}
