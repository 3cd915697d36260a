import { CosocketError } from './base.js';
import { CHAIN, formatChain } from './chain.js';

/** Why a coroutine was cancelled: the client left, a deadline passed, its parent went, a budget, or explicitly. */
export type CancelKind = 'client-abort' | 'deadline' | 'parent' | 'budget' | 'explicit';

const CANCEL_KINDS: ReadonlySet<string> = new Set<CancelKind>([
  'client-abort',
  'deadline',
  'parent',
  'budget',
  'explicit',
]);

/** An argument to a runtime function is out of range or of the wrong type. */
export class InvalidArgumentError extends CosocketError {
  constructor(message: string) {
    super('COSOCKET_ERR_INVALID_ARGUMENT', message);
  }
}

/** Why a coroutine was cancelled. `detail` is free text for logs. */
export class CancelReason {
  readonly kind: CancelKind;
  readonly detail: string;

  constructor(kind: CancelKind, detail = '') {
    if (!CANCEL_KINDS.has(kind)) throw new InvalidArgumentError(`unknown cancel reason kind: ${String(kind)}`);
    this.kind = kind;
    this.detail = detail;
  }

  static explicit(detail = 'cancelled'): CancelReason {
    return new CancelReason('explicit', detail);
  }

  static clientAbort(detail = 'client went away'): CancelReason {
    return new CancelReason('client-abort', detail);
  }

  static deadline(detail = 'deadline passed'): CancelReason {
    return new CancelReason('deadline', detail);
  }

  static parent(detail = 'parent coroutine was cancelled'): CancelReason {
    return new CancelReason('parent', detail);
  }

  static budget(detail = 'budget exceeded'): CancelReason {
    return new CancelReason('budget', detail);
  }

  toString(): string {
    return this.detail ? `${this.kind}: ${this.detail}` : this.kind;
  }
}

/** What a cancelled Task rejects with (a DeadlineExceededError when its deadline passed). */
export class CancelledError extends CosocketError {
  readonly reason: CancelReason;
  /** Errors thrown by `finally` blocks while the coroutine was being unwound. */
  readonly cleanupErrors: unknown[];
  readonly #chain: readonly string[] | undefined;

  /** `chain`: of the coroutine that was cancelled, what coroutineChain(err) gives. */
  constructor(taskName: string, reason: CancelReason, cleanupErrors: unknown[] = [], chain?: readonly string[]) {
    super(
      new.target === DeadlineExceededError ? 'COSOCKET_ERR_DEADLINE_EXCEEDED' : 'COSOCKET_ERR_CANCELLED',
      `coroutine '${taskName}' was cancelled (${reason.toString()})`,
    );
    this.reason = reason;
    this.cleanupErrors = cleanupErrors;
    this.#chain = chain;
  }

  // a getter on the class, not a property defined on each error: defining one costs a good part of making it
  /** @internal */
  get [CHAIN](): readonly string[] | undefined {
    return this.#chain;
  }
}

/** A coroutine cancelled because its deadline passed: a CancelledError that answers 504, not 503. */
export class DeadlineExceededError extends CancelledError {}

/** The error a task cancelled for `reason` rejects with; `chain` is the task's. */
export function cancellationError(
  taskName: string,
  reason: CancelReason,
  cleanupErrors: unknown[],
  chain?: readonly string[],
): CancelledError {
  return reason.kind === 'deadline'
    ? new DeadlineExceededError(taskName, reason, cleanupErrors, chain)
    : new CancelledError(taskName, reason, cleanupErrors, chain);
}

/** The concurrency budget and its wait queue are both full. The HTTP layer answers 503. */
export class BudgetExceededError extends CosocketError {
  readonly limit: number;
  readonly backlog: number;

  constructor(schedulerName: string, limit: number, backlog: number) {
    super(
      'COSOCKET_ERR_BUDGET_EXCEEDED',
      `scheduler '${schedulerName}' is at its concurrency budget (${limit} live) and its wait queue is full (${backlog} queued)`,
    );
    this.limit = limit;
    this.backlog = backlog;
  }
}

/** A call/spawn would nest deeper than the scheduler's maxDepth. */
export class StackBudgetError extends CosocketError {
  readonly chain: readonly string[];
  readonly maxDepth: number;

  constructor(chain: readonly string[], maxDepth: number, options?: { cause?: unknown }) {
    super(
      'COSOCKET_ERR_STACK_BUDGET',
      options?.cause instanceof RangeError
        ? `coroutine ran out of JavaScript stack (unbounded yield* recursion?) in: ${formatChain(chain)}; use call() for nesting the scheduler can count`
        : `coroutine nesting exceeds the stack budget of ${maxDepth}: ${formatChain(chain)}`,
      options,
    );
    this.chain = chain;
    this.maxDepth = maxDepth;
  }
}

