import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import { checkDirectory, checkHost, checkLocation, checkRedisUrl, checkSuffix } from './checks.js';
import { loadConfigFile } from './config-file.js';
import { checkEndpoint } from '../tracing/endpoint.js';
import { withEnvironmentEndpoint } from '../tracing/index.js';
import {
  buffers,
  choice,
  duration,
  int,
  moduleMap,
  onOff,
  optionalDuration,
  optionalText,
  processCount,
  ratio,
  size,
  text,
} from './fields.js';
import { listenerTlsSection, loadListenerTls } from './listener-tls.js';
import { Field, build, fieldsOf, readEnv, readFlags, readObject } from './schema.js';
import type { ConfigOf, Layer } from './schema.js';
import { COMBINED_FORMAT, checkLogFormat } from '../server/log-format.js';

export { redactUrl } from './checks.js';

export type TestMode = 'short' | 'keepalive' | 'shared';
export type MetricsExposure = 'admin' | 'app';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** dyups.sync: the server's own Redis (written `redis`), another Redis, or none (null). */
export type DyupsSync = 'server-redis' | { readonly url: string };

const dyupsSync = new Field<DyupsSync | null>(null, (input, what) => {
  if (input === null || input === '') return null;
  if (input === 'redis') return 'server-redis';
  if (typeof input !== 'string')
    throw new InvalidArgumentError(`${what} must be a string, got ${JSON.stringify(input)}`);
  return { url: checkRedisUrl(what, input) };
});

/**
 * Everything `cosocket serve` runs with: each value's default, how it is checked and converted, and the
 * flag or environment variable that may give it. Durations are in ms, sizes in bytes.
 */
