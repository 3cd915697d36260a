import { isIP } from 'node:net';
import { parseTime } from '../config/units.js';

/** When another server is tried (proxy_next_upstream); `off` is the empty list. */
export type NextUpstreamCase = 'error' | 'timeout' | 'http_502' | 'http_503' | 'http_504' | 'non_idempotent';

/** How a group's requests are passed on: nginx's proxy_* and realip directives, per group. */
export interface ProxySettings {
  /** proxy_next_upstream; nginx's default `error timeout` */
  nextUpstream: NextUpstreamCase[];
  /** proxy_next_upstream_tries: servers tried at most per request, 0 for no limit */
  nextUpstreamTries: number;
  /** proxy_next_upstream_timeout in ms: no next server after this long, 0 for no limit */
  nextUpstreamTimeout: number;
  /** ms; null: the proxy listener's setting */
  connectTimeout: number | null;
  readTimeout: number | null;
  sendTimeout: number | null;
  /** proxy_set_header: lowercased name and the value with its $variables, in order */
  setHeaders: Array<[string, string]>;
  /** proxy_hide_header: lowercased response header names not passed to the client */
  hideHeaders: string[];
  /** set_real_ip_from: the addresses (CIDR) whose real_ip_header is believed */
  realIpFrom: string[];
  realIpHeader: 'X-Forwarded-For' | 'X-Real-IP';
  realIpRecursive: boolean;
}

export const PROXY_DEFAULTS: Readonly<ProxySettings> = {
  nextUpstream: ['error', 'timeout'],
  nextUpstreamTries: 0,
  nextUpstreamTimeout: 0,
  connectTimeout: null,
  readTimeout: null,
  sendTimeout: null,
  setHeaders: [],
  hideHeaders: [],
  realIpFrom: [],
  realIpHeader: 'X-Forwarded-For',
  realIpRecursive: false,
};

export function defaultProxySettings(): ProxySettings {
  return {
    ...PROXY_DEFAULTS,
    nextUpstream: [...PROXY_DEFAULTS.nextUpstream],
    setHeaders: [],
    hideHeaders: [],
    realIpFrom: [],
  };
}

/** A token of an upstream body (parse.ts's), as much of it as a directive's parser needs. */
export interface DirectiveToken {
  text: string;
  at: number;
}

type Fail = (token: DirectiveToken, problem: string) => never;
type DirectiveParser = (settings: ProxySettings, args: DirectiveToken[], directive: DirectiveToken, fail: Fail) => void;

const NEXT_UPSTREAM_CASES: readonly string[] = [
  'error',
  'timeout',
  'http_502',
  'http_503',
  'http_504',
  'non_idempotent',
];
/** Header names the proxy frames or hops itself: proxy_set_header cannot set them. */
const PROXY_OWNED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'upgrade',
  'trailer',
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Longest timeout a group may set: a day. */
const MAX_TIMEOUT = 86_400_000;

/** The variables a proxy_set_header value may use (besides $http_NAME, $arg_NAME and $cookie_NAME). */
export const HEADER_VARIABLES: readonly string[] = [
  'host',
  'http_host',
  'proxy_host',
  'remote_addr',
  'proxy_add_x_forwarded_for',
  'scheme',
  'request_uri',
  'uri',
  'args',
  'query_string',
  'request_method',
];

const VARIABLE = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;

function isKnownVariable(name: string): boolean {
  return HEADER_VARIABLES.includes(name) || /^(http|arg|cookie)_[a-z0-9_]+$/.test(name);
}

function time(token: DirectiveToken, min: number, fail: Fail, directive: string): number {
  // nginx: a bare number is seconds
  const ms = parseTime(token.text, 's');
  if (ms === null || !Number.isInteger(ms) || ms < min || ms > MAX_TIMEOUT)
    fail(token, `${directive}: expected a time like 10s, 500ms or 1m${min > 0 ? ' (more than 0)' : ''}, at most 1d`);
  return ms;
}

function onOff(token: DirectiveToken, fail: Fail, directive: string): boolean {
  if (token.text !== 'on' && token.text !== 'off') fail(token, `${directive}: expected on or off`);
  return token.text === 'on';
}

