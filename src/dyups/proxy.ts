import { upstreamPoolName, upstreamTunnelPoolName } from './upstream-pools.js';
import { HttpProtocolError, SocketError, SocketTimeoutError, UpstreamStatusError } from '../errors/index.js';
import { MAX_REQUEST_HEADERS } from '../fastify/header-count-limit.js';
import type { RefusedRequest } from '../fastify/client-errors.js';
import type { Timeouts } from '../../adapters/tcp/index.js';
import type { Operation } from '../runtime/effect.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { proxyPass } from '../stream/proxy.js';
import type { BufferingOptions, ProxyPassOptions, ProxyProgress } from '../stream/proxy.js';
import { serverTlsOptions } from '../config/listener-tls.js';
import type { ListenerTls } from '../config/listener-tls.js';
import { ERROR_PAGE_TYPE, FrontServer, errorLogLine, errorPage } from './front/index.js';
import type { FrontExchange } from './front/index.js';
import type { Balancers, GroupBalancer, Peer } from './balancer.js';
import { coroutinePick } from './coroutine-pick.js';
import { cookieOf, splitTarget, stickyCookie, stickyPeer } from './sticky.js';
import type { UpstreamTable } from './table.js';
import { endpointOf } from './upstream.js';
import type { UpstreamGroup } from './upstream.js';
import { ProxyPlan } from './proxy-plan.js';
import { absoluteTarget, hashKeyOf, hostOf } from './request-vars.js';
import { proxyUpgrade, tunnelCounts } from './upgrade.js';
import type { TunnelCounts, UpgradeOptions } from './upgrade.js';
import { registerTunnelSource } from './tunnel-status.js';
import { upstreamTls } from './upstream-tls.js';
import type { UpstreamTry } from '../server/log-format.js';

export { hashKeyOf } from './request-vars.js';
export type { HashKeyRequest } from './request-vars.js';

/** Options of buildProxyServer(): the scheduler, timeouts to clients and upstreams, body limits, buffering. */
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
  /** Where the reason for a 502/503/504 goes (the client gets a generic page). Default: stderr, a line each. */
  errorLog?: (line: string) => void;
  /** Where errors about an upstream group go instead of errorLog, with the group as `target` (to rate-limit them). */
  upstreamErrorLog?: (target: string, line: string) => void;
  /** Told of every upstream try and every request's end: for the metrics and the access log. */
  observer?: ProxyObserver;
  /** ms a WebSocket/Upgrade tunnel stays open with no byte either way (proxy_read_timeout). Default: readTimeout; 0: none. */
  tunnelTimeout?: number;
  /** Serve over TLS with these certificates (default: plain HTTP). */
  tls?: ListenerTls | null;
}

/** What the proxy tells the metrics and the access log. */
export interface ProxyObserver {
  /** Each try's address, status and time are kept for `ended` (the access log's $upstream_*); false: an empty list. */
  readonly wantsTries: boolean;
  /** An upstream server was tried; `failed`: it counts as failing (error, timeout, a status retried on). */
  tried(group: string, server: string, failed: boolean): void;
  /** A request's response went out whole or was cut; `group` is '' when its Host named none. */
  ended(exchange: FrontExchange, group: string, tries: readonly UpstreamTry[]): void;
  /** A request was answered before it could run: a malformed or too large head, or one too slow (408). */
  refused(request: RefusedRequest): void;
}

/** The dyups proxy listener: a FrontServer, with its WebSocket/Upgrade counts. */
export type DyupsProxyServer = FrontServer & { readonly tunnels: TunnelCounts };

/** Most tunnels open at once to one upstream server (its own pool: see upstreamTunnelPoolName). */
const TUNNEL_POOL_SIZE = 100_000;

/** Retries on a fresh connection after kept-alive ones turned out closed (they do not count as failures). */
const MAX_STALE_RETRIES = 2;

/** A group whose TLS cannot be set up logs why at most once in this many ms (not once per request). */

/** The tries of a request that made none, or whose tries were not kept. */
const NO_TRIES: readonly UpstreamTry[] = [];

/** What a request that has not been retried skips: no server yet. */
const NOT_TRIED: ReadonlySet<Peer> = new Set<Peer>();

/** Where a peer is reached: host and port (or a unix path), its keepalive pool and the timeouts. */
class PeerRoute {
  readonly host: string;
  readonly port: number;
  readonly pool: string;
  readonly tunnelPool: string;

