// Over 300 lines: one class per coroutine, whose run loop, state machine and outcome share its fields.
import {
  CancelReason,
  InvalidYieldError,
  StackBudgetError,
  TaskNotFinishedError,
  annotateChain,
  cancellationError,
} from '../errors/index.js';
import { captureAsyncContext, emptyAsyncContext } from './async-context.js';
import type { AsyncContext } from './async-context.js';
import { Children, NO_FAILURE } from './children.js';
import type { Child, Parent } from './children.js';
import type { DeadlineList } from './deadlines.js';
import { Effect, isIterator, isNativePromise, isThenable } from './effect.js';
import { join, keepJoinShape } from './effects/join.js';
import { FAIRNESS_WAIT, PROMISE_WAIT } from './effects/waits.js';
import { FiberExtras } from './extras.js';
import {
  FiberRun,
  NATIVE_PROMISE,
  NEXT,
  RETURN,
  SETTLED_SYNC,
  STEPPED_RETURN,
  STEPPED_THROW,
  STEPPED_YIELD,
  THROW,
} from './fiber-run.js';
import { Releases } from './releases.js';
import { ReturnedTask } from './returned-task.js';
import { SettledJoin } from './settled-join.js';
import { keepShape } from './shapes.js';
import type { ReleaseFn, ReleaseOwner } from './releases.js';
import {
  asStackBudget,
  bodyName,
  frameDepth,
  frameNameOf,
  frameNames,
  makeBody,
  popFrame,
  pushFrame,
} from './frames.js';
import type { BodyFn, Frame } from './frames.js';
import { LinkedQueue } from './queue.js';
import type { QueueNode } from './queue.js';
import { activeTracer, startEffectSpan } from './tracing.js';
import { currentTurn, isRunning, runInline, runLater, runNested, runNow, wakeInOwnContext } from './run-loop.js';
import type { ContextValues, InlineStep, Runnable } from './run-loop.js';
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
  memberEndedInline(depth: number, failed: boolean): void;
  fiberDone(fiber: Fiber<unknown>, wasStarted: boolean, failed: boolean, cancelled: boolean): void;
  dequeue(fiber: Fiber<unknown>): void;
  reportUnhandled(err: unknown, task: Task<unknown>): void;
  go(body: Body<unknown, never[]>, ...args: unknown[]): Task<unknown>;
}

/** The waiter the runtime's own kinds get (call, spawn, all/race/timeout): the fiber itself. */
export interface FiberWaiter<H = unknown> extends Waiter<H> {
  /** Pushes a frame (call of a generator); returns the error to throw into the caller instead, if any. */
  pushFrame(frame: Frame, name: string): StackBudgetError | null;
  /**
   * Spawns a child task under this one, from a body function and its arguments or from a frame; `name`
   * null is the function's name, read only when wanted (a child that returns at once may never need it).
   */
  spawnChild<R>(
    fn: BodyFn | null,
    args: readonly unknown[] | null,
    body: Frame | null,
    name: string | null,
    scoped: boolean,
    observer?: TaskObserver | null,
  ): Task<R>;
  /** Starts an independent root on the same admission. */
  spawnRoot(body: Body<unknown, never[]>, args: unknown[]): Task<unknown>;
  /**
   * Starts member `index` of a group (all/race/timeout) as a scoped child whose first step runs before it
   * has a fiber: one that ends in that step is told to `group.memberEnded` and never becomes a task (null
   * is returned); otherwise its task, observed by `group.observerFor(index)`.
   */
  startMember(frame: Frame, name: string, group: MemberGroup, index: number): Task<unknown> | null;
}

/** What a group is told of the members it started with `startMember`, by their index. */
export interface MemberGroup {
  /** Member `index` ended in its first step, returned or thrown, before it needed a fiber. */
  memberEnded(index: number, isError: boolean, value: unknown): void;
  /** The observer of member `index`, once it has a fiber. */
  observerFor(index: number): TaskObserver;
}

let nextTaskId = 1;

/** A fiber's `observer` when its outcome was taken and nobody is left to tell. */
const OBSERVED: TaskObserver = { onTaskSettled() {} };

/**
 * A running coroutine: a stack of generator frames driven by the run loop, with its outcome, its
 * promise, its cleanups and observers. Users see it as a Task; effect kinds as a Waiter.
 */
