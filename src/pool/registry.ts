import type { KeepalivePool, PoolStats } from './keepalive-pool.js';

/** How long a retired pool's leased connections may stay out (a long proxied download) before they are closed. */
const RETIRE_GRACE_MS = 3_600_000;

/**
 * Every keepalive pool of the process, by kind (tcp, redis, http) and name, so that two kinds of
 * connection never share a pool even under the same name.
 */
export class PoolRegistry {
  /** By kind, then by name: a lookup builds no key string. */
  private readonly pools = new Map<string, Map<string, KeepalivePool<unknown>>>();
  private readonly drainHooks: Array<() => Promise<void>> = [];

  /** Also run on drain: for connections kept outside pools (the shared Redis connections). */
  addDrainHook(hook: () => Promise<void>): void {
    this.drainHooks.push(hook);
  }

  /** The pool of that kind and name, created by `create` on first use. */
  get<R>(kind: string, name: string, create: () => KeepalivePool<R>): KeepalivePool<R> {
    let named = this.pools.get(kind);
    if (named === undefined) this.pools.set(kind, (named = new Map<string, KeepalivePool<unknown>>()));
    let pool = named.get(name) as KeepalivePool<R> | undefined;
    if (pool === undefined) {
      pool = create();
      named.set(name, pool as KeepalivePool<unknown>);
    }
    return pool;
  }

  /**
   * Forgets a pool no one will ask for again: its idle connections close now, leased ones when they
   * come back (or after `graceMs`); a later `get` of the same name makes a new pool.
   */
  retire(kind: string, name: string, graceMs = RETIRE_GRACE_MS): void {
    const named = this.pools.get(kind);
    const pool = named?.get(name);
    if (pool === undefined) return;
    named!.delete(name);
    void pool.drain(graceMs);
  }

  /** Retires the pool `name` and those beside it named `name|...` (its TLS pools, one per set of TLS settings). */
  retireFamily(kind: string, name: string, graceMs = RETIRE_GRACE_MS): void {
    const named = this.pools.get(kind);
    if (named === undefined) return;
    const prefix = `${name}|`;
    for (const key of [...named.keys()]) if (key === name || key.startsWith(prefix)) this.retire(kind, key, graceMs);
  }

  stats(): Array<PoolStats & { kind: string }> {
    const out: Array<PoolStats & { kind: string }> = [];
    for (const [kind, named] of this.pools) for (const pool of named.values()) out.push({ kind, ...pool.stats() });
    return out;
  }

  /** Drains and forgets every pool (shutdown, or between tests); see KeepalivePool.drain. */
  async drain(graceMs?: number): Promise<void> {
    const all = [...this.pools.values()].flatMap((named) => [...named.values()]);
    this.pools.clear();
    await Promise.all([...all.map((pool) => pool.drain(graceMs)), ...this.drainHooks.map((hook) => hook())]);
  }
}

/** The process's pools. */
export const pools = new PoolRegistry();
