import { InvalidArgumentError } from '../errors/index.js';
import { DeadlineList } from './deadlines.js';
import type { Expirable } from './deadlines.js';
import type { QueueNode } from './queue.js';

/** Every idle timeout of the process: one lane and one timer per distinct duration. */
const idleLanes = new DeadlineList<IdleTimeout>();

/**
 * "Fails if no progress for `ms`": armed by touch(), pushed back by every later touch() (each read or
 * write that moved bytes), told once through `onIdle` when `ms` passed without one; stop() disarms it.
 * A touch reuses one list node in a shared deadline lane: no timer, no allocation per chunk.
 */
export class IdleTimeout implements Expirable {
  /** @internal */ deadlineAt = 0;
  private node: QueueNode<IdleTimeout> | null = null;
  private armed = false;

  constructor(
    readonly ms: number,
    private readonly onIdle: (ms: number) => void,
  ) {
    if (!(ms > 0) || !Number.isFinite(ms))
      throw new InvalidArgumentError(`an idle timeout must be a number of ms > 0, got ${String(ms)}`);
  }

  /** Progress was made: the timeout runs again from now (a touch after stop() or expiry arms it again). */
  touch(): void {
    this.armed = true;
    if (this.node === null) this.node = idleLanes.add(this, this.ms);
    else idleLanes.renew(this.node, this.ms);
  }

  /** Does not fire until touched again. */
  stop(): void {
    this.armed = false;
    if (this.node !== null) idleLanes.remove(this.node, this.ms);
  }

  /** @internal */
  expire(ms: number): void {
    if (!this.armed) return;
    this.armed = false;
    this.onIdle(ms);
  }
}
