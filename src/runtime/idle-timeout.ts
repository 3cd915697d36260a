import { DeadlineList } from './deadlines.js';
import type { Expirable } from './deadlines.js';
import type { QueueNode } from './queue.js';

/** Every idle timeout of the process: one lane and one timer per distinct duration. */
const idleLanes = new DeadlineList<IdleTimeout>();

/**
 * "Fails if no progress for `ms`": armed by the first touch(), pushed back by every later touch()
 * (each read or write that moved bytes), told once through `onIdle` when `ms` passed without one.
 * A touch reuses one list node in a shared deadline lane: no timer, no allocation per chunk.
 */
export class IdleTimeout implements Expirable {
  /** @internal */ deadlineAt = 0;
  private node: QueueNode<IdleTimeout> | null = null;
  private stopped = false;

  constructor(
    readonly ms: number,
    private readonly onIdle: (ms: number) => void,
  ) {
    if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`an idle timeout must be a number of ms > 0, got ${String(ms)}`);
  }

  /** Progress was made: the timeout runs again from now (the first touch arms it). */
  touch(): void {
    if (this.stopped) return;
    if (this.node === null) this.node = idleLanes.add(this, this.ms);
    else idleLanes.renew(this.node, this.ms);
  }

  /** Never fires after this. */
  stop(): void {
    this.stopped = true;
    if (this.node !== null) idleLanes.remove(this.node, this.ms);
  }

  /** @internal */
  expire(ms: number): void {
    if (this.stopped) return;
    this.stopped = true;
    this.onIdle(ms);
  }
}
