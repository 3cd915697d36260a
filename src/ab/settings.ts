import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import type { SecureContextOptions, SecureVersion } from 'node:tls';
import { AbError, UsageError } from '../errors/index.js';
import { parseAbArgv } from './argv.js';
import { abRequest, basicAuthLine } from './request.js';

/** Everything one `cosocket ab` run needs, from its command line. */
export interface AbSettings {
  help: boolean;
  version: boolean;
  /** --stream: streaming responses measured per stream (src/ab/stream.ts). */
  stream: boolean;
  /** Every option letter or long name given. */
  given: ReadonlySet<string>;
  json: boolean;
  workers: number;
  secure: boolean;
  /** As ab prints it: the URL's host without brackets. */
  hostname: string;
  port: number;
  /** The request target: the path, or the full URL through -X. */
  target: string;
  /** Where the connections go (the host, or -X's proxy) and its port. */
  connectHost: string;
  connectPort: number;
  proxy: string | null;
  request: Buffer;
  method: string;
  postedPerRequest: number;
  requests: number;
  concurrency: number;
  timeLimit: number;
  timeout: number;
  keepalive: boolean;
  continueOnReceiveError: boolean;
  variableLength: boolean;
  verbosity: number;
  quiet: boolean;
  showPercentiles: boolean;
  showConfidence: boolean;
  html: { table: string; tr: string; td: string } | null;
  csvFile: string | null;
  gnuplotFile: string | null;
  sni: boolean;
  tls: SecureContextOptions & { minVersion?: SecureVersion; maxVersion?: SecureVersion };
}

/** ab flags that Node's sockets cannot honour: refused with one line each. */
const REFUSED: Record<string, string> = {
  b: '-b (TCP send/receive buffer size) is not supported: Node cannot set SO_SNDBUF/SO_RCVBUF on a socket',
  B: "-B (bind address) is not supported: autocannon's client connects without a local address",
};

const TLS_VERSIONS: Record<string, [SecureVersion, SecureVersion] | null> = {
  ALL: null,
  'TLS1.3': ['TLSv1.3', 'TLSv1.3'],
  'TLS1.2': ['TLSv1.2', 'TLSv1.2'],
  'TLS1.1': ['TLSv1.1', 'TLSv1.1'],
  TLS1: ['TLSv1', 'TLSv1'],
};

function count(flag: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`-${flag} must be a whole number >= ${min}, got '${value}'`);
  return Number(value);
}

function readBody(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : String(err);
    throw new AbError(`ab: Could not open POST data file (${file}): ${reason} (-${flag})`, 1);
  }
}

