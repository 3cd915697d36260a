import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { EmbeddedRedisError, RedisServerNotFoundError } from '../errors/index.js';

export { EmbeddedRedisError, RedisServerNotFoundError } from '../errors/index.js';

export interface EmbeddedRedis {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly version: string;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and removes its directory. */
  stop(): Promise<void>;
  /** Kills it right now, synchronously (for process 'exit' handlers). */
  kill(): void;
}

export interface EmbeddedRedisOptions {
  /** The binary; default: `redis-server` found on PATH. */
  binary?: string;
  /** How long to wait for it to answer. Default 10 s. */
  readyTimeoutMs?: number;
  /** A fixed port (to restart a server where it was); default: a free one. */
  port?: number;
  /** The text of a config file, written into the server's own directory and loaded first (sentinels need one they can rewrite). */
  config?: string;
  /** More command-line options, given the port chosen (e.g. a cluster bus port, '--sentinel'). */
  extraArgs?: (port: number) => Promise<readonly string[]> | readonly string[];
}

/** The absolute path of an executable on PATH, or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** `cosocket-redis-PID-XXXXXX`: the directory of a redis-server started by process PID. */
const DIR_PREFIX = 'cosocket-redis-';
const OWNED_DIR = /^cosocket-redis-(\d+)-[A-Za-z0-9]{6}$/;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * Removes the directories that embedded redis-servers of processes now dead left in `parent` (a kill -9
 * gives no chance to remove one); answers their names.
 */
export function removeStaleRedisDirs(parent = tmpdir()): string[] {
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const pid = OWNED_DIR.exec(entry)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    try {
      rmSync(join(parent, entry), { recursive: true, force: true });
      removed.push(entry);
    } catch {
      // not ours to remove (another user's): leave it
    }
  }
  return removed;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new EmbeddedRedisError('no free port: the listener had no address')),
      );
    });
  });
}

/** Resolves with the server's version once it answers INFO server, or rejects. */
function waitReady(port: number, child: ChildProcess, timeoutMs: number, log: () => string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let settled = false;
    const onExit = (code: number | null): void => {
      if (settled) return;
      settled = true;
      reject(
        new EmbeddedRedisError(
          `redis-server exited with code ${String(code)} before it was ready: ${log().trim().slice(-500)}`,
        ),
      );
    };
    child.once('exit', onExit);
    const attempt = (): void => {
      if (settled) return;
      const socket = createConnection({ host: '127.0.0.1', port });
      let reply = '';
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write('INFO server\r\n'));
      socket.on('data', (chunk: string) => {
        reply += chunk;
        const match = /redis_version:([^\r\n]+)/.exec(reply);
        if (match && !settled) {
          settled = true;
          child.off('exit', onExit);
          socket.destroy();
          resolve(match[1]!);
        }
      });
      socket.on('error', () => {
        socket.destroy();
        if (settled) return;
        if (Date.now() > deadline) {
          settled = true;
          child.off('exit', onExit);
          reject(new EmbeddedRedisError(`redis-server did not answer on 127.0.0.1:${port} within ${timeoutMs} ms`));
          return;
        }
        setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

// Runs redis-server and takes it down when the parent process is gone, even after a kill -9 of the parent.
const WATCHDOG = `
"$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM INT
while kill -0 $PARENT_PID 2>/dev/null && kill -0 $child 2>/dev/null; do
  sleep 1 & wait $!
done
kill -TERM $child 2>/dev/null
wait $child
`;

/**
 * Starts a private redis-server on a free loopback port with no persistence: for `npm start`
 * without --redis, and for every test run (which must never depend on a Redis started elsewhere).
 */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions = {}): Promise<EmbeddedRedis> {
  const binary = options.binary ?? findOnPath('redis-server');
  if (binary === null) throw new RedisServerNotFoundError();
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  removeStaleRedisDirs();
  let lastError: unknown;
  const attempts = options.port === undefined ? 5 : 1;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    const extraArgs = options.extraArgs === undefined ? [] : await options.extraArgs(port);
    const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    const configArgs: string[] = [];
    if (options.config !== undefined) {
      const file = join(dir, 'redis.conf');
      writeFileSync(file, options.config);
      configArgs.push(file);
    }
    const args = [
      binary,
      ...configArgs,
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
      '--logfile',
      '',
      '--loglevel',
      'warning',
      ...extraArgs,
    ];
    const child = spawn('/bin/sh', ['-c', WATCHDOG, 'cosocket-redis-watchdog', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PARENT_PID: String(process.pid) },
      detached: true, // its own process group, so a kill reaches redis-server too
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      if (output.length < 4096) output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    try {
      const version = await waitReady(port, child, readyTimeoutMs, () => output);
      child.stdout.off('data', collect);
      child.stderr.off('data', collect);
      child.stdout.resume();
      child.stderr.resume();
      return handle(child, port, version, dir);
    } catch (err) {
      lastError = err;
      killGroup(child);
      rmSync(dir, { recursive: true, force: true });
      if (/Address already in use/i.test(output)) continue; // lost the port to someone else: try another
      throw err;
    }
  }
  throw lastError;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

function handle(child: ChildProcess, port: number, version: string, dir: string): EmbeddedRedis {
  let stopped: Promise<void> | null = null;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const killNow = (): void => {
    if (child.exitCode === null && child.signalCode === null) killGroup(child);
  };
  process.once('exit', killNow);
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    version,
    kill: killNow,
    stop(): Promise<void> {
      if (stopped !== null) return stopped;
      stopped = (async () => {
        child.kill('SIGTERM');
        const grace = setTimeout(killNow, 3_000);
        await exited;
        clearTimeout(grace);
        process.off('exit', killNow);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
