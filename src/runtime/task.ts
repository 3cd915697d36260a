// Over 300 lines: one class per coroutine, whose run loop, state machine and outcome share its fields.
import {
  CancelReason,
  InvalidYieldError,
  StackBudgetError,
  TaskNotFinishedError,
  annotateChain,
  cancellationError,
} from '../errors/index.js';
import { captureAsyncContext } from './async-context.js';
import type { AsyncContext } from './async-context.js';
import { Children, NO_FAILURE } from './children.js';
import type { Child, Parent } from './children.js';
import type { DeadlineList } from './deadlines.js';
import { Effect, isIterator, isThenable } from './effect.js';
import { join } from './effects/join.js';
import { FAIRNESS_WAIT, PROMISE_WAIT } from './effects/waits.js';
import { FiberExtras } from './extras.js';
import { Releases } from './releases.js';
import type { ReleaseFn, ReleaseOwner } from './releases.js';
import { asStackBudget, frameDepth, frameNameOf, frameNames, makeBody, popFrame, pushFrame } from './frames.js';
import type { BodyFn, Frame, FrameStack } from './frames.js';
import type { QueueNode } from './queue.js';
import { activeTracer, startEffectSpan } from './tracing.js';
import type { TraceSpan } from './tracing.js';
import { currentTurn, isRunning, runLater, runNow } from './run-loop.js';
import type { ContextValues, Runnable } from './run-loop.js';
import type { Body, Task, TaskObserver, TaskStatus, Waiter, Yieldable } from './types.js';
import { checking, coroutineEnded, stepEnded } from './unyielded.js';

export type { Task, TaskObserver, TaskStatus } from './types.js';
export type { BodyFn, Frame } from './frames.js';
export { currentTask } from './run-loop.js';

// Fiber.state
const QUEUED = 0;
const READY = 1;
const RUNNING = 2;
const WAITING = 3;
const JOINING = 4;
const DONE = 5;

/** What the span of an effect abandoned by cancellation ends with. */
const ABANDONED = 'cancelled before it settled';

// how the top frame is resumed
const NEXT = 0;
const THROW = 1;
const RETURN = 2;

// Fiber.outcome
const PENDING = 0;
const OK = 1;
const FAILED = 2;
const CANCELLED = 3;

/** Marks a task of this runtime, in any copy of it that is loaded: `isTask` reads it. */
const TASK_BRAND = Symbol.for('cosocket.task');

/** True for a Task (what `go` and `spawn` return). */
export function isTask(value: unknown): value is Task<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    (value as { [TASK_BRAND]?: unknown })[TASK_BRAND] === true
  );
}

/** What a fiber needs of the admission that started it (admission.ts). */
export interface FiberHost {
  readonly maxDepth: number;
  readonly fairnessSteps: number;
  readonly deadlines: DeadlineList<Fiber<unknown>>;
  noteDepth(depth: number): void;
  childStarted(depth: number): void;
  fiberDone(fiber: Fiber<unknown>, wasStarted: boolean, failed: boolean, cancelled: boolean): void;
  dequeue(fiber: Fiber<unknown>): void;
  reportUnhandled(err: unknown, task: Task<unknown>): void;
  go(body: Body<unknown, never[]>, ...args: unknown[]): Task<unknown>;
}

/** The waiter the runtime's own kinds get (call, spawn, all/race/timeout): the fiber itself. */
export interface FiberWaiter<H = unknown> extends Waiter<H> {
  /** Pushes a frame (call of a generator); returns the error to throw into the caller instead, if any. */
  pushFrame(frame: Frame, name: string): StackBudgetError | null;
  /** Spawns a child task under this one, from a body function and its arguments or from a frame. */
  spawnChild<R>(
    fn: BodyFn | null,
    args: readonly unknown[] | null,
    body: Frame | null,
    name: string,
    scoped: boolean,
  ): Task<R>;
  /** Starts an independent root on the same admission. */
  spawnRoot(body: Body<unknown, never[]>, args: unknown[]): Task<unknown>;
}

let nextTaskId = 1;

/** A fiber's `observer` when its outcome was taken and nobody is left to tell. */
const OBSERVED: TaskObserver = { onTaskSettled() {} };

