import type { Timeouts } from '../../adapters/tcp/index.js';
import type { UpstreamHeaderRules } from '../stream/proxy.js';
import type { NextUpstreamCase } from './proxy-settings.js';
import { RealIp } from './real-ip.js';
import { constantHeaderValue, headerValueOf } from './request-vars.js';
import type { HeaderValueRequest } from './request-vars.js';
import type { UpstreamGroup } from './upstream.js';

/** The listener's timeouts, which a group's proxy_*_timeout lines override. */
export type ListenerTimeouts = Readonly<Timeouts>;

/** nginx's `proxy_set_header Host $proxy_host`: the group's name, whatever the client sent. */
const DEFAULT_HOST: readonly [string, string] = ['host', '$proxy_host'];

/**
 * A group's proxy settings made ready for requests once per group version: the timeouts to connect
 * with, the client-address rule, the headers to set and hide, and when another server may be tried.
 */
export class ProxyPlan {
  readonly timeouts: Timeouts;
  readonly realIp: RealIp | null;
  readonly hideHeaders: ReadonlySet<string> | undefined;
  /** statuses after which another server is tried (http_502 ...) */
  readonly retryStatuses: ReadonlySet<number>;
  readonly nextUpstream: ReadonlySet<NextUpstreamCase>;
  readonly tries: number;
  /** ms, 0 for no limit */
  readonly nextTimeout: number;
  private readonly setHeaders: ReadonlyArray<readonly [string, string]>;
  /** the rules, made once, when no value depends on the request (the default Host $proxy_host alone, ...) */
  private readonly constantRules: UpstreamHeaderRules | null;

  constructor(
    readonly group: UpstreamGroup,
    listener: ListenerTimeouts,
  ) {
    const p = group.proxy;
    this.timeouts = {
      connect: p.connectTimeout ?? listener.connect,
      read: p.readTimeout ?? listener.read,
      send: p.sendTimeout ?? listener.send,
    };
    this.realIp = p.realIpFrom.length > 0 ? new RealIp(p) : null;
    this.hideHeaders = p.hideHeaders.length > 0 ? new Set(p.hideHeaders) : undefined;
    this.nextUpstream = new Set(p.nextUpstream);
    const statuses = new Set<number>();
    for (const c of p.nextUpstream) if (c.startsWith('http_')) statuses.add(Number(c.slice(5)));
    this.retryStatuses = statuses;
    this.tries = p.nextUpstreamTries;
    this.nextTimeout = p.nextUpstreamTimeout;
    this.setHeaders = p.setHeaders.some(([name]) => name === 'host') ? p.setHeaders : [DEFAULT_HOST, ...p.setHeaders];
    const constants = this.setHeaders.map(([name, value]) => [name, constantHeaderValue(value, group.name)] as const);
    this.constantRules = constants.every((rule): rule is readonly [string, string] => rule[1] !== null)
      ? { set: constants }
      : null;
  }

  /** The client's address: the peer's, or the one a trusted peer names (set_real_ip_from). */
  clientIp(request: HeaderValueRequest): string {
    return this.realIp === null ? request.ip : this.realIp.clientOf(request.ip, request.headers);
  }

  /** The headers set for a request whose client is `client` (a request view with that address as its ip). */
  headerRules(client: HeaderValueRequest, peerIp: string): UpstreamHeaderRules {
    // X-Forwarded-For ends with the peer's address unless told otherwise
    if (this.constantRules !== null && client.ip === peerIp) return this.constantRules;
    const set = this.setHeaders.map(([name, value]) => [name, headerValueOf(value, client, this.group.name)] as const);
    return { set, clientIp: client.ip };
  }

  /** Another server may be tried for this method (non-idempotent ones only with non_idempotent). */
  retriesMethod(method: string): boolean {
    return IDEMPOTENT.has(method) || this.nextUpstream.has('non_idempotent');
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);
