import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors.js';
import { checkConfig } from './schema.js';
import type { ConfigData, Schema } from './schema.js';
import { parseSize } from './units.js';

export type TestMode = 'short' | 'keepalive' | 'shared';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Everything `cosocket serve` runs with, after the config file and the flags are merged. */
export interface ServerConfig {
  host: string;
  port: number;
  /** null: start a private redis-server */
  redis: string | null;
  workers: number;
  logLevel: LogLevel;
  test: {
    mode: TestMode;
    poolSize: number;
    backlog: number;
    connectTimeout: number;
    readTimeout: number;
    maxValueSize: number;
  };
  scheduler: { concurrency: number; backlog: number; deadline: number; queueTimeout: number };
  /** idleTimeout: a streaming response (head sent) is cut after this long without progress; it replaces scheduler.deadline then (0: no hand-over) */
  output: { bufferSize: number; sendTimeout: number; idleTimeout: number };
  /**
   * headerTimeout: the request head must arrive within it (nginx's client_header_timeout), else 408;
   * requestTimeout: the whole request, body included (0: no limit) — on every listener but the dyups
   * proxy, whose streamed bodies have dyups.readTimeout between pieces instead
   */
  limits: { bodySize: number; headerSize: number; headerTimeout: number; requestTimeout: number };
  shutdown: { grace: number };
  /** Dynamic sendfile: files being written, streamed as they grow. Off while `root` is empty. */
  send: { location: string; root: string; interval: number; timeout: number; suffix: string; maxDuration: number };
  /** dyups: off while both ports are 0. */
  dyups: {
    adminHost: string;
    adminPort: number;
    /** bearer token for the admin interface; empty: none */
    token: string;
    allowRemote: string;
    /** `yes`: a change meeting another in progress answers 409 (dyups_trylock) */
    trylock: string;
    proxyHost: string;
    proxyPort: number;
    /** empty: changes live in memory only */
    stateFile: string;
    /** redis:// URL all instances share to stay in step; `redis`: the server's own --redis; empty: this instance alone */
    sync: string;
    connectTimeout: number;
    /** proxy_read_timeout: between two reads from an upstream */
    readTimeout: number;
    /** proxy_send_timeout: between two writes to an upstream */
    sendTimeout: number;
    bodySize: number;
    /** nginx's proxy_buffering (on/off) and its sizes, for the proxy's responses */
    buffering: string;
    bufferSize: number;
    /** proxy_buffers: "count size", e.g. "8 8k" */
    buffers: string;
    busyBuffersSize: number;
    /** 0: no temp file (backpressure once the memory buffers are full) */
    maxTempFileSize: number;
    tempFileWriteSize: number;
    /** empty: the system temp directory */
    tempPath: string;
  };
}

export const DEFAULTS: ServerConfig = {
  host: '127.0.0.1',
  port: 8000,
  redis: null,
  workers: 1,
  logLevel: 'warn',
  test: {
    mode: 'keepalive',
    poolSize: 100,
    backlog: 10_000,
    connectTimeout: 1_000,
    readTimeout: 5_000,
    maxValueSize: 1024 * 1024,
  },
  scheduler: { concurrency: 10_000, backlog: 10_000, deadline: 60_000, queueTimeout: 0 },
  output: { bufferSize: 16 * 1024, sendTimeout: 60_000, idleTimeout: 60_000 },
  limits: { bodySize: 1024 * 1024, headerSize: 16 * 1024, headerTimeout: 60_000, requestTimeout: 120_000 },
  shutdown: { grace: 10_000 },
  send: { location: '/send/', root: '', interval: 100, timeout: 10_000, suffix: '.tmp', maxDuration: 0 },
  dyups: {
    adminHost: '127.0.0.1',
    adminPort: 0,
    token: '',
    allowRemote: 'no',
    trylock: 'no',
    proxyHost: '127.0.0.1',
    proxyPort: 0,
    stateFile: '',
    sync: '',
    connectTimeout: 1_000,
    readTimeout: 60_000,
    sendTimeout: 60_000,
    bodySize: 1024 * 1024,
    buffering: 'on',
    bufferSize: 8 * 1024,
    buffers: '8 8k',
    busyBuffersSize: 16 * 1024,
    maxTempFileSize: 1024 * 1024 * 1024,
    tempFileWriteSize: 16 * 1024,
    tempPath: '',
  },
};

