import type { AsyncContext } from './async-context.js';
import type { Effect } from './effect.js';
import type { Frame, FrameStack } from './frames.js';
import type { QueueNode } from './queue.js';
import type { ContextValues } from './run-loop.js';
import type { TraceSpan } from './tracing.js';

/** How the top frame is resumed (FiberRun.resumeMode). */
export const NEXT = 0;
export const THROW = 1;
export const RETURN = 2;
// FiberRun.waitFlags
/** The wait was settled synchronously from inside kind.start(): the run loop resumes at once. */
export const SETTLED_SYNC = 1;
/** It waits on a native promise, whose callbacks run in the async context `then()` was called in: its own. */
export const NATIVE_PROMISE = 2;

/** Its first step ran inline (task.ts `startMember`): the run loop takes what it yielded, returned or threw. */
export const STEPPED_YIELD = 3;
export const STEPPED_RETURN = 4;
export const STEPPED_THROW = 5;

/**
 * What a coroutine holds only while it runs or waits: its frames, its wait and how it is resumed. The
 * Fiber (task.ts) keeps it until it settles and then lets it go, so that a settled task, which its joiner
 * may keep for long, is only its outcome.
 */
export class FiberRun<F extends { chain(): string[] } = { chain(): string[] }> implements FrameStack {
  frame: Frame | null;
  frameName: string;
  outer: Array<Frame | string> | null = null;
  /** The effect the coroutine waits on, or null. Effect kinds keep their per-wait state in `waitHandle`. */
  pending: Effect<unknown> | null = null;
  /** The span of the effect it waits on, with tracing on and a kind that traces. */
  effectSpan: TraceSpan | null = null;
  waitHandle: unknown = null;
  resumeMode = NEXT;
  resumeValue: unknown = undefined;
  /** The effect whose settled value waits to be resumed with, when its kind takes back what nobody claims. */
  unclaimed: Effect<unknown> | null = null;
  waitFlags = 0;
  onFulfilled: ((value: unknown) => void) | null = null;
  onRejected: ((reason: unknown) => void) | null = null;
  /**
   * -1 until cancellation unwinds the frames; then how many frames from the bottom are still being
   * unwound. A frame above it was called by cleanup code (a `finally` block, a release): when it ends,
   * its caller gets its result instead of being unwound.
   */
  unwindFloor = -1;
  turnSeen = -1;
  turnSteps = 0;
  deadlineAt = 0;
  deadlineMs = 0;
  deadlineNode: QueueNode<F> | null = null;

  constructor(
    readonly owner: F,
    frame: Frame | null,
    name: string,
    readonly baseDepth: number,
    readonly asyncContext: AsyncContext,
    public contextValues: ContextValues | null,
  ) {
    this.frame = frame;
    this.frameName = name;
  }

  chain(): string[] {
    return this.owner.chain();
  }
}
