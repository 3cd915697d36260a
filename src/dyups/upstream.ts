import type { ProxySettings } from './proxy-settings.js';

/** One `server` line of an upstream group, with nginx's defaults. */
export interface UpstreamServer {
  /** host:port, [v6]:port or unix:/path, as written (port 80 added when missing) */
  address: string;
  weight: number;
  maxConns: number;
  maxFails: number;
  /** seconds */
  failTimeout: number;
  backup: boolean;
  down: boolean;
  /** takes no new requests; those in flight finish (then it can be removed without cutting anything) */
  drain: boolean;
  /** NGINX Plus' `route=NAME`: what `sticky route` matches; absent when not given */
  route?: string;
}

/** A group's balancing method, as its nginx directive names it (round robin unless one is given). */
export type Balancer =
  | { kind: 'round_robin' }
  | { kind: 'least_conn' }
  | { kind: 'ip_hash' }
  | { kind: 'hash'; key: string; consistent: boolean }
  /** nginx's `random [two [METHOD]]`: weighted random, or the better of two weighted random picks */
  | { kind: 'random'; two: RandomTwoMethod | null }
  /** NGINX Plus' `least_time header|last_byte [inflight]`: fewest active requests times the average time */
  | { kind: 'least_time'; measure: TimeMeasure; inflight: boolean; decay: number }
  /** APISIX's `ewma`: peak EWMA of the response time times active requests, the better of two random picks */
  | { kind: 'ewma'; decay: number };

/** Which of two random picks wins under `random two`. */
export type RandomTwoMethod = 'least_conn' | 'least_time=header' | 'least_time=last_byte';

/** What a response time is measured to: its head arriving, or its last byte passed on. */
export type TimeMeasure = 'header' | 'last_byte';

/** ms over which an average forgets a sample (e^-1): least_time's and ewma's `decay=`, default 10 s (APISIX's). */
export const DEFAULT_DECAY = 10_000;

/** NGINX Plus' `sticky`: a client keeps its server while that server is available. */
export type Sticky =
  | {
      kind: 'cookie';
      name: string;
      /** seconds; null: a session cookie; 'max': NGINX Plus' `expires=max` */
      expires: number | 'max' | null;
      domain: string | null;
      path: string | null;
      httponly: boolean;
      secure: boolean;
    }
  /** the first non-empty variable's value names the server by its `route=` */
  | { kind: 'route'; variables: string[] };

/** One `split` line: requests it matches go to another group (a canary, as APISIX's traffic-split). */
export interface TrafficSplit {
  /** `$VAR=VALUE`: the variable equals the value; `N%`: that share of the requests not split before */
  match: { variable: string; value: string } | { percent: number };
  /** the group the matched requests go to */
  to: string;
}

/** `balancer NAME;`: a coroutine balancer picks, within `balancer_timeout`, else the group's built-in one. */
export interface CoroutineBalancerRef {
  name: string;
  /** ms */
  timeout: number;
}

export const DEFAULT_BALANCER_TIMEOUT = 50;

/** Active health checks (the nginx_upstream_check_module directives dyups users write). */
export interface HealthCheck {
  type: 'tcp' | 'http';
  /** ms */
  interval: number;
  rise: number;
  fall: number;
  /** ms */
  timeout: number;
  defaultDown: boolean;
  /** 0: the server's own port */
  port: number;
  httpSend: string;
  /** e.g. ['http_2xx', 'http_3xx'] */
  httpExpectAlive: string[];
}

/**
 * TLS to the group's servers (`proxy_ssl on` and its companions, nginx's location directives as group
 * directives). Unlike nginx, verification and SNI are on by default.
 */
export interface UpstreamSsl {
  /** proxy_ssl_verify */
  verify: boolean;
  /** proxy_ssl_server_name: send the name as SNI */
  serverName: boolean;
  /** proxy_ssl_name: the name sent and verified; null: the group name (nginx's $proxy_host) */
  name: string | null;
  /** proxy_ssl_trusted_certificate: a PEM file of trusted CAs; null: the default store */
  trustedCertificate: string | null;
}

export const SSL_DEFAULTS: UpstreamSsl = { verify: true, serverName: true, name: null, trustedCertificate: null };

/** An upstream group as `POST /upstream/NAME` defines it: replaced as a whole. */
export interface UpstreamGroup {
  name: string;
  servers: UpstreamServer[];
  balancer: Balancer;
  /** idle keepalive connections per worker, or 0 for none */
  keepalive: number;
  check: HealthCheck | null;
  /** how requests are passed on: retries, timeouts, headers, the client address (nginx's proxy_* directives) */
  proxy: ProxySettings;
  /** TLS to its servers (proxy_ssl on); absent: plain HTTP */
  ssl?: UpstreamSsl;
  /** absent: no stickiness */
  sticky?: Sticky;
  /** absent: no split (in order: the first that matches decides) */
  splits?: TrafficSplit[];
  /** absent: the built-in balancer alone */
  coroutine?: CoroutineBalancerRef;
}

export const SERVER_DEFAULTS: Omit<UpstreamServer, 'address'> = {
  weight: 1,
  maxConns: 0,
  maxFails: 1,
  failTimeout: 10,
  backup: false,
  down: false,
  drain: false,
};

export const CHECK_DEFAULTS: HealthCheck = {
  type: 'tcp',
  interval: 30_000,
  rise: 2,
  fall: 5,
  timeout: 1_000,
  defaultDown: true,
  port: 0,
  httpSend: 'GET / HTTP/1.0\r\n\r\n',
  httpExpectAlive: ['http_2xx', 'http_3xx'],
};

/** Where a server address connects: host and port, or a unix socket path. */
export type Endpoint = { host: string; port: number } | { path: string };

export function endpointOf(address: string): Endpoint {
  if (address.startsWith('unix:')) return { path: address.slice(5) };
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

/** Largest `weight=` of a server (nginx has no cap; weights are relative, so 100 loses nothing). */
export const MAX_WEIGHT = 100;
/** Ketama points per weight unit of a `hash ... consistent` server (nginx's 160). */
export const RING_POINTS_PER_WEIGHT = 160;
/** Largest ketama ring of one group: 160 points x 2,560 weight units (e.g. 256 servers of weight 10). */
export const MAX_RING_POINTS = RING_POINTS_PER_WEIGHT * 2_560;
