import {
  BudgetExceededError,
  CancelReason,
  InvalidArgumentError,
  coroutineChain,
  formatChain,
} from '../errors/index.js';
import { abortReason, cancelOnAbort, checkSignal } from './abort-signal.js';
import { DeadlineList } from './deadlines.js';
import { Effect, isIterator } from './effect.js';
import { frameOf } from './effects/operand.js';
import { bodyName, bodyRefusal, makeBody } from './frames.js';
import { LinkedQueue } from './queue.js';
import { SiblingList } from './sibling-list.js';
import { Fiber, keepFiberShape } from './task.js';
import type { FiberHost } from './task.js';
import type { Body, Task } from './types.js';

export interface AdmissionOptions {
  /** Shown in errors and stats. */
  name?: string;
  /** Most root coroutines running at once (children run inside their root's slot). Default 10,000. */
  concurrency?: number;
  /** Roots that may wait for a slot; past it `go` throws BudgetExceededError. Default 10,000. */
  backlog?: number;
  /** Longest chain of call/spawn nesting. Default 64. */
  maxDepth?: number;
  /** Steps a coroutine may take in one event-loop turn before it is moved behind I/O. Default 1,000. */
  fairnessSteps?: number;
  /** Default deadline of a root coroutine in ms (0: none). Default 60,000, like OpenResty's socket timeouts. */
  deadline?: number;
  /** Longest wait in the queue in ms before a root is cancelled with reason 'budget' (0: only the deadline). */
  queueTimeout?: number;
  /** Where failures of root coroutines that nobody awaited go. Default: console.error with the chain. */
  onUnhandledError?: (err: unknown, task: Task<unknown>) => void;
}

/** Options of `goWith()` and `scheduler.start()`: a name, a deadline, an AbortSignal that cancels the coroutine. */
export interface StartOptions {
  name?: string;
  /** Deadline in ms for this root (0: none). Defaults to the scheduler's. */
  deadline?: number;
  /**
   * Cancels the root (reason `explicit`, the signal's reason as its text) when it aborts; one aborted
   * already gives a task cancelled before its body ran. The listener goes when the task ends.
   */
  signal?: AbortSignal;
}

export interface AdmissionStats {
  name: string;
  /** Coroutines started and not yet settled (roots and children). */
  live: number;
  liveRoots: number;
  queued: number;
  started: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Cancelled by their own deadline (also counted in cancelled). */
  timedOut: number;
  /** Refused by the budget: both the slots and the queue were full. */
  rejected: number;
  deepestChain: number;
  limits: { concurrency: number; backlog: number; maxDepth: number; fairnessSteps: number; deadline: number };
}

function checkCount(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return Infinity;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `scheduler option '${name}' must be an integer >= ${min} or Infinity, got ${String(value)}`,
    );
  }
  return value;
}

function checkMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new InvalidArgumentError(`'${name}' must be a number of milliseconds >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * Admits coroutines under explicit budgets: concurrency with a bounded wait queue, nesting depth,
 * fairness, deadlines; and counts them. One per process is usual (`defaultScheduler`); tests make
 * their own. Exported as `Scheduler` (scheduler.ts).
 */
export class Admission implements FiberHost {
  readonly name: string;
  readonly concurrency: number;
  readonly backlog: number;
  readonly maxDepth: number;
  readonly fairnessSteps: number;
  readonly deadline: number;
  readonly queueTimeout: number;
  private readonly onUnhandledError: (err: unknown, task: Task<unknown>) => void;

  /** @internal */ readonly deadlines = new DeadlineList<Fiber<unknown>>();
  private live = 0;
  private liveRoots = 0;
  private readonly queue = new LinkedQueue<Fiber<unknown>>();
  /** Roots started or queued and not yet settled; a linked list, as a Set would hash every task it holds. */
  private readonly roots = new SiblingList<Fiber<unknown>>();
  private started = 0;
  private completed = 0;
  private failed = 0;
  private cancelled = 0;
  private timedOut = 0;
  private rejected = 0;
  private deepestChain = 0;

  constructor(options: AdmissionOptions = {}) {
    this.name = options.name ?? 'default';
    this.concurrency = checkCount('concurrency', options.concurrency, 10_000, 1);
    this.backlog = checkCount('backlog', options.backlog, 10_000, 0);
    this.maxDepth = checkCount('maxDepth', options.maxDepth, 64, 1);
    this.fairnessSteps = checkCount('fairnessSteps', options.fairnessSteps, 1_000, 1);
    this.deadline = checkMs('deadline', options.deadline, 60_000);
    this.queueTimeout = checkMs('queueTimeout', options.queueTimeout, 0);
    this.onUnhandledError = options.onUnhandledError ?? logUnhandled;
    // the first admission (the default scheduler's, made on import) makes the fiber kept for its shape
    keepFiberShape(this);
  }

  /** Starts a root coroutine: `go(function* (a, b) { ... }, a, b)`. Throws BudgetExceededError when full. */
  go<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Task<T> {
    return this.start({}, body, ...args);
  }

  /** `go` with a name and deadline. */
  start<T, A extends unknown[]>(options: StartOptions, body: Body<T, A>, ...args: A): Task<T> {
    const admitNow = this.liveRoots < this.concurrency;
    if (!admitNow && this.queue.length >= this.backlog) {
      this.rejected++;
      throw new BudgetExceededError(this.name, this.concurrency, this.queue.length);
    }
    // an effect given as the body is run by a frame that yields it: iterating it directly would end at once
    const runs: Body<T, A> = body instanceof Effect ? (frameOf(body) as Body<T, A>) : body;
    const refusal = bodyRefusal('go', runs);
    const isFrame = isIterator(runs);
    // (the second test never holds once bodyRefusal passed: it is there for the type)
    if (refusal !== null || (!isFrame && typeof runs !== 'function')) throw refusal!;
    const deadline =
      options.deadline === undefined ? this.deadline : checkMs('deadline', options.deadline, this.deadline);
    const name = options.name ?? bodyName(body);
    const signal = options.signal;
    if (signal !== undefined) {
      checkSignal(signal);
      if (signal.aborted) return this.cancelledAtOnce<T>(name, signal);
    }
    let fiber: Fiber<T>;
    if (admitNow) {
      fiber = new Fiber<T>(this, name, isFrame ? runs : makeBody(runs, args), null, false);
    } else {
      fiber = new Fiber<T>(this, name, isFrame ? runs : null, null, false);
      fiber.deferBody(isFrame ? null : runs, isFrame ? null : args, this.queue.push(fiber));
      if (this.queueTimeout > 0) setTimeout(expireQueued, this.queueTimeout, fiber, this.queueTimeout).unref();
    }
    fiber.armDeadline(deadline);
    this.roots.add(fiber);
    if (signal !== undefined) cancelOnAbort(fiber, signal);
    if (admitNow) this.startRoot(fiber);
    return fiber;
  }

  /** A root whose signal aborted before it started: cancelled without its body ever being called. */
  private cancelledAtOnce<T>(name: string, signal: AbortSignal): Task<T> {
    const fiber = new Fiber<T>(this, name, null, null, false);
    this.roots.add(fiber);
    fiber.cancel(abortReason(signal));
    return fiber;
  }

  /** A snapshot of the counters. */
  stats(): AdmissionStats {
    return {
      name: this.name,
      live: this.live,
      liveRoots: this.liveRoots,
      queued: this.queue.length,
      started: this.started,
      completed: this.completed,
      failed: this.failed,
      cancelled: this.cancelled,
      timedOut: this.timedOut,
      rejected: this.rejected,
      deepestChain: this.deepestChain,
      limits: {
        concurrency: this.concurrency,
        backlog: this.backlog,
        maxDepth: this.maxDepth,
        fairnessSteps: this.fairnessSteps,
        deadline: this.deadline,
      },
    };
  }

  /** Cancels every root (queued ones first, so none starts) — e.g. after a shutdown grace period. */
  cancelAll(reason: CancelReason = CancelReason.explicit('scheduler shutting down')): void {
    for (const fiber of [...this.queue]) fiber.cancel(reason);
    for (const fiber of this.roots.snapshot()) fiber.cancel(reason);
  }

  /** Root coroutines started or queued and not yet settled. */
  get pendingRoots(): number {
    return this.roots.size;
  }

  private startRoot(fiber: Fiber<unknown>): void {
    this.liveRoots++;
    this.started++;
    this.live++;
    fiber.start();
  }

  private leaveRoots(fiber: Fiber<unknown>): void {
    this.roots.remove(fiber);
  }

  // ---- FiberHost: told by the fibers it admitted ----

  /** @internal */
  dequeue(fiber: Fiber<unknown>): void {
    const node = fiber.leaveQueue();
    if (node !== null) this.queue.remove(node);
  }

  /** @internal */
  noteDepth(depth: number): void {
    if (depth > this.deepestChain) this.deepestChain = depth;
  }

  /** @internal A group member that ended in its first step, before it needed a fiber: counted as a child. */
  memberEndedInline(depth: number, failed: boolean): void {
    this.started++;
    this.noteDepth(depth);
    if (failed) this.failed++;
    else this.completed++;
  }

  /** @internal */
  childStarted(depth: number): void {
    this.started++;
    this.live++;
    this.noteDepth(depth);
  }

  /** @internal */
  fiberDone(fiber: Fiber<unknown>, wasStarted: boolean, failed: boolean, cancelled: boolean): void {
    if (failed) this.failed++;
    else if (cancelled) {
      this.cancelled++;
      if (fiber.reason?.kind === 'deadline') this.timedOut++;
    } else this.completed++;
    if (!wasStarted) {
      this.leaveRoots(fiber);
      return;
    }
    this.live--;
    if (fiber.parent !== null) return;
    this.leaveRoots(fiber);
    this.liveRoots--;
    while (this.liveRoots < this.concurrency && this.queue.length > 0) this.startRoot(this.queue.shift()!);
  }

  /** @internal */
  reportUnhandled(err: unknown, task: Task<unknown>): void {
    try {
      this.onUnhandledError(err, task);
    } catch {
      // a failing reporter must not take the process down
    }
  }
}

function expireQueued(task: Task<unknown>, ms: number): void {
  if (task.status === 'queued') {
    task.cancel(CancelReason.budget(`waited ${ms} ms in the queue for a slot`));
  }
}

function logUnhandled(err: unknown, task: Task<unknown>): void {
  const chain = coroutineChain(err) ?? task.chain();
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(`cosocket: coroutine '${task.name}' failed and nobody awaited it (${formatChain(chain)}):\n${text}`);
}
