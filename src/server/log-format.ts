import { InvalidArgumentError } from '../errors/index.js';

/** nginx's `combined` log_format, the access log's default. */
export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/** One try of an upstream server by the proxy: for $upstream_addr, $upstream_status, $upstream_response_time. */
export interface UpstreamTry {
  addr: string;
  /** The status it answered, or null when it gave none (connect error, timeout). */
  status: number | null;
  /** Seconds from the connect to the end of its response (or its failure). */
  seconds: number;
}

/** What a log line is made of: one request and its response, on any listener. */
export interface LoggedRequest {
  remoteAddr: string;
  method: string;
  /** The request target as the client sent it. */
  uri: string;
  /** `HTTP/1.1` */
  protocol: string;
  /** $request when it is not `method uri protocol`: what could be read of a request refused before parsing ended. */
  requestLine?: string;
  status: number;
  bodyBytesSent: number;
  /** A request header by lowercased name. */
  header(name: string): string | string[] | undefined;
  /** Seconds from the request's arrival to the end of its response. */
  seconds: number;
  /** The servers the proxy tried, in order; empty for requests not proxied. */
  upstream: readonly UpstreamTry[];
}

type Part = string | ((r: LoggedRequest, now: Date) => string);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** nginx's $time_local: `07/Dec/2026:04:20:00 +0000`. */
export function timeLocal(now: Date): string {
  const offset = -now.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${two(now.getDate())}/${MONTHS[now.getMonth()]!}/${now.getFullYear()}:` +
    `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`
  );
}

/** As nginx writes a variable into an access log line: `"`, `\` and bytes outside printable ASCII as \xXX. */
function escape(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is escaped
  return value.replace(/["\\\x00-\x1f\x7f-\uffff]/g, (c) => {
    const code = c.charCodeAt(0);
    if (code < 0x100) return `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
    return [...Buffer.from(c, 'utf8')].map((b) => `\\x${b.toString(16).toUpperCase()}`).join('');
  });
}

/** An empty value is written `-`, as nginx does. */
const dash = (value: string): string => (value === '' ? '-' : escape(value));

const seconds = (s: number): string => s.toFixed(3);

function headerText(r: LoggedRequest, name: string): string {
  const value = r.header(name);
  return value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value;
}

const upstreamList = (r: LoggedRequest, each: (t: UpstreamTry) => string): string => r.upstream.map(each).join(', ');

const VARIABLES: Record<string, (r: LoggedRequest, now: Date) => string> = {
  remote_addr: (r) => dash(r.remoteAddr),
  remote_user: () => '-',
  time_local: (_r, now) => timeLocal(now),
  time_iso8601: (_r, now) => now.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
  msec: (_r, now) => (now.getTime() / 1000).toFixed(3),
  request: (r) => dash(r.requestLine ?? `${r.method} ${r.uri} ${r.protocol}`),
  request_method: (r) => dash(r.method),
  request_uri: (r) => dash(r.uri),
  server_protocol: (r) => dash(r.protocol),
  status: (r) => String(r.status),
  body_bytes_sent: (r) => String(r.bodyBytesSent),
  request_time: (r) => seconds(r.seconds),
  host: (r) => dash(headerText(r, 'host')),
  pid: () => String(process.pid),
  upstream_addr: (r) => dash(upstreamList(r, (t) => t.addr)),
  upstream_status: (r) => dash(upstreamList(r, (t) => (t.status === null ? '502' : String(t.status)))),
  upstream_response_time: (r) => dash(upstreamList(r, (t) => seconds(t.seconds))),
};

/** The variables a format may name besides `$http_NAME`. */
export const LOG_VARIABLES: readonly string[] = Object.keys(VARIABLES);

/** A compiled log_format: one line (without its newline) per request. */
export type LogLine = (r: LoggedRequest, now: Date) => string;

/**
 * Compiles an nginx log_format: `$name` or `${name}` are variables (LOG_VARIABLES, or `$http_NAME` for
 * request header NAME, `_` for `-`); anything else is written as it is. An unknown variable is an
 * InvalidArgumentError starting with `what`.
 */
export function compileLogFormat(format: string, what = 'log format'): LogLine {
  const parts: Part[] = [];
  const pattern = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
  let at = 0;
  for (let match = pattern.exec(format); match !== null; match = pattern.exec(format)) {
    if (match.index > at) parts.push(format.slice(at, match.index));
    at = match.index + match[0].length;
    const name = (match[1] ?? match[2]!).toLowerCase();
    const known = VARIABLES[name];
    if (known !== undefined) parts.push(known);
    else if (name.startsWith('http_') && name.length > 5) {
      const header = name.slice(5).replace(/_/g, '-');
      parts.push((r) => dash(headerText(r, header)));
    } else {
      throw new InvalidArgumentError(
        `${what}: unknown variable '$${name}' (known: ${LOG_VARIABLES.map((v) => `$${v}`).join(', ')}, $http_NAME)`,
      );
    }
  }
  if (at < format.length) parts.push(format.slice(at));
  return (r, now) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : part(r, now);
    return line;
  };
}

/** For config checks: the format itself when it compiles. */
export function checkLogFormat(what: string, format: string): string {
  compileLogFormat(format, what);
  return format;
}
