import {
  CancelReason,
  InvalidYieldError,
  SelfJoinError,
  StackBudgetError,
  TaskNotFinishedError,
  annotateChain,
  cancellationError,
} from '../errors/index.js';
import { Effect, isIterator, isThenable } from './effect.js';
import type { EffectKind, Operable, Yieldable } from './effect.js';
import type { QueueNode } from './queue.js';
import type { Scheduler } from './scheduler.js';

export type TaskStatus = 'queued' | 'running' | 'waiting' | 'joining' | 'completed' | 'failed' | 'cancelled';

/** Told when a task settles (joins, groups such as race/all, parents). */
export interface TaskObserver {
  onTaskSettled(task: Task<unknown>): void;
}

export type Frame = Iterator<Yieldable, unknown, unknown>;
export type BodyFn = (...args: never[]) => unknown;

// Task.state
const QUEUED = 0;
const READY = 1;
const RUNNING = 2;
const WAITING = 3;
const JOINING = 4;
const DONE = 5;

// how the top frame is resumed
const NEXT = 0;
const THROW = 1;
const RETURN = 2;

// Task.outcome
const PENDING = 0;
const OK = 1;
const FAILED = 2;
const CANCELLED = 3;

const NO_FAILURE: unique symbol = Symbol('no failure');

// ---- trampoline: resumptions requested while a task runs are queued, never nested ----
let trampolineDepth = 0;
let runningTask: Task<unknown> | null = null;

/** The coroutine whose code is running right now, or null outside any coroutine. */
export function currentTask(): Task<unknown> | null {
  return runningTask;
}
const readyQueue: Task<unknown>[] = [];

// Only call when the queue is non-empty: setting `length` is a slow runtime call even on an empty array.
function drainReady(): void {
  for (let i = 0; i < readyQueue.length; i++) {
    const task = readyQueue[i]!;
    if (task.state === READY) task.runQueued();
  }
  readyQueue.length = 0;
}

// ---- fairness: one counter advanced once per event-loop turn in which any task ran ----
let turn = 0;
let turnArmed = false;

function advanceTurn(): void {
  turn++;
  turnArmed = false;
}

function armTurn(): void {
  turnArmed = true;
  setImmediate(advanceTurn).unref();
}

let nextTaskId = 1;

/** The parts of a Task that most coroutines never use. */
class TaskExtras<T> {
  failure: unknown = NO_FAILURE;
  cleanupErrors: unknown[] | null = null;
  children: Set<Task<unknown>> | null = null;
  observers: TaskObserver[] | null = null;
  promise: Promise<T> | null = null;
  settlePromise: ((outcome: number, value: unknown) => void) | null = null;
  queueNode: QueueNode<Task<unknown>> | null = null;
  deferredFn: BodyFn | null = null;
  deferredArgs: readonly unknown[] | null = null;
  cleanups: Array<() => void> | null = null;
}

/**
 * A running coroutine: a stack of generator frames driven by the scheduler.
 * Awaitable (`await task`), joinable inside coroutines (`yield* task`), cancellable.
 */
export class Task<T> implements Promise<T>, Operable<T> {
  readonly id: number;
  readonly name: string;
  readonly scheduler: Scheduler;
  readonly parent: Task<unknown> | null;
  /** Owned by an effect (race/all/timeout) that handles its outcome; its errors never bubble. */
  readonly scoped: boolean;

  /** @internal */ state = QUEUED;
  private outcome = PENDING;
  private settledValue: unknown = undefined;

  // frames: the running generator, and the ones below it as [frame, name, frame, name, ...]
  private frame: Frame | null;
  private frameName: string;
  private outer: Array<Frame | string> | null = null;
  /** Frames of ancestors when this task was spawned; counts against maxDepth. */
  readonly baseDepth: number;

