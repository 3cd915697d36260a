// Over 300 lines: one class whose parts (backlog, back-off, idle stack, stats) share its counters.
import genericPool from 'generic-pool';
import type { Pool } from 'generic-pool';
import {
  ConnectBackoffError,
  InvalidArgumentError,
  PoolBacklogFullError,
  SocketClosedError,
  SocketError,
  SocketIOError,
  SocketTimeoutError,
} from '../errors/index.js';
import { IdleStack } from './idle-stack.js';
import { Lease } from './lease.js';

export { Lease } from './lease.js';

/** How a pool opens, closes and checks one kind of connection. */
export interface PoolHooks<R> {
  /** Opens a connection; rejects with the connect error. */
  create(): Promise<R>;
  /** Closes it (never throws). */
  destroy(connection: R): void;
  /** Usable right now: not closed by the peer, nothing unread arrived while idle. */
  isAlive(connection: R): boolean;
}

/** A keepalive pool's settings: name, size, backlog, idle timeout, connect backoff. */
export interface PoolOptions {
  /** Pools are keyed by name: anything that changes connection state (db, auth) belongs in it. */
  name: string;
  /** Most connections open at once, in use or idle. Default 30 (OpenResty's lua_socket_pool_size). */
  size?: number;
  /** Connects that may wait for a free connection beyond `size`; past it: "too many waiting connect operations". Default: no limit. */
  backlog?: number;
  /** Longest wait for a connection, including opening it (the connect timeout). Default 60 s. */
  acquireTimeout?: number;
  /** Idle connections are closed after this long. Default 60 s. */
  idleTimeout?: number;
  /** Longest window in which connects fail fast after consecutive connect failures. Default 1 s. */
  maxBackoff?: number;
}

/** A keepalive pool's counts, as `pools.stats()` and GET /status show them. */
export interface PoolStats {
  name: string;
  size: number;
  backlog: number | null;
  /** open = idle + inUse */
  open: number;
  idle: number;
  inUse: number;
  waiting: number;
  /** Connections opened. */
  created: number;
  /** Acquisitions served by an already-used connection. */
  reused: number;
  /** Idle connections closed by the idle timeout. */
  evicted: number;
  /** Idle connections found closed by the peer (or dirty) at borrow time, discarded, never handed out. */
  discarded: number;
  /** Connect attempts that failed. */
  connectFailures: number;
  /** Connects refused at once during the back-off after failures. */
  backoffRejections: number;
}

const FIRST_BACKOFF_MS = 5;

function positiveInt(name: string, value: number | undefined, fallback: number, allowInfinity = false): number {
  if (value === undefined) return fallback;
  if (allowInfinity && value === Infinity) return Infinity;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`pool option '${name}' must be a whole number >= 1, got ${String(value)}`);
  }
  return value;
}

