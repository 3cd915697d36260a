/**
 * `cosocket serve` of the tree under test with its dyups admin and proxy listeners, one group pointing at
 * an upstream: the dyups proxy as a user runs it (bench/dyups, bench/stream). Its own private redis-server
 * is a child process; the proxy's CPU is the node process's alone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, stopProc } from './processes.js';
import type { Proc } from './processes.js';
import { subjectBin } from './subject.js';

/** The group the proxy serves: requests carry `Host: app.local`. */
export const DYUPS_GROUP = 'app.local';

export interface DyupsServerOptions {
  /** processes: 1 serves in the process started (the proxy is its pid) */
  workers?: number;
  /** the group's upstream block after its server line, e.g. `keepalive 64;` */
  groupExtra?: string;
  /** `dyups` settings written to a config file (`--config`): `{ buffering: false }` */
  dyups?: Readonly<Record<string, unknown>>;
  /** node's own flags, before the script (`--cpu-prof`, `--perf-basic-prof`) */
  nodeArgs?: readonly string[];
}

export async function postUpstream(adminPort: number, name: string, body: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}`, { method: 'POST', body });
  const text = await res.text();
  if (text !== 'success') throw new Error(`POST /upstream/${name}: ${res.status} ${text}`);
}

/** cosocket serve, the group `app.local` set to `server 127.0.0.1:upstreamPort; groupExtra`; `port` is the proxy listener. */
export async function startDyupsServer(
  upstreamPort: number,
  options: DyupsServerOptions = {},
): Promise<Proc & { adminPort: number }> {
  const [adminPort, proxyPort] = [await freePort(), await freePort()];
  const args = [
    ...(options.nodeArgs ?? []),
    subjectBin,
    'serve',
    '--port',
    '0',
    '--admin-port',
    String(adminPort),
    '--proxy-port',
    String(proxyPort),
    '--workers',
    String(options.workers ?? 1),
    '--log-level',
    'error',
  ];
  let dir: string | null = null;
  if (options.dyups !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'cosocket-bench-config-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ dyups: options.dyups }));
    args.push('--config', join(dir, 'config.json'));
  }
  const cleanup = (): void => {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  };
  let proc: Proc;
  try {
    proc = await startProcess(process.execPath, args, /upstream group\(s\)/);
  } catch (err) {
    cleanup();
    throw err;
  }
  const server = { ...proc, port: proxyPort, adminPort, cleanup };
  try {
    await postUpstream(adminPort, DYUPS_GROUP, `server 127.0.0.1:${upstreamPort}; ${options.groupExtra ?? ''}`);
  } catch (err) {
    await stopProc(server);
    throw err;
  }
  return server;
}