export const SERVER_SCHEMA = {
  host: text('127.0.0.1', checkHost).from({
    flag: 'host',
    valueName: 'HOST',
    help: 'address to listen on (default 127.0.0.1)',
  }),
  port: int(8000, 0, 65535).from({
    flag: 'port',
    valueName: 'PORT',
    help: 'port to listen on (default 8000; 0 = any free port)',
  }),
  /** null: start a private redis-server */
  redis: optionalText(checkRedisUrl).from({
    flag: 'redis',
    valueName: 'URL',
    env: 'REDIS_URL',
    help: 'Redis to use (default: $REDIS_URL, else a private redis-server)',
  }),
  workers: processCount(1, 256, availableParallelism).from({
    flag: 'workers',
    valueName: 'N|auto',
    help: 'worker processes (default 1; auto = one per core)',
  }),
  logLevel: choice<LogLevel>('warn', LOG_LEVELS).from({
    flag: 'log-level',
    valueName: 'LEVEL',
    help: `one of ${LOG_LEVELS.join(', ')} (default warn)`,
  }),
  /** nginx's pid: the server (its primary process) writes its pid here; null: no pid file */
  pid: optionalText().from({
    flag: 'pid',
    valueName: 'FILE',
    help: "write the server's pid here, for cosocket reload/stop/quit/reopen (nginx's pid)",
  }),
  test: {
    mode: choice<TestMode>('keepalive', ['short', 'keepalive', 'shared']),
    poolSize: int(100, 1, 100_000),
    backlog: int(10_000, 0, 1_000_000),
    connectTimeout: duration(1_000),
    readTimeout: duration(5_000),
    maxValueSize: size(1024 * 1024),
  },
  scheduler: {
    concurrency: int(10_000, 1, 10_000_000),
    backlog: int(10_000, 0, 10_000_000),
    deadline: duration(60_000),
    queueTimeout: duration(0),
  },
  output: {
    bufferSize: size(16 * 1024),
    sendTimeout: duration(60_000),
    /** a streaming response (head sent) is cut after this long without progress; it replaces scheduler.deadline then (0: no hand-over) */
    idleTimeout: duration(60_000),
  },
  limits: {
    bodySize: size(1024 * 1024),
    headerSize: size(16 * 1024),
    /** the request head must arrive within it (nginx's client_header_timeout), else 408 */
    headerTimeout: duration(60_000),
    /** the whole request, body included (0: no limit) — on every listener but the dyups proxy, whose streamed bodies have dyups.readTimeout between pieces instead */
    requestTimeout: duration(120_000),
  },
  shutdown: { grace: duration(10_000) },
  /** Dynamic sendfile: files being written, streamed as they grow. */
  send: {
    location: text('/send/', checkLocation),
    /** null: dynamic sendfile is off */
    root: optionalText(checkDirectory).from({
      flag: 'send-root',
      valueName: 'DIR',
      help: 'serve growing files from DIR under /send/ (dynamic sendfile)',
    }),
    interval: duration(100),
    timeout: duration(10_000),
    suffix: text('.tmp', checkSuffix),
    maxDuration: duration(0),
    /** nginx's open_file_cache for finished files (max 0: off) */
    openFileCache: {
      max: int(1_000, 0, 1_000_000),
      /** a file not asked for in this long is dropped */
      inactive: duration(60_000),
      /** 0: one stat per request checks the name; above 0: served unchecked this long (its own watches drop changed files) */
      valid: duration(0),
    },
    /** finished files up to this size are kept in memory (larger ones by descriptor) */
    memoryCacheMax: size(64 * 1024),
    /** nginx's expires for finished files: Cache-Control max-age and Expires; off by default */
    expires: optionalDuration(),
    /** nginx's gzip_static: NAME.gz, if there, to clients that accept gzip */
    gzipStatic: onOff(false),
  },
  /** dyups: off while both ports are 0. */
  dyups: {
    adminHost: text('127.0.0.1', checkHost),
    adminPort: int(0, 0, 65535).from({
      flag: 'admin-port',
      valueName: 'PORT',
      help: 'dyups admin interface on 127.0.0.1:PORT',
    }),
    /** bearer token for the admin interface; null: none */
    token: optionalText(),
    allowRemote: onOff(false),
    /** a change meeting another in progress answers 409 (dyups_trylock) */
    trylock: onOff(false),
    proxyHost: text('127.0.0.1', checkHost),
    proxyPort: int(0, 0, 65535).from({
      flag: 'proxy-port',
      valueName: 'PORT',
      help: 'dyups proxy listener (Host names the upstream group)',
    }),
    /** null: changes live in memory only */
    stateFile: optionalText().from({
      flag: 'state-file',
      valueName: 'FILE',
      help: 'persist dyups upstreams here; loaded at start',
    }),
    /** a Redis all instances share to stay in step; null: this instance alone */
    sync: dyupsSync.from({
      flag: 'dyups-sync',
      valueName: 'URL',
      help: "keep dyups upstreams in step with other instances through this Redis ('redis': --redis)",
    }),
    connectTimeout: duration(1_000),
    /** proxy_read_timeout: between two reads from an upstream */
    readTimeout: duration(60_000),
    /** proxy_send_timeout: between two writes to an upstream */
    sendTimeout: duration(60_000),
    /** proxy_read_timeout for a WebSocket/Upgrade tunnel: closed after this long with no byte either way (0: never) */
    tunnelTimeout: duration(60_000),
    bodySize: size(1024 * 1024),
    /** nginx's proxy_buffering and its sizes, for the proxy's responses */
    buffering: onOff(true),
    bufferSize: size(8 * 1024, 1),
    buffers: buffers({ count: 8, size: 8 * 1024 }),
    busyBuffersSize: size(16 * 1024, 1),
    /** 0: no temp file (backpressure once the memory buffers are full) */
    maxTempFileSize: size(1024 * 1024 * 1024),
    tempFileWriteSize: size(16 * 1024, 1),
    /** null: the system temp directory */
    tempPath: optionalText(checkDirectory),
    /** coroutine balancers by name, each a module (relative to the config file) whose default export picks */
    balancers: moduleMap(),
  },
  /** nginx's access_log: a line per request in `format` (log_format variables); off while path is null. */
  accessLog: {
    /** a file appended to, or `stdout` */
    path: optionalText().from({
      flag: 'access-log',
      valueName: 'FILE|stdout',
      help: "log each request to FILE or stdout (nginx's access_log, combined format)",
    }),
    format: text(COMBINED_FORMAT, checkLogFormat),
    /** bytes held before a write (0: each line at once) */
    buffer: size(64 * 1024),
    /** the longest a held line waits */
    flush: duration(1_000),
  },
  metrics: {
    /** GET /metrics on the admin listener only, or also on the app listener (loopback clients only) */
    expose: choice<MetricsExposure>('admin', ['admin', 'app']).from({
      flag: 'metrics',
      valueName: 'admin|app',
      help: 'where GET /metrics answers besides the admin listener: app = on the app listener too (default admin)',
    }),
  },
  /** OpenTelemetry spans exported over OTLP/HTTP: off while no endpoint is named (OTEL_EXPORTER_OTLP_ENDPOINT names one too). */
  tracing: {
    endpoint: optionalText(checkEndpoint).from({
      env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      help: 'tracing.endpoint: the OTLP/HTTP traces URL (OTEL_EXPORTER_OTLP_ENDPOINT: its base)',
    }),
    serviceName: text('cosocket', checkServiceName).from({
      env: 'OTEL_SERVICE_NAME',
      help: 'tracing.serviceName (default cosocket)',
    }),
    sampleRatio: ratio(1),
  },
  /** TLS on cosocket's own listeners: a certificate and key each, more chosen by SNI; none: plain HTTP. */
  tls: {
    app: listenerTlsSection('', 'app listener'),
    proxy: listenerTlsSection('proxy-', 'dyups proxy'),
    admin: listenerTlsSection('admin-', 'dyups admin interface'),
  },
};

function checkServiceName(what: string, value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError(`${what} must not be empty`);
  return value;
}

/** Everything `cosocket serve` runs with, checked, converted and frozen. */
export type ServerConfig = ConfigOf<typeof SERVER_SCHEMA>;

