import type { KeepalivePool, PoolStats } from './keepalive-pool.js';

/** How long a retired pool's leased connections may stay out (a long proxied download) before they are closed. */
const RETIRE_GRACE_MS = 3_600_000;

/**
 * Every keepalive pool of the process, by kind (tcp, redis, http) and name, so that two kinds of
 * connection never share a pool even under the same name.
 */
export class PoolRegistry {
  private readonly pools = new Map<string, KeepalivePool<unknown>>();
  private readonly drainHooks: Array<() => Promise<void>> = [];

  /** Also run on drain: for connections kept outside pools (the shared Redis connections). */
  addDrainHook(hook: () => Promise<void>): void {
    this.drainHooks.push(hook);
  }

  /** The pool of that kind and name, created by `create` on first use. */
  get<R>(kind: string, name: string, create: () => KeepalivePool<R>): KeepalivePool<R> {
    const key = `${kind}\0${name}`;
    let pool = this.pools.get(key) as KeepalivePool<R> | undefined;
    if (pool === undefined) {
      pool = create();
      this.pools.set(key, pool as KeepalivePool<unknown>);
    }
    return pool;
  }

  /**
   * Forgets a pool no one will ask for again: its idle connections close now, leased ones when they
   * come back (or after `graceMs`); a later `get` of the same name makes a new pool.
   */
  retire(kind: string, name: string, graceMs = RETIRE_GRACE_MS): void {
    const key = `${kind}\0${name}`;
    const pool = this.pools.get(key);
    if (pool === undefined) return;
    this.pools.delete(key);
    void pool.drain(graceMs);
  }

  stats(): Array<PoolStats & { kind: string }> {
    return [...this.pools].map(([key, pool]) => ({ kind: key.slice(0, key.indexOf('\0')), ...pool.stats() }));
  }

  /** Drains and forgets every pool (shutdown, or between tests); see KeepalivePool.drain. */
  async drain(graceMs?: number): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all([...all.map((pool) => pool.drain(graceMs)), ...this.drainHooks.map((hook) => hook())]);
  }
}

/** The process's pools. */
export const pools = new PoolRegistry();
