import { DubiousStateError, InvalidArgumentError, SocketClosedError, SocketOwnerError } from '../errors/index.js';
import { currentTask } from '../runtime/task.js';
import type { Task } from '../runtime/task.js';

/** Checks the idle time setkeepalive() takes: none (the pool's idle timeout) or a whole number of ms >= 1. */
export function checkIdleTime(idleMs: number | undefined): void {
  if (idleMs !== undefined && (!Number.isInteger(idleMs) || idleMs < 1)) {
    throw new InvalidArgumentError(`setkeepalive() idle time must be a whole number of ms >= 1, got ${String(idleMs)}`);
  }
}

/**
 * A connection that belongs to the coroutine that opened it: its root coroutine owns it, and only that
 * root and the coroutines under it may use it. What the cosockets share: the owner check, closing the
 * connection when the owner ends without handing it back, and the rules of setkeepalive (a connection
 * in a dubious state is closed instead of pooled, with DubiousStateError).
 */
export abstract class OwnedConnection {
  readonly peer: string;
  /** The root coroutine it belongs to. */
  protected readonly owner: Task<unknown>;
  private ownerCleanup: (() => void) | null = null;

  protected constructor(peer: string, owner: Task<unknown>) {
    this.peer = peer;
    this.owner = owner;
  }

  /** True once closed or handed back. */
  abstract get closed(): boolean;

  /** Closes the connection (never pooled). Safe to call twice, and from outside the coroutine. */
  abstract close(): void;

  /** It has a pool to go back to; without one, setkeepalive closes it. */
  protected abstract get poolable(): boolean;

  /** Why it may not go back to its pool now, or null when it may. */
  protected abstract dubiousReason(): string | null;

  /** Back to its pool, idle for at most `idleMs` (undefined: the pool's idle timeout); only once found clean. */
  protected abstract release(idleMs: number | undefined): void;

  /** What the owner error calls it: "this socket belongs to ...". */
  protected get noun(): string {
    return 'connection';
  }

  /**
   * Back to its pool for reuse, idle for at most `idleMs` (default: the pool's idle timeout); this
   * object is closed afterwards. Without a pool, closes it. A connection in a dubious state is
   * closed instead, and DubiousStateError says why.
   */
  setkeepalive(idleMs?: number): void {
    checkIdleTime(idleMs);
    this.checkUse('setkeepalive');
    if (!this.poolable) {
      this.close();
      return;
    }
    const why = this.dubiousReason();
    if (why !== null) {
      this.close();
      throw new DubiousStateError(this.peer, why);
    }
    this.release(idleMs);
  }

  /** Throws unless `task` may use it for `op` now: the owner error, then SocketClosedError once closed. */
  protected checkUse(op: string, task: Task<unknown> | null = currentTask()): void {
    this.checkOwner(op, task);
    if (this.closed) throw new SocketClosedError(op, this.peer);
  }

  /** Throws unless `task` runs under the owner (SocketOwnerError). */
  protected checkOwner(op: string, task: Task<unknown> | null): void {
    if (task === null || task.root !== this.owner) {
      throw new SocketOwnerError(op, this.peer, this.noun, this.owner.name, task?.name ?? null);
    }
  }

  /** From now on it is closed when its owner ends, unless handed back or closed before. */
  protected closeWithOwner(): void {
    const cleanup = (): void => this.close();
    this.ownerCleanup = cleanup;
    this.owner.addCleanup(cleanup);
  }

  /** It no longer needs closing when its owner ends (handed back or closed). */
  protected forgetOwner(): void {
    const cleanup = this.ownerCleanup;
    if (cleanup === null) return;
    this.ownerCleanup = null;
    this.owner.removeCleanup(cleanup);
  }
}