function count(args: DirectiveToken[], n: number, directive: DirectiveToken, fail: Fail, what: string): void {
  if (args.length !== n) fail(args[n] ?? directive, `${directive.text} takes ${what}`);
}

function timeout(key: 'connectTimeout' | 'readTimeout' | 'sendTimeout'): DirectiveParser {
  return (settings, args, directive, fail) => {
    count(args, 1, directive, fail, 'one time');
    settings[key] = time(args[0]!, 1, fail, directive.text);
  };
}

/** A CIDR (or a single address): what set_real_ip_from takes. */
export function cidrProblem(text: string): string | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return 'expected an address or CIDR such as 10.0.0.0/8 or fd00::/8';
  if (slash < 0) return null;
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128))
    return `expected a prefix length from 0 to ${family === 4 ? 32 : 128}`;
  return null;
}

/**
 * The proxy directives a group body may hold, by name: each parses its arguments into the settings or
 * fails naming the directive and the token. One row per directive, so more are added as rows.
 */
export const PROXY_DIRECTIVES: Readonly<Record<string, DirectiveParser>> = {
  proxy_next_upstream(settings, args, directive, fail) {
    if (args.length === 0)
      fail(directive, `proxy_next_upstream needs off or some of ${NEXT_UPSTREAM_CASES.join(', ')}`);
    if (args.length === 1 && args[0]!.text === 'off') {
      settings.nextUpstream = [];
      return;
    }
    const cases: NextUpstreamCase[] = [];
    for (const arg of args) {
      if (arg.text === 'off') fail(arg, "proxy_next_upstream: 'off' cannot be combined with other cases");
      if (!NEXT_UPSTREAM_CASES.includes(arg.text))
        fail(arg, `proxy_next_upstream: unknown case (off, ${NEXT_UPSTREAM_CASES.join(', ')})`);
      if (cases.includes(arg.text as NextUpstreamCase)) fail(arg, `proxy_next_upstream: ${arg.text} given twice`);
      cases.push(arg.text as NextUpstreamCase);
    }
    settings.nextUpstream = cases;
  },
  proxy_next_upstream_tries(settings, args, directive, fail) {
    count(args, 1, directive, fail, 'one number');
    const text = args[0]!.text;
    if (!/^\d{1,4}$/.test(text) || Number(text) > 1000)
      fail(args[0]!, 'proxy_next_upstream_tries: expected a whole number from 0 (no limit) to 1000');
    settings.nextUpstreamTries = Number(text);
  },
  proxy_next_upstream_timeout(settings, args, directive, fail) {
    count(args, 1, directive, fail, 'one time (0: no limit)');
    settings.nextUpstreamTimeout = time(args[0]!, 0, fail, directive.text);
  },
  proxy_connect_timeout: timeout('connectTimeout'),
  proxy_read_timeout: timeout('readTimeout'),
  proxy_send_timeout: timeout('sendTimeout'),
  proxy_set_header(settings, args, directive, fail) {
    count(args, 2, directive, fail, "a header name and a value ('' drops the header)");
    const [name, value] = [args[0]!, args[1]!];
    if (!TOKEN.test(name.text)) fail(name, 'proxy_set_header: invalid header name');
    const lower = name.text.toLowerCase();
    if (PROXY_OWNED.has(lower)) fail(name, `proxy_set_header: ${name.text} is the proxy's own to set`);
    if (settings.setHeaders.some(([n]) => n === lower)) fail(name, `proxy_set_header: ${name.text} given twice`);
    if (/[\r\n\0]/.test(value.text)) fail(value, 'proxy_set_header: the value has a CR, LF or NUL');
    // what a request head can carry as written (a header of other characters would fail every request)
    if (/[^\t\x20-\x7e]/.test(value.text))
      fail(value, 'proxy_set_header: the value may hold visible ASCII, spaces and tabs only');
    if (lower === 'host' && value.text === '')
      fail(
        value,
        'proxy_set_header: Host cannot be dropped (the upstream request is HTTP/1.1, which needs one): use $proxy_host (the default), $http_host, $host or a name',
      );
    for (const match of value.text.matchAll(VARIABLE)) {
      const variable = (match[1] ?? match[2]!).toLowerCase();
      if (!isKnownVariable(variable))
        fail(
          value,
          `proxy_set_header: unknown variable $${variable} (${HEADER_VARIABLES.map((v) => `$${v}`).join(', ')}, $http_NAME, $arg_NAME, $cookie_NAME)`,
        );
    }
    settings.setHeaders.push([lower, value.text]);
  },
  proxy_hide_header(settings, args, directive, fail) {
    count(args, 1, directive, fail, 'one header name');
    if (!TOKEN.test(args[0]!.text)) fail(args[0]!, 'proxy_hide_header: invalid header name');
    const lower = args[0]!.text.toLowerCase();
    if (settings.hideHeaders.includes(lower)) fail(args[0]!, `proxy_hide_header: ${args[0]!.text} given twice`);
    settings.hideHeaders.push(lower);
  },
  set_real_ip_from(settings, args, directive, fail) {
    count(args, 1, directive, fail, 'one address or CIDR (one line each)');
    const problem = cidrProblem(args[0]!.text);
    if (problem !== null) fail(args[0]!, `set_real_ip_from: ${problem}`);
    settings.realIpFrom.push(args[0]!.text);
  },
  real_ip_header(settings, args, directive, fail) {
    count(args, 1, directive, fail, 'X-Forwarded-For or X-Real-IP');
    const lower = args[0]!.text.toLowerCase();
    if (lower === 'x-forwarded-for') settings.realIpHeader = 'X-Forwarded-For';
    else if (lower === 'x-real-ip') settings.realIpHeader = 'X-Real-IP';
    else fail(args[0]!, 'real_ip_header: expected X-Forwarded-For or X-Real-IP');
  },
  real_ip_recursive(settings, args, directive, fail) {
    count(args, 1, directive, fail, 'on or off');
    settings.realIpRecursive = onOff(args[0]!, fail, directive.text);
  },
};