export class Fiber<T> implements Task<T>, FiberWaiter, Runnable, Child, Parent, ReleaseOwner {
  readonly id: number;
  readonly name: string;
  readonly admission: FiberHost;
  readonly parent: Fiber<unknown> | null;
  /** Owned by an effect (race/all/timeout) that handles its outcome; its errors never bubble. */
  readonly scoped: boolean;

  private state = QUEUED;
  private outcome = PENDING;
  private settledValue: unknown = undefined;

  private cancelReason: CancelReason | null = null;
  readonly baseDepth: number;
  /** Its state while it runs or waits; null once settled, so that a settled task is small. */
  private r: FiberRun<Fiber<unknown>> | null;

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

  constructor(
    admission: FiberHost,
    name: string,
    body: Frame | null,
    parent: Fiber<unknown> | null,
    scoped: boolean,
    baseDepth = parent === null ? 0 : parent.depth,
    rootContext: AsyncContext | null = null,
  ) {
    this.id = nextTaskId++;
    this.admission = admission;
    this.name = name;
    this.parent = parent;
    this.scoped = scoped;
    this.baseDepth = baseDepth;
    this.r =
      parent === null
        ? new FiberRun<Fiber<unknown>>(this, body, name, 0, rootContext ?? captureAsyncContext(), null)
        : new FiberRun<Fiber<unknown>>(this, body, name, this.baseDepth, parent.asyncContext, parent.contextValues);
  }

  /** The async context it runs in: its root's (async-context.ts). */
  get asyncContext(): AsyncContext {
    return this.r!.asyncContext;
  }

  /** Its createContext values: its parent's when it was spawned, until it sets its own; null once settled. */
  get contextValues(): ContextValues | null {
    return this.r === null ? null : this.r.contextValues;
  }

  set contextValues(values: ContextValues | null) {
    if (this.r !== null) this.r.contextValues = values;
  }

  /** When its deadline passes (Date.now() ms), 0 without one or once settled; the deadline list sets it. */
  get deadlineAt(): number {
    return this.r === null ? 0 : this.r.deadlineAt;
  }