  constructor(
    readonly address: string,
    readonly poolSize: number,
    readonly timeouts: Timeouts,
  ) {
    const endpoint = endpointOf(address);
    this.host = 'path' in endpoint ? address : endpoint.host;
    this.port = 'path' in endpoint ? 0 : endpoint.port;
    this.pool = upstreamPoolName(address);
    this.tunnelPool = upstreamTunnelPoolName(address);
  }
}

/** Errors after which the next server may be tried: the request never reached a server's application. */
function retryable(err: unknown): boolean {
  return err instanceof SocketError && (err.op === 'connect' || err instanceof SocketTimeoutError);
}

/**
 * The connection (TCP or its TLS handshake) failed: no byte of the request went out, so even a POST
 * goes to the next server (nginx forbids retrying non-idempotent requests only once one was sent).
 */
function neverSent(err: unknown): boolean {
  return err instanceof SocketError && (err.op === 'connect' || err.op === 'sslhandshake');
}

/**
 * The dyups proxy listener: like `proxy_pass http://$host`, the Host header (without port) names the
 * upstream group, matched case-insensitively; the upstream gets the group's name as Host (nginx's
 * $proxy_host) unless the group sets it (`proxy_set_header Host $http_host;`). Balanced per the group's
 * method; failures mark the server failed (max_fails/fail_timeout) and the next server is tried as the
 * group's proxy_next_upstream lines allow (default: error and timeout, idempotent methods, no limit);
 * nginx's generic 502/504 page when none is left, the reason in the error log. Keepalive pool per
 * upstream server address, so a server kept by an update keeps its connections. The response comes
 * back with nginx's buffering (src/stream/proxy). Requests arrive through a raw-socket HTTP/1.1 front
 * (src/dyups/front): a strict parser (two Host headers, ambiguous framing: 400), one request at a time
 * per connection, the response head and body in one write.
 */
