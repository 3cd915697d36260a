import { readdirSync } from 'node:fs';

/** `npm run test:faults` sets FAULTS_FULL=1: the full-size cases; `npm test` runs the same cases smaller. */
export const FULL = process.env.FAULTS_FULL === '1';

/** The fast size in `npm test`, the full one in `npm run test:faults`. */
export function scale(fast: number, full: number): number {
  return FULL ? full : fast;
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
export async function settle<T>(read: () => Promise<T> | T, check: (value: T) => boolean, ms: number): Promise<{ ok: boolean; value: T }> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (check(value)) return { ok: true, value };
    if (Date.now() > end) return { ok: false, value };
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One GET with a time limit: its status (0 when it failed at the socket) and how long it took. */
export async function timedGet(url: string, headers: Record<string, string> = {}, limitMs = 10_000): Promise<{ status: number; ms: number; text: string }> {
  const started = performance.now();
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(limitMs) });
    const text = await res.text();
    return { status: res.status, ms: performance.now() - started, text };
  } catch {
    return { status: 0, ms: performance.now() - started, text: '' };
  }
}