/**
 * A running coroutine: a stack of generator frames driven by the run loop, with its outcome, its
 * promise, its cleanups and observers. Users see it as a Task; effect kinds as a Waiter.
 */
export class Fiber<T> implements Task<T>, FiberWaiter, FrameStack, Runnable, Child, Parent, ReleaseOwner {
  readonly id: number;
  readonly name: string;
  readonly admission: FiberHost;
  readonly parent: Fiber<unknown> | null;
  /** Owned by an effect (race/all/timeout) that handles its outcome; its errors never bubble. */
  readonly scoped: boolean;
  readonly asyncContext: AsyncContext;
  /** Its createContext values: its parent's when it was spawned, until it sets its own. */
  contextValues: ContextValues | null;

  private state = QUEUED;
  private outcome = PENDING;
  private settledValue: unknown = undefined;

  // FrameStack
  frame: Frame | null;
  frameName: string;
  outer: Array<Frame | string> | null = null;
  readonly baseDepth: number;

  /** The effect this fiber waits on, or null. Effect kinds keep their per-wait state in `waitHandle`. */
  private pending: Effect<unknown> | null = null;
  /** The span of the effect it waits on, with tracing on and a kind that traces. */
  private effectSpan: TraceSpan | null = null;
  waitHandle: unknown = null;
  private resumeMode = NEXT;
  private resumeValue: unknown = undefined;
  /** The effect whose settled value waits to be resumed with, when its kind takes back what nobody claims. */
  private unclaimed: Effect<unknown> | null = null;
  private settledSync = false;
  private onFulfilled: ((value: unknown) => void) | null = null;
  private onRejected: ((reason: unknown) => void) | null = null;

  private cancelReason: CancelReason | null = null;
  /**
   * -1 until cancellation unwinds the frames; then how many frames from the bottom are still being
   * unwound. A frame above it was called by cleanup code (a `finally` block, a release): when it ends,
   * its caller gets its result instead of being unwound.
   */
  private unwindFloor = -1;
  private turnSeen = -1;
  private turnSteps = 0;

  deadlineAt = 0;
  private deadlineMs = 0;
  private deadlineNode: QueueNode<Fiber<unknown>> | null = null;
  /** What most coroutines never need, allocated on first use. */
  private extras: FiberExtras<T, Fiber<unknown>> | null = null;
  /** Its neighbours among its parent's children, or for a root among its admission's roots. */
  prevSibling: Fiber<unknown> | null = null;
  nextSibling: Fiber<unknown> | null = null;
  /**
   * Its first observer (others are in extras); OBSERVED once someone takes its outcome without one in
   * this field (a promise, a join of a settled task, an observer removed): its failure is then not
   * reported as unhandled. Null: nobody ever did.
   */
  private observer: TaskObserver | null = null;

  constructor(admission: FiberHost, name: string, body: Frame | null, parent: Fiber<unknown> | null, scoped: boolean) {
    this.id = nextTaskId++;
    this.admission = admission;
    this.name = name;
    this.frameName = name;
    this.frame = body;
    this.parent = parent;
    this.scoped = scoped;
    this.baseDepth = parent === null ? 0 : parent.depth;
    this.asyncContext = parent === null ? captureAsyncContext() : parent.asyncContext;
    this.contextValues = parent === null ? null : parent.contextValues;
  }

  private more(): FiberExtras<T, Fiber<unknown>> {
    if (this.extras === null) this.extras = new FiberExtras<T, Fiber<unknown>>();
    return this.extras;
  }

  // ------------------------------------------------------------------ Task

  get [TASK_BRAND](): true {
    return true;
  }

  get status(): TaskStatus {
    switch (this.state) {
      case QUEUED:
        return 'queued';
      case READY:
      case RUNNING:
        return 'running';
      case WAITING:
        return 'waiting';
      case JOINING:
        return 'joining';
      default:
        return this.outcome === OK ? 'completed' : this.outcome === FAILED ? 'failed' : 'cancelled';
    }
  }

  get done(): boolean {
    return this.state === DONE;
  }

  get depth(): number {
    return frameDepth(this);
  }

  get cancelling(): boolean {
    return this.cancelReason !== null;
  }

  get reason(): CancelReason | null {
    return this.cancelReason;
  }