function checkHost(what: string, value: string): string {
  if (value.trim() === '' || /[\s/]/.test(value))
    throw new InvalidArgumentError(`${what} must be a host name or IP address, got '${value}'`);
  return value;
}

/** The URL with any password replaced, for logs and /status. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}

export function checkRedisUrl(what: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`${what} must be a URL like redis://127.0.0.1:6379, got '${value}'`);
  }
  if (!['redis:', 'rediss:', 'unix:'].includes(url.protocol)) {
    throw new InvalidArgumentError(`${what} must use redis://, rediss:// or unix://, got '${url.protocol}//'`);
  }
  if (url.protocol !== 'unix:' && url.hostname === '')
    throw new InvalidArgumentError(`${what} has no host: '${value}'`);
  return value;
}

function checkLocation(what: string, value: string): string {
  if (!/^\/([A-Za-z0-9._~-]+\/)*$/.test(value))
    throw new InvalidArgumentError(
      `${what} must be a path that starts and ends with '/', like '/send/', got '${value}'`,
    );
  return value;
}

function checkDirectory(what: string, value: string): string {
  let info;
  try {
    info = statSync(value);
  } catch {
    throw new InvalidArgumentError(`${what} must be an existing directory, got '${value}' (not found)`);
  }
  if (!info.isDirectory())
    throw new InvalidArgumentError(`${what} must be a directory, got '${value}' (not a directory)`);
  return resolve(value);
}

function checkBuffers(what: string, value: string): string {
  const match = /^\s*(\d+)\s+(\d+[kmg]?)\s*$/i.exec(value);
  if (match === null || Number(match[1]) < 1 || (parseSize(match[2]!) ?? 0) < 1) {
    throw new InvalidArgumentError(
      `${what} must be a count and a size like "8 8k" (nginx's proxy_buffers), got '${value}'`,
    );
  }
  return `${Number(match[1])} ${match[2]!.toLowerCase()}`;
}

/** proxy_buffers "count size" (checked by checkBuffers) as numbers. */
export function parseBuffers(value: string): { count: number; size: number } {
  const [count, size] = value.trim().split(/\s+/) as [string, string];
  return { count: Number(count), size: parseSize(size)! };
}

function checkSuffix(what: string, value: string): string {
  if (!/^\.[A-Za-z0-9._-]+$/.test(value))
    throw new InvalidArgumentError(`${what} must look like '.tmp', got '${value}'`);
  return value;
}

function checkWorkers(what: string, value: string): string {
  if (value === 'auto' || (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 256)) return value;
  throw new InvalidArgumentError(`${what} must be 'auto' or a whole number from 1 to 256, got '${value}'`);
}

