import {
  BudgetExceededError,
  CancelReason,
  InvalidArgumentError,
  coroutineChain,
  formatChain,
} from '../errors/index.js';
import { isIterator } from './effect.js';
import { LinkedQueue } from './queue.js';
import { DeadlineList } from './deadlines.js';
import { Task, makeBody } from './task.js';
import type { BodyFn, Frame } from './task.js';

export interface SchedulerOptions {
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

export interface StartOptions {
  name?: string;
  /** Deadline in ms for this root (0: none). Defaults to the scheduler's. */
  deadline?: number;
}

export interface SchedulerStats {
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

/**
 * Anything that can be the body of a coroutine: a generator function (or a generator) — what it
 * yields is checked at run time — or a function returning a promise or a value.
 */
export type Body<T, A extends unknown[]> =
  ((...args: A) => Iterator<unknown, T, unknown> | PromiseLike<T> | T) | Iterator<unknown, T, unknown>;

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

export function bodyName(body: unknown, fallback = 'anonymous'): string {
  return typeof body === 'function' && body.name ? body.name : fallback;
}

/**
 * Runs coroutines under explicit budgets: concurrency with a bounded wait queue, nesting depth,
 * fairness, deadlines. One per process is usual (`defaultScheduler`); tests make their own.
 */
export class Scheduler {
  readonly name: string;
  readonly concurrency: number;
  readonly backlog: number;
  readonly maxDepth: number;
  readonly fairnessSteps: number;
  readonly deadline: number;
  readonly queueTimeout: number;
  private readonly onUnhandledError: (err: unknown, task: Task<unknown>) => void;

  /** @internal */ live = 0;
  /** @internal */ readonly deadlines = new DeadlineList<Task<unknown>>();
  private liveRoots = 0;
  private readonly queue = new LinkedQueue<Task<unknown>>();
  /** Roots started or queued and not yet settled; a linked list, as a Set would hash every task it holds. */
  private readonly roots = new LinkedQueue<Task<unknown>>();
  private started = 0;
  private completed = 0;
  private failed = 0;
  private cancelled = 0;
  private timedOut = 0;
  private rejected = 0;
  private deepestChain = 0;

  constructor(options: SchedulerOptions = {}) {
    this.name = options.name ?? 'default';
    this.concurrency = checkCount('concurrency', options.concurrency, 10_000, 1);
    this.backlog = checkCount('backlog', options.backlog, 10_000, 0);
    this.maxDepth = checkCount('maxDepth', options.maxDepth, 64, 1);
    this.fairnessSteps = checkCount('fairnessSteps', options.fairnessSteps, 1_000, 1);
    this.deadline = checkMs('deadline', options.deadline, 60_000);
    this.queueTimeout = checkMs('queueTimeout', options.queueTimeout, 0);
    this.onUnhandledError = options.onUnhandledError ?? logUnhandled;
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
    const isFrame = isIterator(body);
    if (!isFrame && typeof body !== 'function') {
      throw new InvalidArgumentError(
        `go() needs a generator function or a generator, got ${body === null ? 'null' : typeof body}`,
      );
    }
    const deadline =
      options.deadline === undefined ? this.deadline : checkMs('deadline', options.deadline, this.deadline);
    const name = options.name ?? bodyName(body);
    let task: Task<T>;
    if (admitNow) {
      task = new Task<T>(this, name, isFrame ? (body as Frame) : makeBody(body as BodyFn, args), null, false);
    } else {
      task = new Task<T>(this, name, isFrame ? (body as Frame) : null, null, false);
      task.deferBody(isFrame ? null : (body as BodyFn), isFrame ? null : args, this.queue.push(task));
      if (this.queueTimeout > 0) setTimeout(expireQueued, this.queueTimeout, task, this.queueTimeout).unref();
    }
    task.armDeadline(deadline);
    task.rootNode = this.roots.push(task);
    if (admitNow) {
      this.liveRoots++;
      this.started++;
      task.start();
    }
    return task;
  }

  /** A snapshot of the counters. */
  stats(): SchedulerStats {
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
    for (const task of [...this.queue]) task.cancel(reason);
    for (const task of [...this.roots]) task.cancel(reason);
  }

  /** Root coroutines started or queued and not yet settled. */
  get pendingRoots(): number {
    return this.roots.length;
  }

  private leaveRoots(task: Task<unknown>): void {
    if (task.rootNode === null) return;
    this.roots.remove(task.rootNode);
    task.rootNode = null;
  }

  // ---- called by Task ----

  /** @internal */
  dequeue(task: Task<unknown>): void {
    const node = task.leaveQueue();
    if (node !== null) this.queue.remove(node);
  }

  /** @internal */
  noteDepth(depth: number): void {
    if (depth > this.deepestChain) this.deepestChain = depth;
  }

  /** @internal */
  onChildStarted(depth: number): void {
    this.started++;
    this.noteDepth(depth);
  }

  /** @internal */
  onTaskDone(task: Task<unknown>, wasStarted: boolean, failed: boolean, cancelled: boolean): void {
    if (failed) this.failed++;
    else if (cancelled) {
      this.cancelled++;
      if (task.reason?.kind === 'deadline') this.timedOut++;
    } else this.completed++;
    if (!wasStarted) {
      this.leaveRoots(task);
      return;
    }
    this.live--;
    if (task.parent !== null) return;
    this.leaveRoots(task);
    this.liveRoots--;
    while (this.liveRoots < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.liveRoots++;
      this.started++;
      next.start();
    }
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

/** The scheduler `go`, `spawnDetached` and the server use unless told otherwise. */
export const defaultScheduler = new Scheduler({ name: 'default' });