  set deadlineAt(at: number) {
    if (this.r !== null) this.r.deadlineAt = at;
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
    return this.r === null ? this.baseDepth + 1 : frameDepth(this.r);
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
    const own = this.r === null ? [this.name] : frameNames(this.r);
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
    if (this.state !== DONE) return join<T>(this)[Symbol.iterator]();
    // settled: `yield* task` takes its outcome without a wait
    if (this.observer === null) this.observer = OBSERVED;
    return new SettledJoin<T>(this.outcome !== OK, this.outcomeValue());
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

  settledInError(): boolean {
    return this.outcome !== OK;
  }

  settledWith(): unknown {
    return this.outcomeValue();
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
    const r = this.r;
    if (r === null || r.deadlineNode === null) return 0;
    this.admission.deadlines.remove(r.deadlineNode, r.deadlineMs);
    r.deadlineNode = null;
    return r.deadlineMs;
  }

  // ------------------------------------------------------------------ Waiter (for effect kinds)

  get task(): Task<unknown> {
    return this;
  }

  /** An effect kind's state for the wait in progress. */
  get waitHandle(): unknown {
    return this.r === null ? null : this.r.waitHandle;
  }

  set waitHandle(handle: unknown) {
    if (this.r !== null) this.r.waitHandle = handle;
  }

  settleWait(value: unknown, isError: boolean): void {
    const r = this.r;
    if (r === null) return;
    const settled = r.pending;
    if (settled === null) return;
    r.pending = null;
    r.waitHandle = null;
    if (r.effectSpan !== null) endEffectSpan(r, isError ? value : undefined);
    if (this.state === RUNNING) {
      // settled synchronously from inside kind.start(): the run loop picks it up
      r.waitFlags |= SETTLED_SYNC;
      r.resumeMode = isError ? THROW : NEXT;
      r.resumeValue = value;
      return;
    }
    if (!isError && settled.kind.unclaimed !== undefined) r.unclaimed = settled;
    this.resume(isError ? THROW : NEXT, value);
  }

  waitPromise(promise: PromiseLike<unknown>): void {
    const r = this.r!;
    if (r.onFulfilled === null) this.makePromiseCallbacks(r);
    r.waitFlags = isNativePromise(promise) ? r.waitFlags | NATIVE_PROMISE : r.waitFlags & ~NATIVE_PROMISE;
    promise.then(r.onFulfilled, r.onRejected);
  }

  forgetPromise(): void {
    const r = this.r;
    if (r === null) return;
    r.onFulfilled = null;
    r.onRejected = null;
    r.waitFlags &= ~NATIVE_PROMISE;
  }

  pushFrame(frame: Frame, name: string): StackBudgetError | null {
    const err = pushFrame(this.r!, frame, name, this.admission.maxDepth);
    if (err === null) this.admission.noteDepth(this.depth);
    return err;
  }

  spawnChild<R>(
    fn: BodyFn | null,
    args: readonly unknown[] | null,
    body: Frame | null,
    name: string | null,
    scoped: boolean,
    observer: TaskObserver | null = null,
  ): Task<R> {
    const maxDepth = this.admission.maxDepth;
    const depth = this.depth;
    if (depth + 1 > maxDepth) throw new StackBudgetError([...this.chain(), name ?? bodyName(fn)], maxDepth);
    const frame = body ?? makeBody(fn!, args!);
    if (observer === null && !scoped && !checking && this.cancelReason === null && memberStep.parent === null) {
      return this.spawnInline(frame, name ?? fn!, depth) as Task<R>;
    }
    const child = new Fiber<R>(this.admission, name ?? bodyName(fn), frame, this, scoped, depth);
    // told before the child starts: it runs at once, and may end before spawnChild returns
    if (observer !== null) child.addObserver(observer);
    const extras = this.more();
    if (extras.children === null) extras.children = new Children<Fiber<unknown>>();
    this.admission.childStarted(depth + 1);
    extras.children.attach(this, child);
    return child;
  }

  startMember(frame: Frame, name: string, group: MemberGroup, index: number): Task<unknown> | null {
    // the inline step is not worth its cases while the check for unyielded effects watches each step, or
    // while this coroutine is being cancelled (a member started then is cancelled at once)
    if (checking || this.cancelReason !== null || memberStep.parent !== null) {
      return this.spawnChild(null, null, frame, name, true, group.observerFor(index));
    }
    const depth = frameDepth(this.r!);
    const maxDepth = this.admission.maxDepth;
    if (depth >= maxDepth) throw new StackBudgetError([...this.chain(), name], maxDepth);
    const step = memberStep;
    step.parent = this;
    step.frame = frame;
    step.named = name;
    step.group = group;
    step.index = index;
    step.depth = depth;
    let mode: number;
    let value: unknown;
    try {
      const res = runInline(step, frame);
      mode = res.done === true ? STEPPED_RETURN : STEPPED_YIELD;
      value = res.value;
    } catch (err) {
      mode = STEPPED_THROW;
      value = memberError(err, this, name, maxDepth);
    }
    let child = step.child;
    step.clear();
    if (child === null) {
      if (mode !== STEPPED_YIELD) {
        if (mode === STEPPED_THROW) annotateChain(value, [...this.chain(), name]);
        this.admission.memberEndedInline(depth + 1, mode === STEPPED_THROW);
        group.memberEnded(index, mode === STEPPED_THROW, value);
        return null;
      }
      child = this.makeMember(frame, name, group.observerFor(index), depth);
    }
    runNested(child, mode, value);
    return child;
  }

  /**
   * A spawned child whose first step runs inline, inside this fiber's step, before it has a fiber (as a
   * group member's does, see startMember): one that returns there is only a settled task record; one
   * that waits, throws or asks for the running coroutine gets its fiber.
   */
  private spawnInline(frame: Frame, named: string | BodyFn, depth: number): Task<unknown> {
    const step = memberStep;
    step.parent = this;
    step.frame = frame;
    step.named = named;
    step.depth = depth;
    let mode: number;
    let value: unknown;
    try {
      const res = runInline(step, frame);
      mode = res.done === true ? STEPPED_RETURN : STEPPED_YIELD;
      value = res.value;
    } catch (err) {
      mode = STEPPED_THROW;
      value = memberError(err, this, nameOf(named), this.admission.maxDepth);
    }
    let child = step.child;
    step.clear();
    if (child === null) {
      if (mode === STEPPED_RETURN) {
        this.admission.memberEndedInline(depth + 1, false);
        return new ReturnedTask(nextTaskId++, named, this, depth + 1, value);
      }
      // it waits, or it failed: a fiber of its own runs what is left (a failure bubbles from there)
      child = this.makeMember(frame, nameOf(named), null, depth);
    }
    runNested(child, mode, value);
    // cancelled in the child's first step, before the child was attached: the child goes with it
    if (this.cancelReason !== null && !child.done) child.requestCancel(CancelReason.parent(), NO_FAILURE);
    return child;
  }

  /**
   * The fiber of a child whose first step ran (or runs now) inline: attached, not started. A group
   * member (scoped) has its group's observer; a spawned child (`observer` null) is not scoped.
   */
  makeMember(frame: Frame, name: string, observer: TaskObserver | null, depth: number): Fiber<unknown> {
    const child = new Fiber<unknown>(this.admission, name, frame, this, observer !== null, depth);
    if (observer !== null) child.addObserver(observer);
    // RUNNING: it is in its first step; a cancel made there unwinds it at its next one
    child.state = RUNNING;
    const extras = this.more();
    if (extras.children === null) extras.children = new Children<Fiber<unknown>>();
    this.admission.childStarted(depth + 1);
    extras.children.adopt(child);
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
      const r = this.r!;
      r.deadlineMs = ms;
      r.deadlineNode = this.admission.deadlines.add(this, ms);
    }
  }

