import * as http from '../../adapters/http/index.js';
import type { TcpSocket } from '../../adapters/tcp/index.js';
import { HttpProtocolError, SocketError, SocketTimeoutError } from '../errors/index.js';
import type { Operation } from '../runtime/effect.js';
import { race } from '../runtime/effects/group.js';
import { IdleTimeout } from '../runtime/idle-timeout.js';
import { dropsHost, endToEndHeaders, proxyResponse, requestHeaders } from '../stream/proxy.js';
import type { UpstreamHeaderRules } from '../stream/proxy.js';
import type { BufferingOptions, ProxyProgress } from '../stream/proxy.js';
import type { ClientTunnel } from './front/client-tunnel.js';
import type { FrontExchange } from './front/index.js';

/** The proxy's WebSocket/Upgrade counts. */
export interface TunnelCounts {
  /** Requests the upstream switched to another protocol (its 101 passed on). */
  upgrades: number;
  /** Tunnels open now. */
  open: number;
  /** Tunnels closed because no byte moved either way for the tunnel timeout. */
  idleClosed: number;
}

export function tunnelCounts(): TunnelCounts {
  return { upgrades: 0, open: 0, idleClosed: 0 };
}

/** One upstream server's tunnels (a balancer's Peer keeps them across group updates). */
export interface ServerTunnels {
  /** open through it now */
  openTunnels: number;
  /** opened through it since it joined its group */
  tunnels: number;
}

export interface UpgradeOptions extends http.HttpConnectOptions {
  /** Path and query on the upstream; default the client's. */
  path?: string;
  buffering?: Partial<BufferingOptions>;
  /** The group's proxy_set_header rules and the client address X-Forwarded-For ends with. */
  headers?: UpstreamHeaderRules;
  /** Response headers not passed to the client (proxy_hide_header). */
  hideHeaders?: ReadonlySet<string>;
  progress: ProxyProgress;
  /** ms without a byte either way before the tunnel is closed (proxy_read_timeout); 0: never. */
  tunnelTimeout: number;
  counts: TunnelCounts;
  /** The upstream server's own counts. */
  server?: ServerTunnels;
}

/** Bytes read from the upstream at a time. */
const READ_SIZE = 64 * 1024;

/**
 * proxy_pass of a request that asks to switch protocols: it goes on with its Upgrade and `Connection:
 * upgrade`; a 101 is passed back (its Upgrade and end-to-end headers) and the two connections are joined
 * by a tunnel until either side closes; any other answer is proxied as a normal response. The upstream
 * connection is never pooled after a 101.
 */
export function* proxyUpgrade(
  ctx: FrontExchange,
  host: string,
  port: number,
  options: UpgradeOptions,
): Operation<void> {
  const conn = yield* http.connect(host, port, options);
  try {
    options.progress.reused = conn.getreusedtimes() > 0;
    const response = yield* conn.request({
      method: ctx.method,
      path: options.path ?? ctx.url,
      headers: requestHeaders(ctx, options.headers, true),
      ...(options.headers !== undefined && dropsHost(options.headers) ? { omitHost: true } : {}),
    });
    options.progress.headReceived = true;
    if (response.status !== 101) {
      if (ctx.idleTimeout !== 0)
        ctx.idleTimeout = Math.max(ctx.idleTimeout, options.timeouts?.read ?? 60_000, ctx.sendTimeout);
      yield* proxyResponse(ctx, response, options.buffering, options.hideHeaders);
      conn.setkeepalive();
      return;
    }
    const upgrade = response.header('upgrade');
    if (upgrade === undefined)
      throw new HttpProtocolError(conn.peer, '101 Switching Protocols without an Upgrade header');
    const headers = endToEndHeaders(response.headers);
    const fields: string[] = [];
    for (const name of Object.keys(headers)) {
      if (options.hideHeaders?.has(name) === true) continue;
      const value = headers[name]!;
      if (Array.isArray(value)) for (const one of value) fields.push(name, one);
      else fields.push(name, value);
    }
    fields.push('upgrade', upgrade);
    const client = ctx.switchProtocols(fields);
    yield* tunnel(client, conn.socket, options.tunnelTimeout, options.counts, options.server);
  } finally {
    conn.close(); // after setkeepalive(): nothing to close
  }
}

/**
 * Bytes both ways between the client and the upstream, a coroutine per direction, until either side
 * closes (the other is then cancelled: nginx ends both) or no byte moved either way for `idleMs`.
 */
export function* tunnel(
  client: ClientTunnel,
  upstream: TcpSocket,
  idleMs: number,
  counts: TunnelCounts,
  server?: ServerTunnels,
): Operation<void> {
  counts.upgrades++;
  counts.open++;
  if (server !== undefined) {
    server.tunnels++;
    server.openTunnels++;
  }
  let idled = false;
  const idle =
    idleMs > 0
      ? new IdleTimeout(idleMs, () => {
          idled = true;
          upstream.close(); // its reader wakes with the close, and the race ends
        })
      : null;
  if (idle !== null) {
    upstream.settimeouts(undefined, undefined, idleMs);
    idle.touch();
  }
  try {
    yield* race([clientToUpstream(client, upstream, idle), upstreamToClient(upstream, client, idle)]);
  } finally {
    idle?.stop();
    counts.open--;
    if (server !== undefined) server.openTunnels--;
    if (idled) counts.idleClosed++;
  }
}

function* clientToUpstream(client: ClientTunnel, upstream: TcpSocket, idle: IdleTimeout | null): Operation<void> {
  try {
    for (;;) {
      const data = yield* client.read();
      if (data === null) return; // the client's FIN
      idle?.touch();
      yield* upstream.send(data);
      idle?.touch();
    }
  } catch (err) {
    if (!(err instanceof SocketError)) throw err;
  }
}

function* upstreamToClient(upstream: TcpSocket, client: ClientTunnel, idle: IdleTimeout | null): Operation<void> {
  try {
    for (;;) {
      let data: Buffer;
      try {
        data = yield* upstream.receiveany(READ_SIZE);
      } catch (err) {
        // a quiet upstream while the client talks: the shared idle timeout decides, not this read's
        if (err instanceof SocketTimeoutError && err.op === 'receive') continue;
        throw err;
      }
      idle?.touch();
      yield* client.write(data);
      idle?.touch();
    }
  } catch (err) {
    if (!(err instanceof SocketError)) throw err;
  }
}