export function buildProxyServer(
  table: UpstreamTable,
  balancers: Balancers,
  options: DyupsProxyOptions,
): DyupsProxyServer {
  const listenerTimeouts = {
    connect: options.connectTimeout,
    read: options.readTimeout,
    send: options.sendTimeout ?? options.readTimeout,
  };
  const errorLog = options.errorLog ?? ((line: string) => process.stderr.write(`${line}\n`));
  const upstreamErrorLog = options.upstreamErrorLog ?? ((_target: string, line: string) => errorLog(line));
  const observer = options.observer;
  const keepTries = observer?.wantsTries === true;
  const buffering = options.buffering;
  const tunnels = tunnelCounts();
  const tunnelTimeout = options.tunnelTimeout ?? options.readTimeout;
  /** Each group version's settings made ready once (a new version is a new object). */
  const plans = new WeakMap<UpstreamGroup, ProxyPlan>();
  function planOf(group: UpstreamGroup): ProxyPlan {
    let plan = plans.get(group);
    if (plan === undefined) plans.set(group, (plan = new ProxyPlan(group, listenerTimeouts)));
    return plan;
  }
  /** Each peer's connect settings, made once per peer (and again when its address, keepalive or timeouts change). */
  const routes = new WeakMap<Peer, PeerRoute>();
  function routeOf(peer: Peer, poolSize: number, timeouts: Timeouts): PeerRoute {
    const known = routes.get(peer);
    if (
      known !== undefined &&
      known.address === peer.address &&
      known.poolSize === poolSize &&
      known.timeouts === timeouts
    )
      return known;
    const route = new PeerRoute(peer.address, poolSize, timeouts);
    routes.set(peer, route);
    return route;
  }

  /** nginx's generic page for `status`; `detail` goes to the error log (at most a line a second per group). */
  function errorAnswer(ctx: FrontExchange, status: number, detail: string, group?: string): string {
    const line = errorLogLine(`dyups proxy: ${detail}`, ctx);
    if (group === undefined) errorLog(line);
    else upstreamErrorLog(`upstream '${group}'`, line);
    ctx.status = status;
    ctx.header('content-type', ERROR_PAGE_TYPE);
    return errorPage(status);
  }

  const pickLog = (group: string, line: string): void => upstreamErrorLog(`upstream '${group}'`, line);

  /**
   * The group a `split` line of the group asked for sends this request to (a canary; one hop, never further), or
   * null: none matched, or the group it names does not exist (yet).
   */
  function splitTo(balancer: GroupBalancer, request: FrontExchange['request']): string | null {
    const splits = balancer.group.splits;
    if (splits === undefined) return null;
    const to = splitTarget(splits, balancer.splitShares, request);
    return to !== null && table.get(to) !== undefined && balancers.get(to) !== undefined ? to : null;
  }

  function* proxy(ctx: FrontExchange): Operation<unknown> {
    const request = ctx.request;
    const absolute = absoluteTarget(request.url);
    const asked = absolute !== null ? absolute.host : hostOf(request);
    const askedBalancer = balancers.get(asked);
    const splitGroup = askedBalancer?.special === true ? splitTo(askedBalancer, request) : null;
    const name = splitGroup ?? asked;
    const group = table.get(name);
    const balancer = splitGroup === null ? askedBalancer : balancers.get(splitGroup);
    if (group !== undefined) ctx.upstreamGroup = name;
    if (group === undefined || balancer === undefined)
      return errorAnswer(ctx, 502, `no upstream group named '${name}' (the Host header names it)`);
    const plan = planOf(group);
    const clientIp = plan.clientIp(request);
    // the request as its variables see it: $remote_addr is the client's address after set_real_ip_from
    const client =
      clientIp === request.ip
        ? request
        : {
            url: request.url,
            ip: clientIp,
            headers: request.headers,
            method: request.method,
            protocol: request.protocol,
          };
    const hashKey = group.balancer.kind === 'hash' ? hashKeyOf(group.balancer.key, client) : '';
    const sticky = balancer.special ? (group.sticky ?? null) : null;
    /** the server a sticky request names: its first try goes there while it can take it */
    let stuckTo = sticky === null ? null : stickyPeer(sticky, balancer, client);
    const coroutine = balancer.special ? (group.coroutine ?? null) : null;
    const timed = balancer.timesTries && !ctx.upgrade;
    const input = { clientIp, hashKey };
    const poolSize = group.keepalive > 0 ? group.keepalive : 64;
    const headers = plan.headerRules(client, request.ip);
    const startedAt = plan.nextTimeout > 0 ? Date.now() : 0;
    const upstream = upstreamTls(group);
    if ('problem' in upstream) {
      // its trusted certificate file went away or went bad after the group was stored
      return errorAnswer(ctx, 502, upstream.problem, name);
    }
    const tls = upstream.tls;
    // made on the first retry: most requests never need one
    let tried: Set<Peer> | null = null;
    /** the server picked for the next try while deciding whether a response is passed on */
    let nextPeer: Peer | null = null;
    let lastError: unknown = null;
    let staleRetries = 0;
    let tries = 0;
    // streamed on as it arrives (proxy_request_buffering off); a Content-Length over the limit is a 413 here
    const body = ctx.body;
    body?.checkLength();
    /**
     * Another server may be tried: the method (unless nothing was sent), the body, proxy_next_upstream_tries
     * and _timeout allow it.
     */
    const mayRetry = (sent: boolean): boolean =>
      (!sent || plan.retriesMethod(request.method)) &&
      (body === null || body.consumed === 0) &&
      (plan.tries === 0 || tries < plan.tries) &&
      (plan.nextTimeout === 0 || Date.now() - startedAt < plan.nextTimeout);
    for (;;) {
      let peer: Peer | null = null;
      if (balancer.special) {
        if (stuckTo !== null && balancer.usable(stuckTo, tried ?? NOT_TRIED)) peer = stuckTo;
        else if (coroutine !== null)
          peer = yield* coroutinePick(coroutine, balancer, request, clientIp, tried ?? NOT_TRIED, pickLog);
        stuckTo = null;
      }
      peer ??= nextPeer ?? balancer.pick(input, tried ?? NOT_TRIED);
      nextPeer = null;
      if (peer === null) {
        const timedOut = lastError instanceof SocketTimeoutError;
        const why =
          lastError === null
            ? 'no server of the group is available'
            : `every server failed; last: ${(lastError as Error).message}`;
        return errorAnswer(ctx, timedOut ? 504 : 502, `upstream '${name}': ${why}`, name);
      }
      tries++;
      peer.active++;
      peer.requests++;
      const progress: ProxyProgress = { reused: false, headReceived: false };
      const timedFrom = timed ? balancer.startTimed(peer) : 0;
      let headAt: number | null = null;
      let endAt: number | null = null;
      const tryStarted = keepTries ? performance.now() : 0;
      /** The status of this try's server when the proxy moved on from it (a status retried on). */
      let passedOver: number | null = null;
      const noteTry = (status: number | null, failed: boolean): void => {
        if (observer === undefined) return;
        if (keepTries)
          (ctx.upstreamTries ??= []).push({
            addr: peer.address,
            status,
            seconds: (performance.now() - tryStarted) / 1000,
          });
        observer.tried(name, peer.address, failed);
      };
      try {
        const route = routeOf(peer, poolSize, plan.timeouts);
        const passOptions: ProxyPassOptions = {
          pool: route.pool,
          poolSize,
          timeouts: route.timeouts,
          body,
          progress,
          headers,
        };
        if (plan.hideHeaders !== undefined) passOptions.hideHeaders = plan.hideHeaders;
        if (timed && passOptions.passStatus === undefined)
          passOptions.passStatus = () => {
            headAt = performance.now();
            return true;
          };
        if (sticky?.kind === 'cookie' && cookieOf(request.headers, sticky.name) !== peer.stickyId)
          passOptions.addHeaders = [['set-cookie', stickyCookie(sticky, peer)]];
        if (plan.retryStatuses.size > 0) {
          passOptions.passStatus = (status) => {
            if (timed) headAt = performance.now();
            if (!plan.retryStatuses.has(status) || !mayRetry(true)) return true;
            // as nginx: a status retried on counts as the server failing; the last server's answer goes out
            (tried ??= new Set<Peer>()).add(peer);
            nextPeer = balancer.pick(input, tried);
            if (nextPeer === null) return true;
            peer.failed(Date.now());
            passedOver = status;
            return false;
          };
        }
        if (absolute !== null) passOptions.path = absolute.path;
        if (tls !== undefined) passOptions.tls = tls;
        if (buffering !== undefined) passOptions.buffering = buffering;
        if (ctx.upgrade) {
          const upgradeOptions: UpgradeOptions = {
            ...passOptions,
            pool: route.tunnelPool,
            poolSize: TUNNEL_POOL_SIZE,
            progress,
            tunnelTimeout,
            counts: tunnels,
            server: peer,
          };
          yield* proxyUpgrade(ctx, route.host, route.port, upgradeOptions);
        } else yield* proxyPass(ctx, route.host, route.port, passOptions);
        if (timed) endAt = performance.now();
        peer.succeeded();
        noteTry(ctx.status, false);
        return undefined;
      } catch (err) {
        if (err instanceof UpstreamStatusError) {
          noteTry(passedOver, true);
          upstreamErrorLog(
            `upstream '${name}'`,
            errorLogLine(`dyups proxy: upstream '${name}': ${err.message}; trying the next server`, ctx),
          );
          lastError = err;
          continue;
        }
        noteTry(progress.headReceived ? ctx.status : null, true);
        // failures to connect, to send, or to read the response head: error / timeout of proxy_next_upstream
        const beforeHead = !progress.headReceived && !ctx.headSent;
        if (!retryable(err) && !(err instanceof HttpProtocolError) && !(beforeHead && err instanceof SocketError))
          throw err;
        lastError = err;
        // a kept-alive connection the server had already closed is not the server failing: try again fresh
        const stale =
          progress.reused && beforeHead && !(err instanceof SocketTimeoutError) && staleRetries < MAX_STALE_RETRIES;
        if (stale) {
          staleRetries++;
          tries--;
        } else {
          peer.failed(Date.now());
          (tried ??= new Set<Peer>()).add(peer);
        }
        if (!beforeHead) throw err;
        const timedOut = err instanceof SocketTimeoutError;
        const allowed = plan.nextUpstream.has(timedOut ? 'timeout' : 'error');
        if (!stale && (!allowed || !mayRetry(!neverSent(err))))
          return errorAnswer(ctx, timedOut ? 504 : 502, `upstream '${name}': ${(err as Error).message}`, name);
        if (stale && !(plan.retriesMethod(request.method) && (body === null || body.consumed === 0))) throw err;
      } finally {
        peer.active--;
        if (timed) balancer.endTimed(peer, timedFrom, headAt, endAt);
      }
    }
  }

  const server = new FrontServer({
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
    errorLog,
    ...(options.tls ? { tls: serverTlsOptions(options.tls) } : {}),
    ...(observer === undefined
      ? {}
      : {
          onEnded: (exchange: FrontExchange) =>
            observer.ended(exchange, exchange.upstreamGroup, exchange.upstreamTries ?? NO_TRIES),
          onRefused: (request: RefusedRequest) => observer.refused(request),
        }),
  });
  // /status shows every proxy of the process that has not been closed
  const unregister = registerTunnelSource({ counts: tunnels, balancers });
  const close = server.close.bind(server);
  return Object.assign(server, {
    tunnels,
    close: async (): Promise<void> => {
      try {
        await close();
      } finally {
        unregister();
      }
    },
  });
}
