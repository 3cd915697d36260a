import { accessSync, constants, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { ServerConfig, SettingName } from '../config/server-config.js';

/** One of the listeners `cosocket serve` opens, and the settings that place it. */
export interface ListenerSpec {
  /** "the app listener", for messages */
  readonly what: string;
  readonly host: string;
  readonly port: number;
  readonly hostPath: string;
  readonly portPath: string;
}

/** The listeners the config opens: the app always, the dyups admin interface and proxy when given a port. */
export function listenersOf(config: ServerConfig): ListenerSpec[] {
  const scheme = (tls: { cert: string | null }): string => (tls.cert === null ? 'http' : 'https');
  const listeners: ListenerSpec[] = [
    {
      what: `the app listener (${scheme(config.tls.app)})`,
      host: config.host,
      port: config.port,
      hostPath: 'host',
      portPath: 'port',
    },
  ];
  if (config.dyups.adminPort !== 0)
    listeners.push({
      what: `the dyups admin interface (${scheme(config.tls.admin)})`,
      host: config.dyups.adminHost,
      port: config.dyups.adminPort,
      hostPath: 'dyups.adminHost',
      portPath: 'dyups.adminPort',
    });
  if (config.dyups.proxyPort !== 0)
    listeners.push({
      what: `the dyups proxy (${scheme(config.tls.proxy)})`,
      host: config.dyups.proxyHost,
      port: config.dyups.proxyPort,
      hostPath: 'dyups.proxyHost',
      portPath: 'dyups.proxyPort',
    });
  return listeners;
}

/** Errors about the address rather than the port: the host setting is named for them. */
const HOST_ERRORS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved',
  EADDRNOTAVAIL: 'not an address of this machine',
};

/** A listen error as one line naming the setting to change (`--port`, `config file F: 'dyups.proxyPort'`). */
export function listenErrorText(listener: ListenerSpec, err: unknown, nameOf: SettingName): string {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  const setting = HOST_ERRORS.has(code) ? nameOf(listener.hostPath) : nameOf(listener.portPath);
  const reason = REASONS[code];
  return `${setting}: cannot listen on ${listener.host}:${listener.port} for ${listener.what}: ${code}${reason === undefined ? '' : ` (${reason})`}`;
}

/**
 * The listener a listen error of a running start came from (its port, else the only listener on its
 * address), as one line naming the setting; null for an error that is not a listen error.
 */
export function describeListenError(config: ServerConfig, err: unknown, nameOf: SettingName): string | null {
  const failure = err as NodeJS.ErrnoException & { port?: number; syscall?: string };
  if (failure.syscall !== 'listen' && failure.syscall !== 'getaddrinfo' && failure.syscall !== 'bind') return null;
  const listeners = listenersOf(config);
  const listener =
    listeners.find((l) => l.port !== 0 && l.port === failure.port) ??
    listeners.find((l) => failure.message.includes(l.host)) ??
    listeners[0]!;
  return listenErrorText(listener, err, nameOf);
}

/** Binds host:port and releases it: null if it could listen, else the error. */
function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolvePromise(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolvePromise(null)));
  });
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** The directory a state file is written in (saves replace it through a temp file beside it). */
function checkStateFile(file: string, name: string): string | null {
  const path = resolve(file);
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) return `${name}: '${file}': ${dir} is not a directory`;
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    return `${name}: '${file}': its directory ${dir} must exist and be writable (${errnoOf(err)})`;
  }
  try {
    if (statSync(path).isDirectory()) return `${name}: '${file}' is a directory, not a file`;
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') return `${name}: '${file}' must be readable and writable (${errnoOf(err)})`;
  }
  return null;
}

function checkDirectoryAccess(dir: string, mode: number, name: string, needs: string): string | null {
  try {
    accessSync(dir, mode);
    return null;
  } catch (err) {
    return `${name}: '${dir}' must be ${needs} (${errnoOf(err)})`;
  }
}

/**
 * What the settings name that the start needs and the schema cannot check alone: the state file's
 * directory writable, the send root readable, the temp path writable, each listener's address and port
 * free (bound and released at once). Each problem is one line naming the setting; none: [].
 */
export async function checkStartup(config: ServerConfig, nameOf: SettingName): Promise<string[]> {
  const problems: string[] = [];
  const add = (problem: string | null): void => {
    if (problem !== null) problems.push(problem);
  };
  if (config.dyups.stateFile !== null) add(checkStateFile(config.dyups.stateFile, nameOf('dyups.stateFile')));
  if (config.send.root !== null)
    add(checkDirectoryAccess(config.send.root, constants.R_OK | constants.X_OK, nameOf('send.root'), 'readable'));
  if (config.dyups.tempPath !== null && config.dyups.proxyPort !== 0)
    add(
      checkDirectoryAccess(
        config.dyups.tempPath,
        constants.W_OK | constants.X_OK,
        nameOf('dyups.tempPath'),
        'writable',
      ),
    );
  for (const listener of listenersOf(config)) {
    const err = await tryListen(listener.host, listener.port);
    if (err !== null) add(listenErrorText(listener, err, nameOf));
  }
  return problems;
}
