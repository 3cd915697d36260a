import { readFileSync, readdirSync } from 'node:fs';
import { after } from 'node:test';

/** `npm run test:faults` sets FAULTS_FULL=1: the full-size cases; `npm test` runs the same cases smaller. */
export const FULL = process.env.FAULTS_FULL === '1';

/** The fast size in `npm test`, the full one in `npm run test:faults`. */
export function scale(fast: number, full: number): number {
  return FULL ? full : fast;
}

/**
 * The process that serves requests: `cosocket serve`'s worker under its primary (the first one when there
 * are more), or `pid` itself when it has no worker, from /proc.
 */
export function servingPid(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  for (const child of children) {
    try {
      if (readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('bin/cosocket.js')) return Number(child);
    } catch {
      // gone since the listing
    }
  }
  return pid;
}

/** Open file descriptors of a process (sockets and files), from /proc. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export interface ServerStatus {
  scheduler: { live: number; liveRoots: number; queued: number; rejected: number };
  pools: Array<{ kind: string; name: string; open: number; idle: number; inUse: number; waiting: number }>;
}

/** GET /status of a cosocket server. */
export async function status(port: number): Promise<ServerStatus> {
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as ServerStatus;
}

/** Polls until `check` holds; returns the last value it saw (so a failed wait can say what it saw). */
export async function settle<T>(
  read: () => Promise<T> | T,
  check: (value: T) => boolean,
  ms: number,
): Promise<{ ok: boolean; value: T }> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (check(value)) return { ok: true, value };
    if (Date.now() > end) return { ok: false, value };
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One GET with a time limit: its status (0 when it failed at the socket) and how long it took. */
export async function timedGet(
  url: string,
  headers: Record<string, string> = {},
  limitMs = 10_000,
): Promise<{ status: number; ms: number; text: string }> {
  const started = performance.now();
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(limitMs) });
    const text = await res.text();
    return { status: res.status, ms: performance.now() - started, text };
  } catch {
    return { status: 0, ms: performance.now() - started, text: '' };
  }
}

/**
 * Gives a faults file a wall-time budget: when the file is done it prints how long it took against the
 * budget, and a warning when it ran over. Never a failure (a loaded machine runs long); the lines add up to
 * the summary that keeps the suite inside CI's 10 minutes on 2 cores.
 */
export function timeBudget(file: string, budgetMs: { fast: number; full: number }): void {
  const started = performance.now();
  const budget = scale(budgetMs.fast, budgetMs.full);
  after(() => {
    const took = performance.now() - started;
    const line = `time budget: ${file} took ${(took / 1_000).toFixed(1)} s of its ${(budget / 1_000).toFixed(0)} s`;
    if (took > budget)
      console.warn(`${line}: OVER BUDGET (once on a busy machine is noise; every run means the file must shrink)`);
    else console.log(line);
  });
}

/**
 * Waits until the dyups admin on `adminPort` answers `/detail`: its listeners start just after the
 * "listening" line startServer waits for. `boundMs` only bounds a failure; the message carries the server's output.
 */
export async function waitForAdmin(adminPort: number, output: () => string, boundMs = 30_000): Promise<void> {
  const up = await settle(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${adminPort}/detail`)).status;
      } catch {
        return 0;
      }
    },
    (s) => s === 200 || s === 204,
    boundMs,
  );
  if (!up.ok) throw new Error(`the admin port never answered:\n${output()}`);
}