  /** The deadline list says the deadline passed. */
  expire(ms: number): void {
    if (this.r !== null) this.r.deadlineNode = null;
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
      if (fn !== null) this.r!.frame = makeBody(fn, args!);
    }
    if (this.parent !== null && isRunning()) runNested(this, NEXT, undefined);
    else this.resume(NEXT, undefined);
  }

  // ------------------------------------------------------------------ the run loop

  /** Runs the fiber now, or queues it when another fiber is running (the trampoline). */
  private resume(mode: number, value: unknown): void {
    if (isRunning()) {
      this.state = READY;
      const r = this.r!;
      r.resumeMode = mode;
      r.resumeValue = value;
      runLater(this);
      return;
    }
    runNow(this, mode, value);
  }

  runQueued(): void {
    if (this.state !== READY) return;
    const r = this.r!;
    const value = r.resumeValue;
    r.resumeValue = undefined;
    this.run(r.resumeMode, value);
  }

  /** Drives the top frame until it waits or the body ends. */
  run(mode: number, value: unknown): void {
    this.state = RUNNING;
    const r = this.r!;
    const fairnessSteps = this.admission.fairnessSteps;
    for (;;) {
      if (this.cancelReason !== null && r.unwindFloor < 0) {
        if (r.unclaimed !== null) this.giveBackUnclaimed(mode, value);
        r.unwindFloor = this.frameCount();
        mode = RETURN;
        value = undefined;
      }
      const turn = currentTurn();
      if (r.turnSeen !== turn) {
        r.turnSeen = turn;
        r.turnSteps = 0;
      } else if (++r.turnSteps > fairnessSteps) {
        this.yieldToEventLoop(mode, value);
        return;
      }
      if (r.unclaimed !== null) r.unclaimed = null; // the value is the coroutine's now

      const frame = r.frame!;
      let res: IteratorResult<unknown, unknown>;
      try {
        res =
          mode === NEXT
            ? frame.next(value)
            : mode === THROW
              ? frame.throw!(value)
              : mode === RETURN
                ? frame.return!(value)
                : steppedAlready(mode, value);
      } catch (thrown) {
        const err = asStackBudget(thrown, r, this.admission.maxDepth);
        annotateChain(err, this.chain());
        if (!popFrame(r)) {
          this.bodyEnded(true, err);
          return;
        }
        if (r.unwindFloor >= 0 && this.unwoundCaller()) {
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
        if (!popFrame(r)) {
          this.bodyEnded(false, value);
          return;
        }
        mode = r.unwindFloor >= 0 && this.unwoundCaller() ? RETURN : NEXT;
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
      if (this.cancelReason !== null && r.unwindFloor < 0) continue;
      if (yielded instanceof Effect) {
        r.pending = yielded;
        if (activeTracer() !== null && yielded.kind.trace !== undefined) {
          r.effectSpan = startEffectSpan(yielded.kind.trace(yielded.a, yielded.b), r.contextValues);
        }
        try {
          yielded.kind.start(this, yielded.a, yielded.b);
        } catch (err) {
          if (r.pending === yielded) r.pending = null;
          if (r.effectSpan !== null) endEffectSpan(r, err);
          r.waitFlags &= ~SETTLED_SYNC;
          mode = THROW;
          value = err;
          continue;
        }
      } else if (isThenable(yielded)) {
        r.pending = PROMISE_WAIT;
        try {
          this.waitPromise(yielded);
        } catch (err) {
          r.pending = null;
          mode = THROW;
          value = err;
          continue;
        }
      } else if (isIterator(yielded)) {
        const frameName = frameNameOf(yielded);
        // an async generator's steps are promises: run as a frame, its errors would escape every handler
        const err =
          frameName === 'AsyncGenerator'
            ? new InvalidYieldError(r.frameName, yielded)
            : this.pushFrame(yielded, frameName);
        mode = err === null ? NEXT : THROW;
        value = err ?? undefined;
        continue;
      } else {
        mode = THROW;
        value = new InvalidYieldError(r.frameName, yielded);
        continue;
      }

      if ((r.waitFlags & SETTLED_SYNC) !== 0) {
        r.waitFlags &= ~SETTLED_SYNC;
        mode = r.resumeMode;
        value = r.resumeValue;
        r.resumeValue = undefined;
        continue;
      }
      this.state = WAITING;
      return;
    }
  }

  private frameCount(): number {
    const r = this.r!;
    return r.frame === null ? 0 : 1 + (r.outer === null ? 0 : r.outer.length >> 1);
  }

  /** A frame ended while unwinding: true when it was being unwound (its caller unwinds next). */
  private unwoundCaller(): boolean {
    const below = this.frameCount();
    const r = this.r!;
    if (below + 1 > r.unwindFloor) return false;
    r.unwindFloor = below;
    return true;
  }

  private yieldToEventLoop(mode: number, value: unknown): void {
    const r = this.r!;
    r.resumeMode = mode;
    r.resumeValue = value;
    r.pending = FAIRNESS_WAIT;
    this.waitHandle = setImmediate(resumeAfterFairness, this);
    this.state = WAITING;
  }

  /** Resumes after a fairness yield with the step that was put off. */
  resumeDeferred(): void {
    const r = this.r;
    if (r === null || r.pending !== FAIRNESS_WAIT) return;
    r.pending = null;
    r.waitHandle = null;
    const value = r.resumeValue;
    r.resumeValue = undefined;
    this.resume(r.resumeMode, value);
  }

  private makePromiseCallbacks(r: FiberRun<Fiber<unknown>>): void {
    // forgetPromise() and the fiber's end clear them: a promise left behind then calls back to nothing
    const fulfilled = (value: unknown): void => {
      if (r.onFulfilled === fulfilled) this.settlePromiseWait(r, value, false);
    };
    const rejected = (reason: unknown): void => {
      if (r.onFulfilled === fulfilled) this.settlePromiseWait(r, reason, true);
    };
    r.onFulfilled = fulfilled;
    r.onRejected = rejected;
  }

  /**
   * A promise it waited on settled. A native promise calls back in the async context its `then()` was
   * called in, which was this coroutine's: it resumes with no look at the stores (async-context.ts).
   */
  private settlePromiseWait(r: FiberRun<Fiber<unknown>>, value: unknown, isError: boolean): void {
    if ((r.waitFlags & NATIVE_PROMISE) === 0) {
      this.settleWait(value, isError);
      return;
    }
    r.waitFlags &= ~NATIVE_PROMISE;
    wakeInOwnContext(true);
    try {
      this.settleWait(value, isError);
    } finally {
      wakeInOwnContext(false);
    }
  }

  private abandonWait(): void {
    const r = this.r;
    if (r === null) return;
    const pending = r.pending;
    if (pending === null) return;
    r.pending = null;
    pending.kind.abandon(this, pending.a, pending.b);
    r.waitHandle = null;
    if (r.effectSpan !== null) endEffectSpan(r, ABANDONED);
    // a step put off by the fairness budget, and the value it was to resume with
    if (r.unclaimed !== null) this.giveBackUnclaimed(r.resumeMode, r.resumeValue);
  }

  /** The coroutine unwinds without resuming with the value its last wait settled with: the kind takes it back. */
  private giveBackUnclaimed(mode: number, value: unknown): void {
    const r = this.r!;
    const effect = r.unclaimed!;
    r.unclaimed = null;
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
      this.r!.unwindFloor = this.frameCount();
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
    this.r!.outer = null;
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
    const r = this.r;
    if (r !== null) {
      // a promise it waited on may still call back: its callbacks must find nothing to resume
      r.onFulfilled = null;
      r.onRejected = null;
      if (r.deadlineNode !== null) {
        this.admission.deadlines.remove(r.deadlineNode, r.deadlineMs);
        r.deadlineNode = null;
      }
      this.r = null;
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
    const r = this.r!;
    r.unwindFloor = 0;
    r.frame = releases.run(this);
    r.frameName = this.name;
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

/** The fiber kept for its hidden class and its run state's (shapes.ts): made by the first admission, never run. */
let exemplar: Fiber<unknown> | null = null;

/**
 * Keeps one fiber, with its run state, alive for good (shapes.ts), made the first time with `host`; it is
 * never started, and it is made in an empty async context, so that it holds no store of the caller's.
 */
export function keepFiberShape(host: FiberHost): void {
  if (exemplar !== null) return;
  exemplar = new Fiber<unknown>(host, '(kept for its shape)', null, null, false, 0, emptyAsyncContext());
  // A deadline (Date.now() + ms) is no small integer: the first one stored changes the field's representation,
  // which gives run states a new hidden class and leaves the kept one's behind. Store one here first, before
  // any other fiber exists, so that the kept run state has the hidden class every later one gets.
  exemplar.deadlineAt = 0.5;
  keepShape(exemplar);
  keepCompanionShapes(exemplar);
}

/**
 * Keeps one of each object the fiber paths make besides fibers and groups (shapes.ts), all never used: their
 * maps are embedded in the fiber's optimized code (run, resume, settleWait, the constructors), which a full GC
 * would throw away with any of them. Seen with `--trace-deopt` on bench/runtime's full case list (issue 16).
 */
function keepCompanionShapes(fiber: Fiber<unknown>): void {
  const name = '(kept for its shape)';
  keepShape(new FiberExtras<unknown, Fiber<unknown>>());
  keepShape(new Children<Fiber<unknown>>());
  keepShape(new Releases());
  keepShape(new SettledJoin<unknown>(false, undefined));
  keepShape(new ReturnedTask<unknown>(0, name, fiber, 0, undefined));
  const queue = new LinkedQueue<null>();
  keepShape(queue);
  keepShape(queue.push(null));
  for (const reason of [CancelReason.explicit(name), CancelReason.parent(name), CancelReason.deadline(name)]) {
    keepShape(reason);
    keepShape(cancellationError(name, reason, []));
  }
  keepJoinShape(fiber);
}

/** The fiber keepFiberShape keeps, for a class kept for its shape that holds a fiber (a group's parent). */
export function fiberExemplar(): Fiber<unknown> | null {
  return exemplar;
}

function endEffectSpan(r: FiberRun<Fiber<unknown>>, error: unknown): void {
  const span = r.effectSpan!;
  r.effectSpan = null;
  span.end(error);
}

/** A first step already taken inline: its result again, or its error thrown again, for the run loop. */
function steppedAlready(mode: number, value: unknown): IteratorResult<unknown, unknown> {
  if (mode === STEPPED_THROW) throw value;
  return { done: mode === STEPPED_RETURN, value };
}

/**
 * What a member's first step threw, as it is thrown: V8's stack overflow becomes a StackBudgetError.
 * Out of startMember, whose every call would otherwise allocate the context this closure captures.
 */
function memberError(err: unknown, parent: Fiber<unknown>, name: string, maxDepth: number): unknown {
  return asStackBudget(err, { chain: () => [...parent.chain(), name] }, maxDepth);
}

/** The group member or spawned child whose first step runs inline now; its fiber is made if its code asks for it. */
class MemberStep implements InlineStep {
  parent: Fiber<unknown> | null = null;
  frame: Frame | null = null;
  /** Its name, or its body function, whose name is read only when wanted. */
  named: string | BodyFn = '';
  group: MemberGroup | null = null;
  index = 0;
  depth = 0;
  child: Fiber<unknown> | null = null;

  materialize(): Runnable {
    const group = this.group;
    const observer = group === null ? null : group.observerFor(this.index);
    this.child = this.parent!.makeMember(this.frame!, nameOf(this.named), observer, this.depth);
    return this.child;
  }

  clear(): void {
    this.parent = null;
    this.frame = null;
    this.named = '';
    this.group = null;
    this.child = null;
  }
}

/** A name, or the name of a body function. */
function nameOf(named: string | BodyFn): string {
  return typeof named === 'string' ? named : bodyName(named);
}

/** One for all: a first step inline never starts another inline (startMember and spawnChild check). */
const memberStep = new MemberStep();

function resumeAfterFairness(fiber: Fiber<unknown>): void {
  fiber.resumeDeferred();
}

function reportIfUnobserved(fiber: Fiber<unknown>): void {
  if (!fiber.isObserved) fiber.admission.reportUnhandled(fiber.failureValue, fiber);
}