  get result(): T {
    if (this.state !== DONE) throw new TaskNotFinishedError(this.name);
    if (this.outcome === OK) return this.settledValue as T;
    throw this.outcomeValue();
  }

  get root(): Task<unknown> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk up starts at this fiber
    let fiber: Fiber<unknown> = this;
    while (fiber.parent !== null) fiber = fiber.parent;
    return fiber;
  }

  addCleanup(cleanup: () => void): void {
    if (this.state === DONE) {
      cleanup();
      return;
    }
    this.more().addCleanup(cleanup);
  }

  removeCleanup(cleanup: () => void): void {
    this.extras?.removeCleanup(cleanup);
  }

  chain(): string[] {
    const own = frameNames(this);
    return this.parent === null ? own : this.parent.chain().concat(own);
  }

  cancel(reason?: CancelReason | string): void {
    this.requestCancel(
      reason === undefined
        ? CancelReason.explicit()
        : typeof reason === 'string'
          ? CancelReason.explicit(reason)
          : reason,
      NO_FAILURE,
    );
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.toPromise().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.toPromise().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.toPromise().finally(onfinally);
  }

  get [Symbol.toStringTag](): string {
    return 'Task';
  }

  toPromise(): Promise<T> {
    if (this.observer === null) this.observer = OBSERVED;
    const extras = this.more();
    if (extras.promise === null) {
      extras.promise = new Promise<T>((resolve, reject) => {
        extras.settlePromise = (failed, value) => (failed ? reject(value) : resolve(value as T));
      });
      if (this.state === DONE) this.notifyPromise();
    }
    return extras.promise;
  }

  [Symbol.iterator](): Iterator<Yieldable, T, unknown> {
    return join<T>(this)[Symbol.iterator]();
  }

  markObserved(): void {
    if (this.observer === null) this.observer = OBSERVED;
  }

  addObserver(observer: TaskObserver): void {
    // the first one (a join, a group, a request context) takes no extras; later ones queue behind it
    const first = this.observer;
    if ((first === null || first === OBSERVED) && (this.extras === null || this.extras.observers === null)) {
      this.observer = observer;
    } else this.more().addObserver(observer);
  }

  removeObserver(observer: TaskObserver): void {
    if (this.observer === observer) this.observer = OBSERVED;
    else this.extras?.removeObserver(observer);
  }

  outcomeForObserver(): [boolean, unknown] {
    return [this.outcome !== OK, this.outcomeValue()];
  }

  /**
   * What it settled with. A cancelled fiber's CancelledError is made here, the first time anyone asks:
   * most cancelled coroutines are never asked (a parked one cancelled with its parent, a race's loser),
   * and making an Error, stack and all, was most of what cancelling one cost.
   */
  private outcomeValue(): unknown {
    if (this.outcome === CANCELLED && this.settledValue === undefined) {
      this.settledValue = cancellationError(
        this.name,
        this.cancelReason!,
        this.extras?.cleanupErrors ?? [],
        this.chain(),
      );
    }
    return this.settledValue;
  }

  clearDeadline(): number {
    const ms = this.deadlineNode === null ? 0 : this.deadlineMs;
    if (this.deadlineNode !== null) {
      this.admission.deadlines.remove(this.deadlineNode, this.deadlineMs);
      this.deadlineNode = null;
    }
    return ms;
  }

  // ------------------------------------------------------------------ Waiter (for effect kinds)

  get task(): Task<unknown> {
    return this;
  }

  settleWait(value: unknown, isError: boolean): void {
    const settled = this.pending;
    if (settled === null) return;
    this.pending = null;
    this.waitHandle = null;
    if (this.effectSpan !== null) this.endEffectSpan(isError ? value : undefined);
    if (this.state === RUNNING) {
      // settled synchronously from inside kind.start(): the run loop picks it up
      this.settledSync = true;
      this.resumeMode = isError ? THROW : NEXT;
      this.resumeValue = value;
      return;
    }
    if (!isError && settled.kind.unclaimed !== undefined) this.unclaimed = settled;
    this.resume(isError ? THROW : NEXT, value);
  }

  waitPromise(promise: PromiseLike<unknown>): void {
    if (this.onFulfilled === null) this.makePromiseCallbacks();
    promise.then(this.onFulfilled, this.onRejected);
  }

  forgetPromise(): void {
    this.onFulfilled = null;
    this.onRejected = null;
  }

  pushFrame(frame: Frame, name: string): StackBudgetError | null {
    const err = pushFrame(this, frame, name, this.admission.maxDepth);
    if (err === null) this.admission.noteDepth(this.depth);
    return err;
  }

  spawnChild<R>(
    fn: BodyFn | null,
    args: readonly unknown[] | null,
    body: Frame | null,
    name: string,
    scoped: boolean,
  ): Task<R> {
    const maxDepth = this.admission.maxDepth;
    if (this.depth + 1 > maxDepth) throw new StackBudgetError([...this.chain(), name], maxDepth);
    const child = new Fiber<R>(this.admission, name, body ?? makeBody(fn!, args!), this, scoped);
    const extras = this.more();
    if (extras.children === null) extras.children = new Children<Fiber<unknown>>();
    this.admission.childStarted(child.depth);
    extras.children.attach(this, child);
    return child;
  }

  spawnRoot(body: Body<unknown, never[]>, args: unknown[]): Task<unknown> {
    const root = this.admission.go(body, ...args);
    // not run yet (a root started inside a running fiber waits in the ready queue): it starts with our values
    if (root instanceof Fiber) root.contextValues = this.contextValues;
    return root;
  }

  // ------------------------------------------------------------------ lifecycle (admission)

  armDeadline(ms: number): void {
    if (ms > 0 && Number.isFinite(ms)) {
      this.deadlineMs = ms;
      this.deadlineNode = this.admission.deadlines.add(this, ms);
    }
  }

  /** The deadline list says the deadline passed. */
  expire(ms: number): void {
    this.deadlineNode = null;
    this.requestCancel(CancelReason.deadline(`deadline of ${ms} ms passed`), NO_FAILURE);
  }

  /** Keeps the body of a queued root until it is admitted. */
  deferBody(fn: BodyFn | null, args: readonly unknown[] | null, node: QueueNode<Fiber<unknown>>): void {
    const extras = this.more();
    extras.deferredFn = fn;
    extras.deferredArgs = args;
    extras.queueNode = node;
  }

  /** Takes a queued root out of the wait queue bookkeeping; returns its node. */
  leaveQueue(): QueueNode<Fiber<unknown>> | null {
    const extras = this.extras;
    if (extras === null) return null;
    const node = extras.queueNode;
    extras.queueNode = null;
    extras.deferredFn = null;
    extras.deferredArgs = null;
    return node;
  }

  /** Runs the body up to its first wait (creating it first for a root that was queued). */
  start(): void {
    const extras = this.extras;
    if (extras !== null && extras.queueNode !== null) {
      const fn = extras.deferredFn;
      const args = extras.deferredArgs;
      this.leaveQueue();
      if (fn !== null) this.frame = makeBody(fn, args!);
    }
    this.resume(NEXT, undefined);
  }

  // ------------------------------------------------------------------ the run loop

  /** Runs the fiber now, or queues it when another fiber is running (the trampoline). */
  private resume(mode: number, value: unknown): void {
    if (isRunning()) {
      this.state = READY;
      this.resumeMode = mode;
      this.resumeValue = value;
      runLater(this);
      return;
    }
    runNow(this, mode, value);
  }

  runQueued(): void {
    if (this.state !== READY) return;
    const value = this.resumeValue;
    this.resumeValue = undefined;
    this.run(this.resumeMode, value);
  }

  /** Drives the top frame until it waits or the body ends. */
  run(mode: number, value: unknown): void {
    this.state = RUNNING;
    const fairnessSteps = this.admission.fairnessSteps;
    for (;;) {
      if (this.cancelReason !== null && this.unwindFloor < 0) {
        if (this.unclaimed !== null) this.giveBackUnclaimed(mode, value);
        this.unwindFloor = this.frameCount();
        mode = RETURN;
        value = undefined;
      }
      const turn = currentTurn();
      if (this.turnSeen !== turn) {
        this.turnSeen = turn;
        this.turnSteps = 0;
      } else if (++this.turnSteps > fairnessSteps) {
        this.yieldToEventLoop(mode, value);
        return;
      }
      if (this.unclaimed !== null) this.unclaimed = null; // the value is the coroutine's now

      const frame = this.frame!;
      let res: IteratorResult<unknown, unknown>;
      try {
        res = mode === NEXT ? frame.next(value) : mode === THROW ? frame.throw!(value) : frame.return!(value);
      } catch (thrown) {
        const err = asStackBudget(thrown, this, this.admission.maxDepth);
        annotateChain(err, this.chain());
        if (!popFrame(this)) {
          this.bodyEnded(true, err);
          return;
        }
        if (this.unwindFloor >= 0 && this.unwoundCaller()) {
          this.more().recordCleanupError(err);
          mode = RETURN;
          value = undefined;
        } else {
          mode = THROW;
          value = err;
        }
        continue;
      }

      if (res.done === true) {
        value = res.value;
        if (!popFrame(this)) {
          this.bodyEnded(false, value);
          return;
        }
        mode = this.unwindFloor >= 0 && this.unwoundCaller() ? RETURN : NEXT;
        continue;
      }

      const yielded = res.value;
      if (checking) {
        const unyielded = stepEnded(this, yielded);
        if (unyielded !== null) {
          mode = THROW;
          value = unyielded;
          continue;
        }
      }
      if (this.cancelReason !== null && this.unwindFloor < 0) continue;
      if (yielded instanceof Effect) {
        this.pending = yielded;
        if (activeTracer() !== null && yielded.kind.trace !== undefined) this.startEffectSpan(yielded);
        try {
          yielded.kind.start(this, yielded.a, yielded.b);
        } catch (err) {
          if (this.pending === yielded) this.pending = null;
          if (this.effectSpan !== null) this.endEffectSpan(err);
          this.settledSync = false;
          mode = THROW;
          value = err;
          continue;
        }
      } else if (isThenable(yielded)) {
        this.pending = PROMISE_WAIT;
        try {
          this.waitPromise(yielded);
        } catch (err) {
          this.pending = null;
          mode = THROW;
          value = err;
          continue;
        }
      } else if (isIterator(yielded)) {
        const err = this.pushFrame(yielded, frameNameOf(yielded));
        mode = err === null ? NEXT : THROW;
        value = err ?? undefined;
        continue;
      } else {
        mode = THROW;
        value = new InvalidYieldError(this.frameName, yielded);
        continue;
      }

      if (this.settledSync) {
        this.settledSync = false;
        mode = this.resumeMode;
        value = this.resumeValue;
        this.resumeValue = undefined;
        continue;
      }
      this.state = WAITING;
      return;
    }
  }

  private frameCount(): number {
    return this.frame === null ? 0 : 1 + (this.outer === null ? 0 : this.outer.length >> 1);
  }

  /** A frame ended while unwinding: true when it was being unwound (its caller unwinds next). */
  private unwoundCaller(): boolean {
    const below = this.frameCount();
    if (below + 1 > this.unwindFloor) return false;
    this.unwindFloor = below;
    return true;
  }

  private yieldToEventLoop(mode: number, value: unknown): void {
    this.resumeMode = mode;
    this.resumeValue = value;
    this.pending = FAIRNESS_WAIT;
    this.waitHandle = setImmediate(resumeAfterFairness, this);
    this.state = WAITING;
  }

  /** Resumes after a fairness yield with the step that was put off. */
  resumeDeferred(): void {
    if (this.pending !== FAIRNESS_WAIT) return;
    this.pending = null;
    this.waitHandle = null;
    const value = this.resumeValue;
    this.resumeValue = undefined;
    this.resume(this.resumeMode, value);
  }

  private startEffectSpan(effect: Effect<unknown>): void {
    this.effectSpan = startEffectSpan(effect.kind.trace!(effect.a, effect.b), this.contextValues);
  }

  private endEffectSpan(error: unknown): void {
    const span = this.effectSpan!;
    this.effectSpan = null;
    span.end(error);
  }

  private makePromiseCallbacks(): void {
    const fulfilled = (value: unknown): void => {
      if (this.onFulfilled === fulfilled) this.settleWait(value, false);
    };
    const rejected = (reason: unknown): void => {
      if (this.onFulfilled === fulfilled) this.settleWait(reason, true);
    };
    this.onFulfilled = fulfilled;
    this.onRejected = rejected;
  }

  private abandonWait(): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    pending.kind.abandon(this, pending.a, pending.b);
    this.waitHandle = null;
    if (this.effectSpan !== null) this.endEffectSpan(ABANDONED);
    // a step put off by the fairness budget, and the value it was to resume with
    if (this.unclaimed !== null) this.giveBackUnclaimed(this.resumeMode, this.resumeValue);
  }

  /** The coroutine unwinds without resuming with the value its last wait settled with: the kind takes it back. */
  private giveBackUnclaimed(mode: number, value: unknown): void {
    const effect = this.unclaimed!;
    this.unclaimed = null;
    if (mode !== NEXT) return;
    try {
      effect.kind.unclaimed!(value, effect.a, effect.b);
    } catch (err) {
      this.more().recordCleanupError(err);
    }
  }

  // ------------------------------------------------------------------ cancellation and outcome

  /** Cancel with a reason; `failure` set means "abort because a child failed". */
  requestCancel(reason: CancelReason, failure: unknown): void {
    if (this.state === DONE) return;
    if (this.cancelReason === null && this.extras?.releases?.running === true) {
      // the body ended and its releases run: they run to the end, only a deadline cuts them short
      this.cancelReason = reason;
      if (this.outcome === OK) this.settleAsCancelled();
      this.cancelChildren(CancelReason.parent(`parent '${this.name}' was cancelled (${reason.toString()})`));
    }
    if (this.cancelReason !== null) {
      // Cancelled once already: cleanup runs on, but a deadline still bounds it.
      if (reason.kind === 'deadline') this.interruptCleanup();
      return;
    }
    this.cancelReason = reason;
    if (failure !== NO_FAILURE) this.more().failure = failure;
    if (this.state === QUEUED) {
      this.admission.dequeue(this);
      this.settle(CANCELLED, undefined);
      return;
    }
    if (this.state === JOINING && this.outcome === OK) {
      // the body already returned; with its children cancelled, that value no longer stands
      this.settleAsCancelled();
    }
    // Detach the pending wait before cancelling children: a race/all group whose branches settle must
    // not resume us, or we would start unwinding, wait in a finally block, and have that wait abandoned.
    const waiting = this.state === WAITING;
    if (waiting) this.abandonWait();
    this.cancelChildren(CancelReason.parent(`parent '${this.name}' was cancelled (${reason.toString()})`));
    if (waiting) this.resume(RETURN, undefined);
    // READY/RUNNING: the run loop starts unwinding at its next step. JOINING: children settle, then we do.
  }

  interruptCleanup(): void {
    this.extras?.children?.interruptAll();
    if (this.state === WAITING && this.cancelReason !== null) {
      this.abandonWait();
      this.unwindFloor = this.frameCount();
      this.resume(RETURN, undefined);
    }
  }

  private cancelChildren(reason: CancelReason): void {
    this.extras?.children?.cancelAll(reason);
  }

  private bodyEnded(threw: boolean, value: unknown): void {
    if (checking) {
      const unyielded = coroutineEnded(this, threw, value);
      if (unyielded !== null) {
        threw = true;
        value = unyielded;
      }
    }
    this.outer = null;
    const releases = this.extras?.releases;
    if (releases != null && releases.running) {
      releases.running = false;
      if (threw) this.releaseFailed(value);
      if (this.extras!.children !== null && this.extras!.children.size > 0) this.state = JOINING;
      else this.finish();
      return;
    }
    if (this.cancelReason !== null) {
      if (threw) this.more().recordCleanupError(value);
      this.settleAsCancelled();
    } else if (threw) {
      this.outcome = FAILED;
      this.settledValue = value;
      this.cancelChildren(CancelReason.parent(`parent '${this.name}' failed`));
    } else {
      this.outcome = OK;
      this.settledValue = value;
    }
    const children = this.extras?.children;
    if (children != null && children.size > 0) {
      this.state = JOINING;
      return;
    }
    this.finish();
  }

  /** Cancelled, unless the cancellation came from a failing child: then failed with its error. */
  private settleAsCancelled(): void {
    const failure = this.extras === null ? NO_FAILURE : this.extras.failure;
    this.outcome = failure !== NO_FAILURE ? FAILED : CANCELLED;
    this.settledValue = failure !== NO_FAILURE ? failure : undefined;
  }

  // Parent (children.ts)

  get joining(): boolean {
    return this.state === JOINING;
  }

  get failing(): boolean {
    return (
      this.state === DONE || this.outcome === FAILED || (this.extras !== null && this.extras.failure !== NO_FAILURE)
    );
  }

  failJoining(err: unknown): void {
    this.outcome = FAILED;
    this.settledValue = err;
  }

  // Child (children.ts)

  get failureValue(): unknown {
    return this.outcomeValue();
  }

  private settle(outcome: number, value: unknown): void {
    this.outcome = outcome;
    this.settledValue = value;
    this.finish();
  }

  finish(): void {
    const releases = this.extras?.releases;
    if (releases != null && releases.pending && this.state !== QUEUED) {
      this.runReleases(releases);
      return;
    }
    const wasStarted = this.state !== QUEUED;
    this.state = DONE;
    this.frame = null;
    this.onFulfilled = null;
    this.onRejected = null;
    if (this.deadlineNode !== null) {
      this.admission.deadlines.remove(this.deadlineNode, this.deadlineMs);
      this.deadlineNode = null;
    }
    const extras = this.extras;
    const bubble = this.outcome === FAILED && !this.scoped && this.observer === null;
    if (extras !== null && extras.cleanups !== null) this.runCleanups(extras);
    this.admission.fiberDone(this, wasStarted, this.outcome === FAILED, this.outcome === CANCELLED);
    const observer = this.observer;
    if (observer !== null && observer !== OBSERVED) {
      this.observer = OBSERVED;
      observer.onTaskSettled(this);
    }
    if (extras !== null) {
      const observers = extras.observers;
      if (observers !== null) {
        extras.observers = null;
        for (const observer of observers) observer.onTaskSettled(this);
      }
      if (extras.promise !== null) this.notifyPromise();
    }
    const parent = this.parent;
    if (parent !== null) parent.extras!.children!.settled(parent, this, bubble);
    else if (bubble) setImmediate(reportIfUnobserved, this);
  }

  // ------------------------------------------------------------------ releases (resource, ensure)

  /** `release(value)` runs once this coroutine's body and children have ended, before it settles. */
  addRelease(release: ReleaseFn, value: unknown): void {
    const extras = this.more();
    if (extras.releases === null) extras.releases = new Releases();
    extras.releases.add(release, value);
  }

  /** Runs the releases as the coroutine's last frame: not cut by a cancellation, only by a deadline. */
  private runReleases(releases: Releases): void {
    releases.running = true;
    this.unwindFloor = 0;
    this.frame = releases.run(this);
    this.frameName = this.name;
    this.resume(NEXT, undefined);
  }

  /**
   * A release threw. A coroutine that had returned fails with the first such error; a cancelled one
   * keeps it in `cleanupErrors`; one that had failed keeps its own error, and this one is reported.
   */
  releaseFailed(err: unknown): void {
    if (this.outcome === OK) {
      this.outcome = FAILED;
      this.settledValue = err;
    } else if (this.outcome === CANCELLED) this.more().recordCleanupError(err);
    else this.admission.reportUnhandled(err, this);
  }

  private runCleanups(extras: FiberExtras<T, Fiber<unknown>>): void {
    const cleanups = extras.cleanups!;
    extras.cleanups = null;
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch (err) {
        this.admission.reportUnhandled(err, this);
      }
    }
  }

  private notifyPromise(): void {
    const extras = this.extras!;
    const settlePromise = extras.settlePromise;
    if (settlePromise === null) return;
    extras.settlePromise = null;
    settlePromise(this.outcome !== OK, this.outcomeValue());
  }

  get isObserved(): boolean {
    return this.observer !== null;
  }
}

function resumeAfterFairness(fiber: Fiber<unknown>): void {
  fiber.resumeDeferred();
}

function reportIfUnobserved(fiber: Fiber<unknown>): void {
  if (!fiber.isObserved) fiber.admission.reportUnhandled(fiber.failureValue, fiber);
}