  /** The effect this task waits on, or null. Effect kinds keep their per-wait state in `waitHandle`. */
  pending: Effect<unknown> | null = null;
  waitHandle: unknown = null;
  private resumeMode = NEXT;
  private resumeValue: unknown = undefined;
  private settledSync = false;
  private onFulfilled: ((value: unknown) => void) | null = null;
  private onRejected: ((reason: unknown) => void) | null = null;

  private cancelReason: CancelReason | null = null;
  private unwinding = false;
  private turnSeen = -1;
  private turnSteps = 0;

  /** @internal */ deadlineAt = 0;
  private deadlineMs = 0;
  private deadlineNode: QueueNode<Task<unknown>> | null = null;
  /** What most coroutines never need, allocated on first use. */
  private extras: TaskExtras<T> | null = null;
  /** @internal Its place in the scheduler's list of roots (null for a child, or once settled). */
  rootNode: QueueNode<Task<unknown>> | null = null;
  /** Someone takes its outcome (a promise, an observer, a join): its failure is not reported as unhandled. */
  private observed = false;

  /** @internal use Scheduler.go / spawn */
  constructor(scheduler: Scheduler, name: string, body: Frame | null, parent: Task<unknown> | null, scoped: boolean) {
    this.id = nextTaskId++;
    this.scheduler = scheduler;
    this.name = name;
    this.frameName = name;
    this.frame = body;
    this.parent = parent;
    this.scoped = scoped;
    this.baseDepth = parent === null ? 0 : parent.depth;
  }

  private more(): TaskExtras<T> {
    if (this.extras === null) this.extras = new TaskExtras<T>();
    return this.extras;
  }

  // ------------------------------------------------------------------ public surface

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

  /** Nesting depth: frames of this task plus those of its ancestors at spawn time. */
  get depth(): number {
    return this.baseDepth + 1 + (this.outer === null ? 0 : this.outer.length >> 1);
  }

  /** True once cancellation has been requested (the coroutine may still be running its finally blocks). */
  get cancelling(): boolean {
    return this.cancelReason !== null;
  }

  get reason(): CancelReason | null {
    return this.cancelReason;
  }

  /** The value it returned; throws what it failed with. Only when done. */
  get result(): T {
    if (this.state !== DONE) throw new TaskNotFinishedError(this.name);
    if (this.outcome === OK) return this.settledValue as T;
    throw this.settledValue;
  }

  /** The root coroutine this one runs under (itself for a root). */
  get root(): Task<unknown> {
    let task: Task<unknown> = this as Task<unknown>;
    while (task.parent !== null) task = task.parent;
    return task;
  }

  /**
   * Runs `cleanup` when this coroutine has finished, however it ended (before anyone awaiting it
   * hears of it). For resources that belong to a coroutine, e.g. a socket nobody closed.
   */
  addCleanup(cleanup: () => void): void {
    if (this.state === DONE) {
      cleanup();
      return;
    }
    const extras = this.more();
    if (extras.cleanups === null) extras.cleanups = [cleanup];
    else extras.cleanups.push(cleanup);
  }

  removeCleanup(cleanup: () => void): void {
    const cleanups = this.extras?.cleanups;
    if (cleanups == null) return;
    const i = cleanups.lastIndexOf(cleanup);
    if (i >= 0) cleanups.splice(i, 1);
  }

