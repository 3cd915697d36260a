import { upstreamPoolName } from './upstream-pools.js';
import Fastify from 'fastify';
import { listenerOptions } from '../fastify/server-options.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpProtocolError, SocketError, SocketTimeoutError } from '../errors/index.js';
import type { HandlerContext } from '../fastify/context.js';
import { co, cosocketPlugin } from '../fastify/plugin.js';
import type { Operation } from '../runtime/effect.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { bodyOf, proxyPass, requestBody } from '../stream/proxy.js';
import { isBodySource } from '../stream/request-body.js';
import type { BufferingOptions, ProxyProgress } from '../stream/proxy.js';
import type { Balancers, Peer } from './balancer.js';
import type { UpstreamTable } from './table.js';
import { endpointOf } from './upstream.js';

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
  buffering?: Partial<BufferingOptions>;
}

/** Retries on a fresh connection after kept-alive ones turned out closed (they do not count as failures). */
const MAX_STALE_RETRIES = 2;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** The value of a group's `hash` key for a request: nginx variables ($request_uri, $remote_addr, ...). */
export function hashKeyOf(template: string, request: FastifyRequest): string {
  const url = new URL(request.url, 'http://x');
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

/** The name in a host[:port] (Host header or URI authority): lowercased, port and a trailing dot dropped. */
function nameOf(hostPort: string): string {
  const host = hostPort.toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function hostOf(request: FastifyRequest): string {
  return nameOf(String(request.headers.host ?? ''));
}

/** An absolute-form target (`GET http://name/path`): its authority names the group (RFC 9112 section 3.2.2), its path goes on. */
function absoluteTarget(url: string): { host: string; path: string } | null {
  if (!url.startsWith('http://') && !url.startsWith('https://')) return null;
  const start = url.indexOf('//') + 2;
  let end = start;
  while (end < url.length && url[end] !== '/' && url[end] !== '?' && url[end] !== '#') end++;
  const at = url.lastIndexOf('@', end - 1);
  const rest = url.slice(end);
  return { host: nameOf(url.slice(at >= start ? at + 1 : start, end)), path: rest.startsWith('/') ? rest : `/${rest}` };
}

/** Node keeps the first of several Host headers; which one names the group would be ambiguous (nginx: 400). */
function hostHeaderCount(request: FastifyRequest): number {
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') count++;
  return count;
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
 * its connections. The response comes back with nginx's buffering (src/stream/proxy).
 */
export async function buildProxyApp(
  table: UpstreamTable,
  balancers: Balancers,
  options: DyupsProxyOptions,
): Promise<FastifyInstance> {
  // bodies stream with readTimeout between pieces: only the head has an overall limit here
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit,
    return503OnClosing: true,
    ...listenerOptions(options.headerTimeout ?? 60_000, 0),
  });
  app.removeAllContentTypeParsers();
  // the raw request stream: bodies are read while they are sent to the upstream, never held whole
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(cosocketPlugin, { scheduler: options.scheduler });

  function* proxy(ctx: HandlerContext): Operation<unknown> {
    const request = ctx.request;
    if (hostHeaderCount(request) > 1) {
      ctx.status = 400;
      ctx.header('connection', 'close');
      return '400 Bad Request: more than one Host header\n';
    }
    const absolute = absoluteTarget(request.url);
    const name = absolute !== null ? absolute.host : hostOf(request);
    const group = table.get(name);
    const balancer = balancers.get(name);
    if (group === undefined || balancer === undefined) {
      ctx.status = 502;
      return `502 Bad Gateway: no upstream group named '${name}' (the Host header names it)\n`;
    }
    const hashKey = group.balancer.kind === 'hash' ? hashKeyOf(group.balancer.key, request) : '';
    const tried = new Set<Peer>();
    let lastError: unknown = null;
    let staleRetries = 0;
    // streamed on as it arrives (proxy_request_buffering off); a body over the limit is a 413 here
    const body = requestBody(bodyOf(request), request.headers['content-length'], {
      bodyLimit: options.bodyLimit,
      timeouts: { read: options.readTimeout },
    });
    for (;;) {
      const peer = balancer.pick({ clientIp: request.ip, hashKey }, tried);
      if (peer === null) {
        const timedOut = lastError instanceof SocketTimeoutError;
        ctx.status = timedOut ? 504 : 502;
        const why =
          lastError === null
            ? 'no server of the group is available'
            : `every server failed; last: ${(lastError as Error).message}`;
        return `${ctx.status} ${timedOut ? 'Gateway Timeout' : 'Bad Gateway'}: upstream '${name}': ${why}\n`;
      }
      tried.add(peer);
      peer.active++;
      const progress: ProxyProgress = { reused: false, headReceived: false };
      try {
        const endpoint = endpointOf(peer.address);
        const [host, port] = 'path' in endpoint ? [peer.address, 0] : [endpoint.host, endpoint.port];
        yield* proxyPass(ctx, host, port, {
          pool: upstreamPoolName(peer.address),
          ...(absolute !== null ? { path: absolute.path } : {}),
          poolSize: group.keepalive > 0 ? group.keepalive : 64,
          timeouts: {
            connect: options.connectTimeout,
            read: options.readTimeout,
            send: options.sendTimeout ?? options.readTimeout,
          },
          ...(options.buffering ? { buffering: options.buffering } : {}),
          body,
          progress,
        });
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
        if (stale) {
          staleRetries++;
          tried.delete(peer);
        } else peer.failed(Date.now());
        if (!IDEMPOTENT.has(request.method) || !beforeHead || (isBodySource(body) && body.consumed > 0)) throw err;
      } finally {
        peer.active--;
      }
    }
  }

  app.all('/*', co(proxy, { name: 'dyups-proxy' }));
  app.all('/', co(proxy, { name: 'dyups-proxy' }));
  return app;
}
