import { CancelReason } from '../errors/index.js';
import { SiblingList } from './sibling-list.js';
import type { Sibling } from './sibling-list.js';

/** `requestCancel(reason, NO_FAILURE)`: a plain cancel, not "abort because a child failed". */
export const NO_FAILURE: unique symbol = Symbol('no failure');

/** A child fiber as its parent's Children see it (the Fiber in task.ts); `C` is that fiber type. */
export interface Child<C = unknown> extends Sibling<C> {
  readonly name: string;
  /** What it settled with: its error when it failed. */
  readonly failureValue: unknown;
  start(): void;
  requestCancel(reason: CancelReason, failure: unknown): void;
  interruptCleanup(): void;
}

/** A fiber as a parent: what the end of one of its children may do to it. */
export interface Parent {
  readonly cancelling: boolean;
  /** Its body ended and it waits for its children before it settles (status 'joining'). */
  readonly joining: boolean;
  /** Settled, failed, or being cancelled for a failed child: another child's failure changes nothing. */
  readonly failing: boolean;
  /** While joining: fails with `err`, the value its body returned no longer stands. */
  failJoining(err: unknown): void;
  requestCancel(reason: CancelReason, failure: unknown): void;
  /** Settles: called once it is joining and its last child is gone. */
  finish(): void;
}

/**
 * The attached children of one fiber (`spawn`, and the scoped children of race/all/timeout): the
 * parent does not settle before they have; cancelling it cancels them; a failure nobody took from a
 * child fails the parent (bubbles) and cancels its siblings.
 */
export class Children<C extends Child<C>> {
  private readonly live = new SiblingList<C>();

  get size(): number {
    return this.live.size;
  }

  /** Starts `child` under `parent`; a child of a parent being cancelled is cancelled at once. */
  attach(parent: Parent, child: C): void {
    this.live.add(child);
    child.start();
    if (parent.cancelling) child.requestCancel(CancelReason.parent(), NO_FAILURE);
  }

  /** Counts `child` as started under its parent: it runs already (its first step ran inline). */
  adopt(child: C): void {
    this.live.add(child);
  }

  /** `child` settled; `bubble`: it failed and nobody takes its error. */
  settled(parent: Parent, child: C, bubble: boolean): void {
    this.live.remove(child);
    if (bubble && !parent.failing) {
      if (parent.joining) {
        parent.failJoining(child.failureValue);
        this.cancelAll(CancelReason.parent(`sibling '${child.name}' failed`));
      } else {
        parent.requestCancel(CancelReason.parent(`child '${child.name}' failed`), child.failureValue);
      }
    }
    if (parent.joining && this.live.size === 0) parent.finish();
  }

  cancelAll(reason: CancelReason): void {
    if (this.live.size === 0) return;
    for (const child of this.live.snapshot()) child.requestCancel(reason, NO_FAILURE);
  }

  /** A deadline cuts the parent's cleanup short: its children's too. */
  interruptAll(): void {
    if (this.live.size === 0) return;
    for (const child of this.live.snapshot()) child.interruptCleanup();
  }
}