/** Reads ab's flags (and --json, --workers N) into the settings of one run. */
export function abSettings(argv: readonly string[]): AbSettings {
  const { options, positionals } = parseAbArgv(argv);
  let requests: number | null = null;
  let concurrency = 1;
  let timeLimit = 0;
  let timeout = 30;
  let method: string | null = null;
  let body: Buffer | null = null;
  let contentType = 'text/plain';
  let cookie: string | undefined;
  const auth: string[] = [];
  const headers: string[] = [];
  let proxy: { host: string; port: number } | null = null;
  let html: AbSettings['html'] = null;
  const htmlAttrs = { table: '', tr: '', td: 'bgcolor=white' };
  const settings = {
    help: false,
    version: false,
    stream: false,
    given: new Set(options.map(([flag]) => flag)) as ReadonlySet<string>,
    json: false,
    workers: 1,
    keepalive: false,
    continueOnReceiveError: false,
    variableLength: false,
    verbosity: 0,
    quiet: false,
    showPercentiles: true,
    showConfidence: true,
    csvFile: null as string | null,
    gnuplotFile: null as string | null,
    sni: true,
    tls: {} as AbSettings['tls'],
  };
  const mix = (kind: string): void => {
    if (method !== null) throw new AbError(`Cannot mix ${kind} with other methods`, 1);
  };
  for (const [flag, raw] of options) {
    const value = raw === true ? '' : raw;
    const refused = REFUSED[flag];
    if (refused !== undefined) throw new UsageError(refused);
    switch (flag) {
      case 'n':
        requests = count('n', value, 1);
        break;
      case 'c':
        concurrency = count('c', value, 1);
        break;
      case 't':
        timeLimit = count('t', value, 1);
        break;
      case 's':
        timeout = count('s', value, 1);
        break;
      case 'k':
        settings.keepalive = true;
        break;
      case 'i':
        mix('HEAD');
        method = 'HEAD';
        break;
      case 'p':
        mix('POST');
        body = readBody('p', value);
        method = 'POST';
        break;
      case 'u':
        mix('PUT');
        body = readBody('u', value);
        method = 'PUT';
        break;
      case 'm':
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value))
          throw new UsageError(`-m must be a method name, got '${value}'`);
        method = value;
        break;
      case 'T':
        contentType = value;
        break;
      case 'C':
        cookie = value; // ab 2.3 keeps the last -C only
        break;
      case 'A':
        auth.push(basicAuthLine('Authorization', value));
        break;
      case 'P':
        auth.push(basicAuthLine('Proxy-Authorization', value));
        break;
      case 'H':
        if (/[\r\n]/.test(value)) throw new UsageError(`-H must be one header line, got ${JSON.stringify(value)}`);
        headers.push(value);
        break;
      case 'X': {
        const colon = value.lastIndexOf(':');
        const host = colon === -1 ? value : value.slice(0, colon);
        const port = colon === -1 ? 80 : count('X port', value.slice(colon + 1), 1);
        if (host === '') throw new UsageError(`-X needs proxy[:port], got '${value}'`);
        proxy = { host, port };
        break;
      }
      case 'v':
        settings.verbosity = count('v', value, 0);
        break;
      case 'w':
        html = htmlAttrs;
        break;
      case 'x':
        html = htmlAttrs;
        htmlAttrs.table = value;
        break;
      case 'y':
        html = htmlAttrs;
        htmlAttrs.tr = value;
        break;
      case 'z':
        html = htmlAttrs;
        htmlAttrs.td = value;
        break;
      case 'l':
        settings.variableLength = true;
        break;
      case 'r':
        settings.continueOnReceiveError = true;
        break;
      case 'q':
        settings.quiet = true;
        break;
      case 'd':
        settings.showPercentiles = false;
        break;
      case 'S':
        settings.showConfidence = false;
        break;
      case 'e':
        settings.csvFile = value;
        break;
      case 'g':
        settings.gnuplotFile = value;
        break;
      case 'I':
        settings.sni = false;
        break;
      case 'Z':
        settings.tls.ciphers = value;
        break;
      case 'f': {
        const key = Object.keys(TLS_VERSIONS).find((k) => value.toUpperCase().startsWith(k));
        if (key === undefined)
          throw new UsageError(
            `-f must be one of TLS1, TLS1.1, TLS1.2, TLS1.3 or ALL (SSL2/SSL3 are not supported by Node), got '${value}'`,
          );
        const range = TLS_VERSIONS[key];
        if (range !== null && range !== undefined) [settings.tls.minVersion, settings.tls.maxVersion] = range;
        break;
      }
      case 'E': {
        let pem: Buffer;
        try {
          pem = readFileSync(value);
        } catch {
          throw new AbError(`unable to get certificate from '${value}'`, 1);
        }
        settings.tls.cert = pem;
        settings.tls.key = pem;
        break;
      }
      case 'V':
        settings.version = true;
        break;
      case 'h':
      case 'help':
        settings.help = true;
        break;
      case 'json':
        settings.json = true;
        break;
      case 'stream':
        settings.stream = true;
        break;
      case 'workers':
        settings.workers = count('-workers', value, 1);
        break;
      default:
        throw new UsageError(`unknown option -${flag}`);
    }
  }
  const base = {
    ...settings,
    html,
    requests: 0,
    concurrency,
    timeLimit,
    timeout,
  };
  if (settings.help || settings.version) return { ...emptyTarget(), ...base };
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0
        ? 'wrong number of arguments: a URL is required'
        : `wrong number of arguments: one URL, got ${positionals.length}`,
    );
  const fullUrl = positionals[0]!;
  // `localhost:8080/x` parses as the scheme `localhost:`, `127.0.0.1:8080` not at all: both lack http://
  const hint = /^[^/@]*:\d+(\/|$)/.test(fullUrl) ? ` (a scheme is missing: http://${fullUrl})` : '';
  let url: URL;
  try {
    url = new URL(fullUrl);
  } catch {
    throw new UsageError(`invalid URL, got '${fullUrl}'${hint}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`invalid URL: http:// or https:// only, got '${fullUrl}'${hint}`);
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const hostField = `${isIPv6(hostname) ? `[${hostname}]` : hostname}${url.port === '' ? '' : `:${port}`}`;
  const path = `${url.pathname}${url.search}`;
  const target = proxy !== null ? fullUrl : path;
  const total = requests ?? (settings.stream ? concurrency : timeLimit > 0 ? 50_000 : 1);
  if (concurrency > total)
    throw new UsageError('Cannot use concurrency level greater than total number of requests (-c greater than -n)');
  if (settings.workers > concurrency)
    throw new UsageError(`--workers ${settings.workers} needs at least as many connections (-c ${concurrency})`);
  const finalMethod = method ?? 'GET';
  const request = abRequest({
    method: finalMethod,
    target,
    hostField,
    keepalive: settings.keepalive,
    ...(cookie !== undefined ? { cookie } : {}),
    auth,
    ...(body !== null ? { body: { bytes: body, contentType } } : {}),
    headers,
  });
  return {
    ...base,
    requests: total,
    secure,
    hostname,
    port,
    target,
    connectHost: proxy !== null ? (proxy as { host: string }).host : hostname,
    connectPort: proxy !== null ? (proxy as { port: number }).port : port,
    proxy: proxy !== null ? `${(proxy as { host: string }).host}:${(proxy as { port: number }).port}` : null,
    request,
    method: finalMethod,
    postedPerRequest: body !== null ? request.length : 0,
  };
}

function emptyTarget() {
  return {
    secure: false,
    hostname: '',
    port: 0,
    target: '',
    connectHost: '',
    connectPort: 0,
    proxy: null,
    request: Buffer.alloc(0),
    method: 'GET',
    postedPerRequest: 0,
  };
}