function nonNegativeInt(name: string, value: number | undefined): number | undefined {
  if (value === undefined || value === Infinity) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidArgumentError(`pool option '${name}' must be a whole number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * An OpenResty-style keepalive connection pool on generic-pool: most-recently-used first, bounded
 * size and backlog, idle timeout, reuse counts.
 *
 * generic-pool decides creation, the size limit, the wait queue with its timeout, and draining. In
 * front of it sits a stack of idle connections (most recent on top) that generic-pool counts as lent
 * out: taking one back is synchronous, with none of the promises generic-pool spends on every acquire
 * and release. A connection released while someone waits inside generic-pool goes to that waiter.
The idle stack is the only place a connection idles, so it alone expires them (generic-pool's evictor
is off): each after its own idle time, in the runtime's deadline lanes.
 *
 * Two generic-pool behaviours are kept out: a `create` that rejects makes generic-pool retry at once in
 * a loop until the acquire times out, so here a failed connect is handed to the waiter as a failed
 * lease (it gets the error at once) and consecutive failures open a short, growing window in which
 * connects fail fast; and idle connections closed by the peer are discarded at borrow time instead of
 * being handed out.
 */
export class KeepalivePool<R> {
  readonly name: string;
  readonly size: number;
  readonly backlog: number | undefined;
  readonly acquireTimeout: number;
  readonly idleTimeout: number;
  private readonly maxBackoff: number;
  private readonly hooks: PoolHooks<R>;
  private readonly pool: Pool<Lease<R>>;
  private created = 0;
  private reused = 0;
  private evicted = 0;
  private discarded = 0;
  private connectFailures = 0;
  private backoffRejections = 0;
  private consecutiveFailures = 0;
  private lastFailureAt = 0;
  private retryAt = 0;
  private lastError: SocketError | null = null;
  private draining = false;
  /** acquire() calls not yet answered */
  private inFlight = 0;
  /** connections adopted (see adopt), each waiting for generic-pool's create() to count it */
  private readonly adoptees: Array<Lease<R>> = [];
  /** leases handed out and not yet back */
  private readonly leased = new Set<Lease<R>>();
  /** idle connections, most recently used on top; lent out as far as generic-pool knows */
  private readonly idle = new IdleStack<R>((lease) => this.evict(lease));

  constructor(options: PoolOptions, hooks: PoolHooks<R>) {
    if (typeof options.name !== 'string' || options.name === '') throw new InvalidArgumentError('a pool needs a name');
    this.name = options.name;
    this.size = positiveInt('size', options.size, 30);
    this.backlog = nonNegativeInt('backlog', options.backlog);
    this.acquireTimeout = positiveInt('acquireTimeout', options.acquireTimeout, 60_000);
    this.idleTimeout = positiveInt('idleTimeout', options.idleTimeout, 60_000);
    this.maxBackoff = positiveInt('maxBackoff', options.maxBackoff, 1_000);
    this.hooks = hooks;
    this.pool = genericPool.createPool<Lease<R>>(
      {
        create: () => this.open(),
        destroy: async (lease) => this.close(lease),
      },
      {
        max: this.size,
        min: 0,
        acquireTimeoutMillis: this.acquireTimeout,
        fifo: false,
        // no evictor: idle connections wait in our idle stack, which expires them (strays are adopted into it)
        evictionRunIntervalMillis: 0,
        autostart: true,
      },
    );
  }

  /** An idle connection right now (most recently used first), or null: the synchronous fast path. */
  tryAcquireIdle(): Lease<R> | null {
    for (let lease = this.idle.pop(); lease !== null; lease = this.idle.pop()) {
      if (!this.hooks.isAlive(lease.connection!)) {
        this.discarded++;
        this.discard(lease);
        continue;
      }
      if (++lease.reusedTimes > 0) this.reused++;
      this.leased.add(lease);
      return lease;
    }
    return null;
  }

  /**
   * A connection: an idle one (most recently used first) or a new one. Rejects with the connect
   * error, a SocketTimeoutError (op 'connect') after acquireTimeout, or PoolBacklogFullError.
   */
  async acquire(): Promise<Lease<R>> {
    if (this.draining) throw new SocketClosedError('connect', this.name, undefined, 'pool is draining');
    const idle = this.tryAcquireIdle();
    if (idle !== null) return idle;
    if (this.lastError !== null && Date.now() < this.retryAt) {
      this.backoffRejections++;
      const last = this.lastError;
      throw new ConnectBackoffError(this.name, last, this.consecutiveFailures, this.retryAt - Date.now());
    }
    // generic-pool's maxWaitingClients also counts requests whose connection is still being created,
    // so the backlog (connects waiting beyond `size`) is counted here
    const lent = this.pool.borrowed - this.idle.length;
    if (this.backlog !== undefined && this.inFlight - (this.size - lent) >= this.backlog) {
      throw new PoolBacklogFullError(this.name, this.pool.size, this.inFlight - (this.size - lent));
    }
    this.inFlight++;
    try {
      for (;;) {
        let lease: Lease<R>;
        try {
          lease = await this.pool.acquire();
        } catch (err) {
          throw this.acquireError(err);
        }
        if (lease.error !== null) {
          this.discard(lease);
          throw lease.error;
        }
        if (lease.reusedTimes >= 0 && !this.hooks.isAlive(lease.connection!)) {
          this.discarded++;
          this.discard(lease);
          continue;
        }
        if (++lease.reusedTimes > 0) this.reused++;
        this.leased.add(lease);
        return lease;
      }
    } finally {
      this.inFlight--;
    }
  }

  /**
   * Back to the pool for reuse, idle for at most `idleMs` (never longer than the pool's idle timeout),
   * or closed if it is no longer usable or the pool is draining.
   */
  release(lease: Lease<R>, idleMs = this.idleTimeout): void {
    if (!this.leased.delete(lease)) return;
    if (this.draining || lease.connection === null || !this.hooks.isAlive(lease.connection)) {
      this.discard(lease);
      return;
    }
    if (this.pool.pending > 0) {
      // someone waits inside generic-pool: let it have this one
      void this.pool.release(lease).catch(() => this.hooks.destroy(lease.connection!));
      return;
    }
    this.idle.push(lease, idleMs < this.idleTimeout ? idleMs : this.idleTimeout);
  }

  /** Lets go of a leased connection without closing it (it moves to another pool, see adopt): frees its place. */
  handOff(lease: Lease<R>): void {
    lease.handedOff = true;
    this.discard(lease);
  }

  /**
   * Takes in an open connection from elsewhere (one another pool handed off), idle for at most
   * `idleMs`. False when the pool is full or draining: the caller closes it.
   */
  adopt(connection: R, idleMs = this.idleTimeout): boolean {
    // with connects waiting inside generic-pool, one of them would be handed the adopted lease as well
    if (this.draining || this.pool.pending > 0 || this.pool.size >= this.size || !this.hooks.isAlive(connection))
      return false;
    const lease = new Lease<R>(connection, null);
    lease.reusedTimes = 0; // it was used once already, where it came from
    // idle at once (a connect right after finds it); generic-pool counts it once its create() hands it over
    this.adoptees.push(lease);
    this.idle.push(lease, idleMs < this.idleTimeout ? idleMs : this.idleTimeout);
    this.pool.acquire().then(
      (counted) => {
        if (counted !== lease && !this.adoptees.includes(counted) && counted.reusedTimes < 0) {
          // generic-pool handed over a stray of its own instead: park it as adoptStray would
          if (counted.error !== null || this.draining || !this.hooks.isAlive(counted.connection!))
            this.discard(counted);
          else this.idle.push(counted, this.idleTimeout);
        } else if (counted.closing) {
          void this.pool.destroy(counted).catch(() => {});
        }
      },
      () => {}, // draining: generic-pool's clear() closes it
    );
    return true;
  }

  /** Closes it and frees its place. */
  discard(lease: Lease<R>): void {
    this.leased.delete(lease);
    if (lease.closing) return;
    lease.closing = true;
    void this.pool.destroy(lease).catch(() => {
      if (lease.connection !== null) this.hooks.destroy(lease.connection);
    });
  }

  stats(): PoolStats {
    return {
      name: this.name,
      size: this.size,
      backlog: this.backlog ?? null,
      open: this.pool.size,
      idle: this.pool.available + this.idle.length,
      inUse: this.pool.borrowed - this.idle.length,
      waiting: this.pool.pending,
      created: this.created,
      reused: this.reused,
      evicted: this.evicted,
      discarded: this.discarded,
      connectFailures: this.connectFailures,
      backoffRejections: this.backoffRejections,
    };
  }

  /**
   * Refuses new acquires, closes idle connections, waits up to `graceMs` for leased ones to come
   * back, then closes those too.
   */
  async drain(graceMs = 5_000): Promise<void> {
    this.draining = true;
    for (const lease of this.idle.takeAll()) this.discard(lease);
    const drained = this.pool.drain().then(() => this.pool.clear());
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref(); // leased connections keep the process up, not the wait for them
    });
    await Promise.race([drained, grace]);
    clearTimeout(timer);
    for (const lease of [...this.leased]) this.discard(lease);
    await drained;
  }

  private async open(): Promise<Lease<R>> {
    const startedAt = Date.now();
    try {
      const adopted = this.adoptees.shift();
      if (adopted !== undefined) return adopted;
      const connection = await this.hooks.create();
      this.created++;
      this.consecutiveFailures = 0;
      this.lastError = null;
      if (this.pool.pending === 0) this.adoptStray();
      return new Lease<R>(connection, null);
    } catch (err) {
      this.connectFailures++;
      // attempts that were already under way when the previous one failed are one wave, not a streak
      if (startedAt >= this.lastFailureAt) this.consecutiveFailures++;
      this.lastFailureAt = Date.now();
      const error = err instanceof SocketError ? err : new SocketIOError('connect', this.name, err);
      this.lastError = error;
      if (this.consecutiveFailures > 1) {
        this.retryAt =
          this.lastFailureAt + Math.min(FIRST_BACKOFF_MS * 2 ** (this.consecutiveFailures - 2), this.maxBackoff);
      }
      if (this.pool.pending === 0) this.adoptStray();
      return new Lease<R>(null, error);
    }
  }

  /**
   * A connection opened for a waiter that has given up (its acquire timed out) would stay in
   * generic-pool's own idle list, which nothing expires: it is taken out into the idle stack (a
   * failed one is dropped) as soon as generic-pool has it.
   */
  private adoptStray(): void {
    this.pool.acquire().then(
      (lease) => {
        if (lease.error !== null || this.draining || !this.hooks.isAlive(lease.connection!)) {
          this.discard(lease);
          return;
        }
        this.idle.push(lease, this.idleTimeout);
      },
      () => {}, // draining: generic-pool's clear() closes it
    );
  }

  /** Its idle time ran out in the idle stack. */
  private evict(lease: Lease<R>): void {
    this.evicted++;
    this.discard(lease);
  }

  private close(lease: Lease<R>): void {
    if (lease.connection !== null && !lease.handedOff) this.hooks.destroy(lease.connection);
  }

  private acquireError(err: unknown): SocketError {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof Error && err.name === 'TimeoutError')
      return new SocketTimeoutError('connect', this.name, this.acquireTimeout);
    if (/draining/.test(message)) return new SocketClosedError('connect', this.name, undefined, 'pool is draining');
    return new SocketIOError('connect', this.name, err);
  }
}