export const DEFAULTS: ServerConfig = build(SERVER_SCHEMA, []);

export interface ConfigSources {
  /** --config FILE */
  readonly file?: string;
  /** flag name (without dashes) → its text */
  readonly flags?: ReadonlyMap<string, string>;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A setting's name as the user gave it, for errors: `--port`, `REDIS_URL`, `config file F: 'port'`. */
export type SettingName = (path: string) => string;

/** The checked settings and how each was given. */
export interface ResolvedConfig {
  readonly config: ServerConfig;
  readonly nameOf: SettingName;
}

/** The defaults, under the config file's settings, under the environment's, under the flags'. */
export async function resolveConfig(sources: ConfigSources): Promise<ServerConfig> {
  return (await resolveSettings(sources)).config;
}

/** Each setting named by its flag, else its key: for a process that did not read the sources (a worker). */
export function settingNames(): SettingName {
  const fields = new Map(fieldsOf(SERVER_SCHEMA).map(({ path, field }) => [path, field.sources]));
  return (path) => {
    const flag = fields.get(path)?.flag;
    return flag === undefined ? `'${path}'` : `--${flag}`;
  };
}

/** resolveConfig, and the name of each setting as given (a default is named by its flag, else its key). */
export async function resolveSettings(sources: ConfigSources): Promise<ResolvedConfig> {
  const fields = new Map(fieldsOf(SERVER_SCHEMA).map(({ path, field }) => [path, field.sources]));
  const named: Array<{ layer: Layer; name: SettingName }> = [];
  if (sources.file !== undefined) {
    const source = `config file ${sources.file}`;
    named.push({
      layer: readObject(SERVER_SCHEMA, await loadConfigFile(sources.file), source),
      name: (path) => `${source}: '${path}'`,
    });
  }
  if (sources.env !== undefined)
    named.push({ layer: readEnv(SERVER_SCHEMA, sources.env), name: (path) => fields.get(path)!.env! });
  if (sources.flags !== undefined)
    named.push({ layer: readFlags(SERVER_SCHEMA, sources.flags), name: (path) => `--${fields.get(path)!.flag!}` });
  const config = withBalancerPaths(
    build(
      SERVER_SCHEMA,
      named.map(({ layer }) => layer),
    ),
    sources.file,
  );
  const nameOf: SettingName = (path) => {
    const given = named.findLast(({ layer }) => layer.has(path));
    if (given !== undefined) return given.name(path);
    const flag = fields.get(path)?.flag;
    return flag === undefined ? `'${path}'` : `--${flag}`;
  };
  // each listener's certificates are read and checked now, so a bad one stops the start before any listens
  for (const listener of ['app', 'proxy', 'admin'] as const) loadListenerTls(config.tls[listener], `tls.${listener}`);
  const tracing = sources.env === undefined ? config.tracing : withEnvironmentEndpoint(config.tracing, sources.env);
  const resolved = tracing === config.tracing ? config : Object.freeze({ ...config, tracing: Object.freeze(tracing) });
  checkTogether(resolved, nameOf);
  return { config: resolved, nameOf };
}

/** dyups.balancers' module paths made absolute: relative ones are the config file's (else the directory's we run in). */
function withBalancerPaths(config: ServerConfig, file: string | undefined): ServerConfig {
  const modules = Object.entries(config.dyups.balancers);
  if (modules.length === 0) return config;
  const base = file === undefined ? process.cwd() : dirname(resolve(file));
  const balancers = Object.freeze(Object.fromEntries(modules.map(([name, path]) => [name, resolve(base, path)])));
  return Object.freeze({ ...config, dyups: Object.freeze({ ...config.dyups, balancers }) });
}

const ANY_ADDRESS = new Set(['0.0.0.0', '::', '']);

/** Settings that are fine alone but not with each other. */
function checkTogether(config: ServerConfig, nameOf: SettingName): void {
  const dyups = config.dyups;
  if (dyups.stateFile !== null && dyups.adminPort === 0 && dyups.proxyPort === 0)
    throw new InvalidArgumentError(
      `${nameOf('dyups.stateFile')} needs a dyups listener: set ${nameOf('dyups.adminPort')} or ${nameOf('dyups.proxyPort')} too`,
    );
  const listeners = [
    { host: config.host, port: config.port, path: 'port' },
    { host: dyups.adminHost, port: dyups.adminPort, path: 'dyups.adminPort' },
    { host: dyups.proxyHost, port: dyups.proxyPort, path: 'dyups.proxyPort' },
  ];
  for (const [i, a] of listeners.entries()) {
    for (const b of listeners.slice(i + 1)) {
      const sameAddress = a.host === b.host || ANY_ADDRESS.has(a.host) || ANY_ADDRESS.has(b.host);
      if (a.port !== 0 && a.port === b.port && sameAddress)
        throw new InvalidArgumentError(
          `${nameOf(a.path)} and ${nameOf(b.path)} are both ${a.port}: each listener needs a port of its own`,
        );
    }
  }
}