/** The keys a config file may have; flags are checked against the same rules. */
export const SCHEMA: Schema = {
  host: { kind: 'string', check: checkHost },
  port: { kind: 'int', min: 0, max: 65535 },
  redis: { kind: 'string', check: checkRedisUrl },
  workers: { kind: 'string', check: checkWorkers },
  logLevel: { kind: 'choice', choices: LOG_LEVELS },
  test: {
    kind: 'section',
    fields: {
      mode: { kind: 'choice', choices: ['short', 'keepalive', 'shared'] },
      poolSize: { kind: 'int', min: 1, max: 100_000 },
      backlog: { kind: 'int', min: 0, max: 1_000_000 },
      connectTimeout: { kind: 'duration' },
      readTimeout: { kind: 'duration' },
      maxValueSize: { kind: 'size' },
    },
  },
  scheduler: {
    kind: 'section',
    fields: {
      concurrency: { kind: 'int', min: 1, max: 10_000_000 },
      backlog: { kind: 'int', min: 0, max: 10_000_000 },
      deadline: { kind: 'duration' },
      queueTimeout: { kind: 'duration' },
    },
  },
  output: {
    kind: 'section',
    fields: { bufferSize: { kind: 'size' }, sendTimeout: { kind: 'duration' }, idleTimeout: { kind: 'duration' } },
  },
  limits: {
    kind: 'section',
    fields: {
      bodySize: { kind: 'size' },
      headerSize: { kind: 'size' },
      headerTimeout: { kind: 'duration' },
      requestTimeout: { kind: 'duration' },
    },
  },
  shutdown: { kind: 'section', fields: { grace: { kind: 'duration' } } },
  send: {
    kind: 'section',
    fields: {
      location: { kind: 'string', check: checkLocation },
      root: { kind: 'string', check: checkDirectory },
      interval: { kind: 'duration' },
      timeout: { kind: 'duration' },
      suffix: { kind: 'string', check: checkSuffix },
      maxDuration: { kind: 'duration' },
    },
  },
  dyups: {
    kind: 'section',
    fields: {
      adminHost: { kind: 'string', check: checkHost },
      adminPort: { kind: 'int', min: 0, max: 65535 },
      token: { kind: 'string' },
      allowRemote: { kind: 'choice', choices: ['yes', 'no'] },
      trylock: { kind: 'choice', choices: ['yes', 'no'] },
      proxyHost: { kind: 'string', check: checkHost },
      proxyPort: { kind: 'int', min: 0, max: 65535 },
      stateFile: { kind: 'string' },
      sync: {
        kind: 'string',
        check: (what, value) => (value === '' || value === 'redis' ? value : checkRedisUrl(what, value)),
      },
      connectTimeout: { kind: 'duration' },
      readTimeout: { kind: 'duration' },
      sendTimeout: { kind: 'duration' },
      bodySize: { kind: 'size' },
      buffering: { kind: 'choice', choices: ['on', 'off'] },
      bufferSize: { kind: 'size', min: 1 },
      buffers: { kind: 'string', check: checkBuffers },
      busyBuffersSize: { kind: 'size', min: 1 },
      maxTempFileSize: { kind: 'size' },
      tempFileWriteSize: { kind: 'size', min: 1 },
      tempPath: { kind: 'string', check: (what, value) => (value === '' ? value : checkDirectory(what, value)) },
    },
  },
};

/** Reads a config file: JSON, or a .js/.mjs/.ts module whose default export is the object. */
export async function loadConfigFile(file: string): Promise<unknown> {
  const path = resolve(file);
  const ext = extname(path).toLowerCase();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(
      `config file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  if (ext === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new InvalidArgumentError(`config file ${file}: not valid JSON (${(err as Error).message})`);
    }
  }
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs') {
    const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
    return module.default;
  }
  if (ext === '.ts' || ext === '.mts') {
    let ts: typeof import('typescript');
    try {
      ts = (await import('typescript')).default;
    } catch {
      throw new InvalidArgumentError(
        `config file ${file}: a .ts config needs the typescript package (npm install typescript), or use .json or .js`,
      );
    }
    const js = ts.transpileModule(text, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const module = (await import(`data:text/javascript;base64,${Buffer.from(js).toString('base64')}`)) as {
      default?: unknown;
    };
    return module.default;
  }
  throw new InvalidArgumentError(
    `config file ${file}: unsupported type '${ext || '(none)'}' (use .json, .js, .mjs or .ts)`,
  );
}

function merge(base: ServerConfig, data: ConfigData): ServerConfig {
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(data)) {
    if (typeof value === 'object') out[key] = { ...(out[key] as object), ...value };
    else out[key] = value;
  }
  if (typeof out.workers === 'string')
    out.workers = out.workers === 'auto' ? availableParallelism() : Number(out.workers);
  return out as unknown as ServerConfig;
}

/** The file's settings over the defaults, then the flags' over both. */
export async function resolveConfig(file: string | undefined, flags: Record<string, unknown>): Promise<ServerConfig> {
  let config = DEFAULTS;
  if (file !== undefined)
    config = merge(config, checkConfig(`config file ${file}`, await loadConfigFile(file), SCHEMA));
  const flagNames: Record<string, string> = {
    'send.root': '--send-root',
    'dyups.adminPort': '--admin-port',
    'dyups.proxyPort': '--proxy-port',
    'dyups.stateFile': '--state-file',
    'dyups.sync': '--dyups-sync',
  };
  const flagName = (name: string): string =>
    flagNames[name] ?? `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return merge(config, checkConfig('flags', flags, SCHEMA, '', flagName));
}