/** `timeout(ms, op)` or a timed acquire ran out of time. */
export class TimeoutError extends CosocketError {
  readonly ms: number;

  constructor(what: string, ms: number) {
    super('COSOCKET_ERR_TIMEOUT', `${what} timed out after ${ms} ms`);
    this.ms = ms;
  }
}

/** A coroutine yielded something the runtime cannot wait on. */
export class InvalidYieldError extends CosocketError {
  constructor(taskName: string, value: unknown) {
    super(
      'COSOCKET_ERR_INVALID_YIELD',
      `coroutine '${taskName}' yielded ${describe(value)}; use yield* with an effect (sleep, call, ...) or yield a promise`,
    );
  }
}

/** A semaphore was released more often than acquired. */
export class SemaphoreOverReleaseError extends CosocketError {
  constructor(semaphoreName: string) {
    super('COSOCKET_ERR_SEMAPHORE', `semaphore '${semaphoreName}' released more often than acquired`);
  }
}

/** A task's result was read before the task finished. */
export class TaskNotFinishedError extends CosocketError {
  constructor(taskName: string) {
    super('COSOCKET_ERR_NOT_FINISHED', `coroutine '${taskName}' has not finished`);
  }
}

/** A coroutine joined itself or one of its ancestors: it would wait forever. */
export class SelfJoinError extends CosocketError {
  constructor(taskName: string, targetName: string) {
    super('COSOCKET_ERR_SELF_JOIN', `coroutine '${taskName}' cannot join '${targetName}': it would wait on itself`);
  }
}

/** An operation only a coroutine can run (a context's get/set/with, resource, ensure, each, retry) ran outside any. */
export class OutsideCoroutineError extends CosocketError {
  constructor(what: string) {
    super('COSOCKET_ERR_OUTSIDE_COROUTINE', `${what} runs only inside a coroutine (go, spawn, a co() handler)`);
  }
}

/** The abort reason an abortable() signal gets when its coroutine stops waiting without a cancel reason. */
export class WaitAbandonedError extends CosocketError {
  constructor() {
    super('COSOCKET_ERR_WAIT_ABANDONED', 'abandoned');
  }
}

/** A send on a closed channel, or a receive on one that is closed and drained. */
export class ChannelClosedError extends CosocketError {
  constructor(channelName: string, operation: 'send' | 'receive') {
    super(
      'COSOCKET_ERR_CHANNEL_CLOSED',
      operation === 'send'
        ? `send on channel '${channelName}': the channel is closed`
        : `receive on channel '${channelName}': the channel is closed and drained`,
    );
  }
}

/** `scope.run()` or `scope.ensure()` after `scope.close()`. */
export class ScopeClosedError extends CosocketError {
  constructor(scopeName: string, what: string) {
    super('COSOCKET_ERR_SCOPE_CLOSED', `${what} on scope '${scopeName}': the scope is closed`);
  }
}

/** Something threw a value that is not an Error: it is wrapped where an Error is needed. */
export class ThrownValueError extends CosocketError {
  readonly value: unknown;

  constructor(value: unknown) {
    super('COSOCKET_ERR_THROWN_VALUE', String(value));
    this.value = value;
  }
}

/**
 * In strict mode (`checkUnyielded({ mode: 'throw' })`): the coroutine made effects it never yielded, so
 * they never ran. Thrown into it at its next step, or its outcome when it ended with them unused.
 */
export class UnyieldedEffectError extends CosocketError {
  /** What each effect was (`redis SET`, `sleep(50)`), as its kind describes it. */
  readonly effects: readonly string[];
  readonly chain: readonly string[];

  constructor(effects: readonly string[], chain: readonly string[]) {
    const one = effects.length === 1;
    super(
      'COSOCKET_ERR_UNYIELDED_EFFECT',
      `coroutine '${formatChain(chain)}' made ${countedList(effects)} and never yielded ${one ? 'it' : 'them'}, so ${one ? 'it' : 'they'} never ran: a yield* is missing`,
    );
    this.effects = effects;
    this.chain = chain;
  }
}

/** `err` itself when it is an Error, else a ThrownValueError carrying it. */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new ThrownValueError(err);
}

/** `a, b (3 times)`: each name once, with how often it occurs when more than once. */
function countedList(names: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n === 1 ? name : `${name} (${n} times)`)).join(', ');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'}); did you mean yield* call(fn)?`;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and functions returned above: a primitive is left
  return `${typeof value} ${String(value)}`;
}