  /** Names from the root coroutine down to the frame running now. */
  chain(): string[] {
    const own: string[] = [];
    if (this.outer !== null) for (let i = 1; i < this.outer.length; i += 2) own.push(this.outer[i] as string);
    own.push(this.frameName);
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

  /** A promise of the outcome, created on first use. */
  toPromise(): Promise<T> {
    this.observed = true;
    const extras = this.more();
    if (extras.promise === null) {
      extras.promise = new Promise<T>((resolve, reject) => {
        extras.settlePromise = (outcome, value) => (outcome === OK ? resolve(value as T) : reject(value));
      });
      if (this.state === DONE) this.notifyPromise();
    }
    return extras.promise;
  }

  /** `yield* task` waits for it inside another coroutine and returns its value (or throws its error). */
  [Symbol.iterator](): Iterator<Yieldable, T, unknown> {
    return new Effect<T>(JOIN, this)[Symbol.iterator]();
  }

  // ------------------------------------------------------------------ for effect kinds

  /**
   * Ends the current wait: resumes the coroutine with `value`, or throws `value` into it.
   * Ignored when the task is not waiting (a late callback after abandonment).
   */
  settleWait(value: unknown, isError: boolean): void {
    if (this.pending === null) return;
    this.pending = null;
    this.waitHandle = null;
    if (this.state === RUNNING) {
      // settled synchronously from inside kind.start(): the run loop picks it up
      this.settledSync = true;
      this.resumeMode = isError ? THROW : NEXT;
      this.resumeValue = value;
      return;
    }
    this.resume(isError ? THROW : NEXT, value);
  }

  /** Waits on a promise with this task's reusable callbacks (no closure per step). */
  waitPromise(promise: PromiseLike<unknown>): void {
    if (this.onFulfilled === null) this.makePromiseCallbacks();
    promise.then(this.onFulfilled, this.onRejected);
  }

  /** Called when a promise wait is abandoned: the old callbacks become inert. */
  forgetPromise(): void {
    this.onFulfilled = null;
    this.onRejected = null;
  }

  markObserved(): void {
    this.observed = true;
  }

  addObserver(observer: TaskObserver): void {
    this.observed = true;
    const extras = this.more();
    if (extras.observers === null) extras.observers = [observer];
    else extras.observers.push(observer);
  }

  removeObserver(observer: TaskObserver): void {
    const observers = this.extras?.observers;
    if (observers == null) return;
    const i = observers.indexOf(observer);
    if (i >= 0) observers.splice(i, 1);
  }

  /** The settled outcome as [isError, value]: cancelled tasks give a CancelledError. */
  outcomeForObserver(): [boolean, unknown] {
    return [this.outcome !== OK, this.settledValue];
  }

  /** Spawns a child task under this one, from a body function and its arguments or from a frame. */
  spawnChild<R>(
    fn: BodyFn | null,
    args: readonly unknown[] | null,
    body: Frame | null,
    name: string,
    scoped: boolean,
  ): Task<R> {
    const maxDepth = this.scheduler.maxDepth;
    if (this.depth + 1 > maxDepth) throw new StackBudgetError([...this.chain(), name], maxDepth);
    const child = new Task<R>(this.scheduler, name, body ?? makeBody(fn!, args!), this, scoped);
    const extras = this.more();
    if (extras.children === null) extras.children = new Set();
    extras.children.add(child);
    this.scheduler.onChildStarted(child.depth);
    child.start();
    if (this.cancelReason !== null) child.requestCancel(CancelReason.parent(), NO_FAILURE);
    return child;
  }

  // ------------------------------------------------------------------ lifecycle (scheduler)

  /** @internal */
  armDeadline(ms: number): void {
    if (ms > 0 && Number.isFinite(ms)) {
      this.deadlineMs = ms;
      this.deadlineNode = this.scheduler.deadlines.add(this, ms);
    }
  }

  /**
   * Takes this coroutine's overall deadline away (a stream that keeps making progress hands over to an
   * IdleTimeout instead). Returns the ms it had, 0 for none.
   */
  clearDeadline(): number {
    const ms = this.deadlineNode === null ? 0 : this.deadlineMs;
    if (this.deadlineNode !== null) {
      this.scheduler.deadlines.remove(this.deadlineNode, this.deadlineMs);
      this.deadlineNode = null;
    }
    return ms;
  }

  /** @internal The deadline list says the deadline passed. */
  expire(ms: number): void {
    this.deadlineNode = null;
    this.requestCancel(CancelReason.deadline(`deadline of ${ms} ms passed`), NO_FAILURE);
  }

  /** @internal Keeps the body of a queued root until it is admitted. */
  deferBody(fn: BodyFn | null, args: readonly unknown[] | null, node: QueueNode<Task<unknown>>): void {
    const extras = this.more();
    extras.deferredFn = fn;
    extras.deferredArgs = args;
    extras.queueNode = node;
  }

  /** @internal Takes a queued root out of the wait queue bookkeeping; returns its node. */
  leaveQueue(): QueueNode<Task<unknown>> | null {
    const extras = this.extras;
    if (extras === null) return null;
    const node = extras.queueNode;
    extras.queueNode = null;
    extras.deferredFn = null;
    extras.deferredArgs = null;
    return node;
  }

  /** @internal Runs the body up to its first wait (creating it first for a root that was queued). */
  start(): void {
    const extras = this.extras;
    if (extras !== null && extras.queueNode !== null) {
      const fn = extras.deferredFn;
      const args = extras.deferredArgs;
      this.leaveQueue();
      if (fn !== null) this.frame = makeBody(fn, args!);
    }
    this.scheduler.live++;
    this.resume(NEXT, undefined);
  }

  /** @internal Runs the task now, or queues it when another task is running (the trampoline). */
  resume(mode: number, value: unknown): void {
    if (trampolineDepth > 0) {
      this.state = READY;
      this.resumeMode = mode;
      this.resumeValue = value;
      readyQueue.push(this);
      return;
    }
    if (!turnArmed) armTurn();
    trampolineDepth++;
    try {
      this.run(mode, value);
      if (readyQueue.length !== 0) drainReady();
    } finally {
      trampolineDepth--;
      runningTask = null;
    }
  }

  /** @internal */
  runQueued(): void {
    const value = this.resumeValue;
    this.resumeValue = undefined;
    this.run(this.resumeMode, value);
  }

  /** @internal The run loop: drive the top frame until it waits or the body ends. */
  run(mode: number, value: unknown): void {
    this.state = RUNNING;
    runningTask = this as Task<unknown>;
    const fairnessSteps = this.scheduler.fairnessSteps;
    for (;;) {
      if (this.cancelReason !== null && !this.unwinding) {
        this.unwinding = true;
        mode = RETURN;
        value = undefined;
      }
      if (this.turnSeen !== turn) {
        this.turnSeen = turn;
        this.turnSteps = 0;
      } else if (++this.turnSteps > fairnessSteps) {
        this.yieldToEventLoop(mode, value);
        return;
      }

      const frame = this.frame!;
      let res: IteratorResult<Yieldable, unknown>;
      try {
        res = mode === NEXT ? frame.next(value) : mode === THROW ? frame.throw!(value) : frame.return!(value);
      } catch (thrown) {
        const err = asStackBudget(thrown, this);
        annotateChain(err, this.chain());
        if (!this.popFrame()) {
          this.bodyEnded(true, err);
          return;
        }
        if (this.unwinding) {
          this.recordCleanupError(err);
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
        if (!this.popFrame()) {
          this.bodyEnded(false, value);
          return;
        }
        mode = this.unwinding ? RETURN : NEXT;
        continue;
      }

      const yielded = res.value;
      if (this.cancelReason !== null && !this.unwinding) continue;
      if (yielded instanceof Effect) {
        this.pending = yielded;
        try {
          yielded.kind.start(this, yielded);
        } catch (err) {
          if (this.pending === yielded) this.pending = null;
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

  /** Pushes a frame (call of a generator); returns the error to throw into the caller instead, if any. */
  pushFrame(frame: Frame, name: string): StackBudgetError | null {
    const depth = this.depth + 1;
    const maxDepth = this.scheduler.maxDepth;
    if (depth > maxDepth) return new StackBudgetError([...this.chain(), name], maxDepth);
    this.scheduler.noteDepth(depth);
    if (this.outer === null) this.outer = [];
    this.outer.push(this.frame!, this.frameName);
    this.frame = frame;
    this.frameName = name;
    return null;
  }

  private popFrame(): boolean {
    const outer = this.outer;
    if (outer === null || outer.length === 0) {
      this.frame = null;
      return false;
    }
    this.frameName = outer.pop() as string;
    this.frame = outer.pop() as Frame;
    return true;
  }

  private yieldToEventLoop(mode: number, value: unknown): void {
    this.resumeMode = mode;
    this.resumeValue = value;
    this.pending = FAIRNESS_WAIT;
    this.waitHandle = setImmediate(resumeAfterFairness, this);
    this.state = WAITING;
  }

  /** @internal Resumes after a fairness yield with the step that was put off. */
  resumeDeferred(): void {
    if (this.pending !== FAIRNESS_WAIT) return;
    this.pending = null;
    this.waitHandle = null;
    const value = this.resumeValue;
    this.resumeValue = undefined;
    this.resume(this.resumeMode, value);
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
    pending.kind.abandon(this, pending);
    this.waitHandle = null;
  }

  /** @internal Cancel with a reason; `failure` set means "abort because a child failed". */
  requestCancel(reason: CancelReason, failure: unknown): void {
    if (this.state === DONE) return;
    if (this.cancelReason !== null) {
      // Cancelled once already: cleanup runs on, but a deadline still bounds it.
      if (reason.kind === 'deadline') this.interruptCleanup();
      return;
    }
    this.cancelReason = reason;
    if (failure !== NO_FAILURE) this.more().failure = failure;
    if (this.state === QUEUED) {
      this.scheduler.dequeue(this);
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

  private interruptCleanup(): void {
    const children = this.extras?.children;
    if (children != null) for (const child of children) child.interruptCleanup();
    if (this.state === WAITING && this.cancelReason !== null) {
      this.abandonWait();
      this.resume(RETURN, undefined);
    }
  }

  private cancelChildren(reason: CancelReason): void {
    const children = this.extras?.children;
    if (children == null || children.size === 0) return;
    for (const child of [...children]) child.requestCancel(reason, NO_FAILURE);
  }

  private recordCleanupError(err: unknown): void {
    const extras = this.more();
    if (extras.cleanupErrors === null) extras.cleanupErrors = [];
    extras.cleanupErrors.push(err);
  }

  private bodyEnded(threw: boolean, value: unknown): void {
    this.outer = null;
    if (this.cancelReason !== null) {
      if (threw) this.recordCleanupError(value);
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

  /** @internal Told by a child that it settled. */
  childSettled(child: Task<unknown>, bubble: boolean): void {
    const extras = this.more();
    const children = extras.children!;
    children.delete(child);
    if (bubble && this.state !== DONE && extras.failure === NO_FAILURE && this.outcome !== FAILED) {
      const err = child.settledValue;
      if (this.state === JOINING) {
        this.outcome = FAILED;
        this.settledValue = err;
        this.cancelChildren(CancelReason.parent(`sibling '${child.name}' failed`));
      } else {
        this.requestCancel(CancelReason.parent(`child '${child.name}' failed`), err);
      }
    }
    if (this.state === JOINING && children.size === 0) this.finish();
  }

  private settle(outcome: number, value: unknown): void {
    this.outcome = outcome;
    this.settledValue = value;
    this.finish();
  }

  private finish(): void {
    if (this.outcome === CANCELLED) {
      this.settledValue = cancellationError(this.name, this.cancelReason!, this.extras?.cleanupErrors ?? []);
    }
    const wasStarted = this.state !== QUEUED;
    this.state = DONE;
    this.frame = null;
    this.onFulfilled = null;
    this.onRejected = null;
    if (this.deadlineNode !== null) {
      this.scheduler.deadlines.remove(this.deadlineNode, this.deadlineMs);
      this.deadlineNode = null;
    }
    const extras = this.extras;
    const bubble = this.outcome === FAILED && !this.scoped && !this.observed;
    if (extras !== null && extras.cleanups !== null) this.runCleanups(extras.cleanups);
    this.scheduler.onTaskDone(this, wasStarted, this.outcome === FAILED, this.outcome === CANCELLED);
    if (extras !== null) {
      const observers = extras.observers;
      if (observers !== null) {
        extras.observers = null;
        for (const observer of observers) observer.onTaskSettled(this);
      }
      if (extras.promise !== null) this.notifyPromise();
    }
    if (this.parent !== null) this.parent.childSettled(this, bubble);
    else if (bubble) setImmediate(reportIfUnobserved, this);
  }

  private runCleanups(cleanups: Array<() => void>): void {
    this.extras!.cleanups = null;
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch (err) {
        this.scheduler.reportUnhandled(err, this as Task<unknown>);
      }
    }
  }

  private notifyPromise(): void {
    const extras = this.extras!;
    const settlePromise = extras.settlePromise;
    if (settlePromise === null) return;
    extras.settlePromise = null;
    settlePromise(this.outcome, this.settledValue);
  }

  /** @internal */
  get isObserved(): boolean {
    return this.observed;
  }

  /** @internal Error or value a root failure was reported with. */
  get failureValue(): unknown {
    return this.settledValue;
  }
}

function resumeAfterFairness(task: Task<unknown>): void {
  task.resumeDeferred();
}

function reportIfUnobserved(task: Task<unknown>): void {
  if (!task.isObserved) task.scheduler.reportUnhandled(task.failureValue, task);
}

function* returnValue(value: unknown): Generator<never, unknown, unknown> {
  return value;
}

function* awaitValue(promise: PromiseLike<unknown>): Generator<Yieldable, unknown, unknown> {
  return yield promise;
}

function* throwError(err: unknown): Generator<never, never, unknown> {
  throw err;
}

export function makeBody(fn: BodyFn, args: readonly unknown[]): Frame {
  let body: unknown;
  try {
    body = (fn as (...a: readonly unknown[]) => unknown)(...args);
  } catch (err) {
    return throwError(err);
  }
  if (isIterator(body)) return body;
  if (isThenable(body)) return awaitValue(body);
  return returnValue(body);
}

function frameNameOf(frame: Frame): string {
  const tag = (frame as { [Symbol.toStringTag]?: string })[Symbol.toStringTag];
  return tag && tag !== 'Generator' ? tag : 'generator';
}

function asStackBudget(err: unknown, task: Task<unknown>): unknown {
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new StackBudgetError(task.chain(), task.scheduler.maxDepth, { cause: err });
  }
  return err;
}

// ---- the effect kinds the runner itself needs ----

const PROMISE_KIND: EffectKind = {
  name: 'promise',
  start() {},
  abandon(task) {
    task.forgetPromise();
  },
};
const PROMISE_WAIT = new Effect<unknown>(PROMISE_KIND);

const FAIRNESS_KIND: EffectKind = {
  name: 'fairness',
  start() {},
  abandon(task) {
    clearImmediate(task.waitHandle as NodeJS.Immediate);
  },
};
const FAIRNESS_WAIT = new Effect<unknown>(FAIRNESS_KIND);

class JoinObserver implements TaskObserver {
  constructor(readonly joiner: Task<unknown>) {}
  onTaskSettled(task: Task<unknown>): void {
    const [isError, value] = task.outcomeForObserver();
    this.joiner.settleWait(value, isError);
  }
}

/** `yield* task`: wait for another task. */
const JOIN: EffectKind = {
  name: 'join',
  start(task, effect) {
    const target = effect.a as Task<unknown>;
    for (let t: Task<unknown> | null = task; t !== null; t = t.parent) {
      if (t === target) throw new SelfJoinError(task.name, target.name);
    }
    if (target.done) {
      target.markObserved();
      const [isError, value] = target.outcomeForObserver();
      task.settleWait(value, isError);
      return;
    }
    const observer = new JoinObserver(task);
    task.waitHandle = observer;
    target.addObserver(observer);
  },
  abandon(task, effect) {
    (effect.a as Task<unknown>).removeObserver(task.waitHandle as TaskObserver);
  },
};

export { NO_FAILURE };
