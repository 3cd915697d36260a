import type { CancelReason } from '../errors/index.js';

/** Where a task is in its life: queued for a budget, running, waiting, joining, or settled. */
export type TaskStatus = 'queued' | 'running' | 'waiting' | 'joining' | 'completed' | 'failed' | 'cancelled';

/** Told when a task settles (joins, groups such as race/all, parents). */
export interface TaskObserver {
  onTaskSettled(task: Task<unknown>): void;
}

/**
 * A running coroutine, as `go()` returns it. Awaitable (`await task`), joinable inside coroutines
 * (`yield* task`), cancellable. An interface: the fiber behind it is not exported.
 */
export interface Task<T> extends Promise<T>, Operable<T> {
  readonly id: number;
  readonly name: string;
  readonly status: TaskStatus;
  readonly done: boolean;
  /** The value it returned; throws what it failed with. Only when done. */
  readonly result: T;
  /** True once cancellation has been requested (the coroutine may still be running its finally blocks). */
  readonly cancelling: boolean;
  readonly reason: CancelReason | null;
  readonly parent: Task<unknown> | null;
  /** The root coroutine this one runs under (itself for a root). */
  readonly root: Task<unknown>;
  /** Nesting depth: frames of this task plus those of its ancestors at spawn time. */
  readonly depth: number;
  /** When its deadline passes (ms since the epoch), 0 when it never had one. */
  readonly deadlineAt: number;
  /** Names from the root coroutine down to the frame running now. */
  chain(): string[];
  cancel(reason?: CancelReason | string): void;
  /** A promise of the outcome, created on first use. */
  toPromise(): Promise<T>;
  /**
   * Runs `cleanup` when this coroutine has finished, however it ended (before anyone awaiting it
   * hears of it). For resources that belong to a coroutine, e.g. a socket nobody closed.
   */
  addCleanup(cleanup: () => void): void;
  removeCleanup(cleanup: () => void): void;
  /**
   * Takes this coroutine's overall deadline away (a stream that keeps making progress hands over to an
   * IdleTimeout instead). Returns the ms it had, 0 for none.
   */
  clearDeadline(): number;
  /** Someone takes its outcome: its failure is not reported as unhandled. */
  markObserved(): void;
  addObserver(observer: TaskObserver): void;
  removeObserver(observer: TaskObserver): void;
  /** Once settled: true when it failed or was cancelled, and `settledWith()` is then the error. */
  settledInError(): boolean;
  /** Once settled: its value, or its error (a cancelled task's CancelledError is made on the first ask). */
  settledWith(): unknown;
}

/**
 * What an effect kind gets while a coroutine waits on one of its effects: the way to end the wait,
 * and a slot for its own per-wait state (`H`: a timer, a queue node, ...).
 */
export interface Waiter<H = unknown> {
  /** The kind's state for this wait, set by `start`, read by `abandon`; cleared when the wait ends. */
  waitHandle: H;
  /** The coroutine that waits (whose root owns what it opens). */
  readonly task: Task<unknown>;
  /**
   * Ends the wait: resumes the coroutine with `value`, or throws `value` into it. Ignored when it no
   * longer waits (a late callback after abandonment).
   */
  settleWait(value: unknown, isError: boolean): void;
  /** Waits on a promise with the coroutine's reusable callbacks (no closure per step). */
  waitPromise(promise: PromiseLike<unknown>): void;
  /** For `abandon` after waitPromise: the callbacks become inert. */
  forgetPromise(): void;
}

export type SpanAttributeValue = string | number | boolean;
export type SpanAttributes = Readonly<Record<string, SpanAttributeValue>>;

/** What a kind's `trace(a, b)` tells: the span an effect of it gets, from its start to its settling (tracing.ts). */
export interface EffectTrace {
  readonly name: string;
  readonly attributes: SpanAttributes;
}

/**
 * How one kind of effect waits, with `a` and `b` the operands its effects carry and `H` its per-wait
 * state. `start` must eventually call `waiter.settleWait(...)` exactly once (it may do so
 * synchronously) unless `abandon` is called first; `abandon` must detach every callback so that
 * nothing reaches the waiter afterwards (clear the timer, leave the queue, abort). `W` is the waiter
 * the runtime hands over: its own kinds get the fiber.
 */
export interface EffectKind<A = unknown, B = unknown, H = unknown, W extends Waiter<H> = Waiter<H>> {
  readonly name: string;
  start(waiter: W, a: A, b: B): void;
  abandon(waiter: W, a: A, b: B): void;
  /** What one effect of the kind is, for a report of one never yielded (`redis SET`); the kind's name if left out. */
  describe?(a: A, b: B): string;
  /**
   * The wait was settled with `value` (a semaphore's permit), but its coroutine was cancelled before it ran
   * again and will never see it: give it back. Without it such a value is dropped.
   */
  unclaimed?(value: unknown, a: A, b: B): void;
  /** With tracing on (tracing.ts), the span each effect of the kind gets, from its start until it settles. */
  trace?(a: A, b: B): EffectTrace;
}

/**
 * An effect as a coroutine yields it. Its one implementation is the class Effect (effect.ts); this
 * interface lets the types here name it without a circle of imports.
 */
export interface YieldedEffect {
  readonly kind: EffectKind;
  readonly a: unknown;
  readonly b: unknown;
}

/** Anything a coroutine may `yield`: an effect (usually through `yield*`) or a promise. */
export type Yieldable = YieldedEffect | PromiseLike<unknown>;

/** A coroutine body: `function* (): Operation<string> { ... }`. */
export type Operation<T> = Generator<Yieldable, T, unknown>;

/** What `yield*` accepts and types: effects, tasks and operations all qualify. */
export interface Operable<T> {
  [Symbol.iterator](): Iterator<Yieldable, T, unknown>;
}

/**
 * Anything that can be the body of a coroutine: a generator function (or a generator) — what it
 * yields is checked at run time — or a function returning a promise or a value.
 */
export type Body<T, A extends unknown[]> =
  ((...args: A) => Iterator<unknown, T, unknown> | PromiseLike<T> | T) | Iterator<unknown, T, unknown>;