/** Directives that set one value: a second line of one is a mistake. */
export const SINGLE_DIRECTIVES: ReadonlySet<string> = new Set([
  'proxy_next_upstream',
  'proxy_next_upstream_tries',
  'proxy_next_upstream_timeout',
  'proxy_connect_timeout',
  'proxy_read_timeout',
  'proxy_send_timeout',
  'real_ip_header',
  'real_ip_recursive',
]);

function ms(value: number): string {
  return `${value}ms`;
}

function quoted(text: string): string {
  return /^[^\s;{}"'#\\]+$/.test(text) ? text : `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The settings that differ from the defaults, as directive lines (without `;`) that parse back to them. */
export function proxyDirectiveLines(settings: ProxySettings): string[] {
  const lines: string[] = [];
  const d = PROXY_DEFAULTS;
  if (settings.nextUpstream.join(' ') !== d.nextUpstream.join(' '))
    lines.push(`proxy_next_upstream ${settings.nextUpstream.length === 0 ? 'off' : settings.nextUpstream.join(' ')}`);
  if (settings.nextUpstreamTries !== d.nextUpstreamTries)
    lines.push(`proxy_next_upstream_tries ${settings.nextUpstreamTries}`);
  if (settings.nextUpstreamTimeout !== d.nextUpstreamTimeout)
    lines.push(`proxy_next_upstream_timeout ${ms(settings.nextUpstreamTimeout)}`);
  if (settings.connectTimeout !== null) lines.push(`proxy_connect_timeout ${ms(settings.connectTimeout)}`);
  if (settings.readTimeout !== null) lines.push(`proxy_read_timeout ${ms(settings.readTimeout)}`);
  if (settings.sendTimeout !== null) lines.push(`proxy_send_timeout ${ms(settings.sendTimeout)}`);
  for (const [name, value] of settings.setHeaders)
    lines.push(`proxy_set_header ${name} ${value === '' ? "''" : quoted(value)}`);
  for (const name of settings.hideHeaders) lines.push(`proxy_hide_header ${name}`);
  for (const cidr of settings.realIpFrom) lines.push(`set_real_ip_from ${cidr}`);
  if (settings.realIpHeader !== d.realIpHeader) lines.push(`real_ip_header ${settings.realIpHeader}`);
  if (settings.realIpRecursive !== d.realIpRecursive) lines.push('real_ip_recursive on');
  return lines;
}
