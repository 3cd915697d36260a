import { CancelledError, InvalidArgumentError } from '../errors/index.js';
import { defineKind, isOperable, isThenable } from './effect.js';
import type { Waiter } from './effect.js';
import { owner } from './resource.js';
import type { Operable, Operation, Task, Yieldable } from './types.js';

/** Exponential backoff: the wait before retry n (1, 2, ...) is `initial * factor^(n-1)`, at most `max`. */
export interface ExponentialBackoff {
  /** ms before the first retry. Default 100. */
  initial?: number;
  /** Default 2. */
  factor?: number;
  /** Longest wait in ms. Default 10,000. */
  max?: number;
}

/** How retry() runs an operation again: how often, with which backoff, on which errors. */
export interface RetryOptions {
  /** How many times to run `op` again after its first failure: a whole number >= 0 or Infinity. Default 3. */
  retries?: number;
  /** The wait before each retry: exponential, or a function of the retry number (1, 2, ...) and the error. */
  backoff?: ExponentialBackoff | ((retry: number, err: unknown) => number);
  /** 'full' (the default): a random wait between 0 and the backoff, as AWS recommends; 'none': the backoff itself. */
  jitter?: 'full' | 'none';
  /** Which errors are worth another attempt. Default: every error but a CancelledError, which is never retried. */
  on?: (err: unknown) => boolean;
}

/** `op()` neither failed nor returned something to run. */
const NOT_RUN: unique symbol = Symbol('not run');

const OPTION_NAMES = new Set(['retries', 'backoff', 'jitter', 'on']);
const BACKOFF_NAMES = new Set(['initial', 'factor', 'max']);

function wake(waiter: Waiter): void {
  waiter.settleWait(undefined, false);
}

const BACKOFF_WAIT = defineKind<number, undefined, NodeJS.Timeout>({
  name: 'retry.backoff',
  start(waiter, ms) {
    waiter.waitHandle = setTimeout(wake, ms, waiter);
  },
  abandon(waiter) {
    clearTimeout(waiter.waitHandle);
  },
});

/**
 * Runs `op()` — a function returning an operation or a promise, called again for each attempt with the
 * attempt number (0, 1, ...) — until it succeeds, and returns its value. A failure that `on` accepts is
 * retried after the backoff, up to `retries` times; the last error is thrown when they are used up. A
 * CancelledError is never retried, and cancelling the coroutine stops the wait at once. A wait that
 * would end past the coroutine's deadline (its own or its nearest ancestor's) is not started: the last
 * error is thrown instead.
 */
export function retry<T>(
  op: (attempt: number) => Operable<T> | PromiseLike<T>,
  options: RetryOptions = {},
): Operation<T> {
  if (typeof op !== 'function') {
    throw new InvalidArgumentError(
      `retry() needs a function that returns an operation or a promise, got ${op === null ? 'null' : typeof op}`,
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(
      `retry() options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) {
      throw new InvalidArgumentError(`retry() has no option '${key}' (it takes retries, backoff, jitter, on)`);
    }
  }
  const retries = options.retries ?? 3;
  if (retries !== Infinity && (!Number.isInteger(retries) || retries < 0)) {
    throw new InvalidArgumentError(
      `retry() option 'retries' must be a whole number >= 0 or Infinity, got ${String(retries)}`,
    );
  }
  const jitter = options.jitter ?? 'full';
  if (jitter !== 'full' && jitter !== 'none') {
    throw new InvalidArgumentError(`retry() option 'jitter' must be 'full' or 'none', got ${String(jitter)}`);
  }
  const on = options.on ?? retryAny;
  if (typeof on !== 'function') {
    throw new InvalidArgumentError(`retry() option 'on' must be a function (err) => boolean, got ${typeof on}`);
  }
  return attempts(op, retries, backoffOf(options.backoff), jitter === 'full', on);
}

function retryAny(): boolean {
  return true;
}

function* attempts<T>(
  op: (attempt: number) => Operable<T> | PromiseLike<T>,
  retries: number,
  backoff: (retry: number, err: unknown) => number,
  fullJitter: boolean,
  on: (err: unknown) => boolean,
): Generator<Yieldable, T, unknown> {
  const task = owner('retry()');
  for (let attempt = 0; ; attempt++) {
    let failure: unknown = NOT_RUN;
    let returned: unknown;
    try {
      returned = op(attempt);
      if (isOperable(returned)) return yield* returned as Operable<T>;
      if (isThenable(returned)) return (yield returned) as T;
    } catch (err) {
      failure = err;
    }
    if (failure === NOT_RUN) {
      throw new InvalidArgumentError(
        `retry(): op() must return an operation or a promise, got ${returned === null ? 'null' : typeof returned}`,
      );
    }
    if (failure instanceof CancelledError || attempt >= retries || on(failure) !== true) throw failure;
    const ms = backoff(attempt + 1, failure);
    const wait = fullJitter ? Math.random() * ms : ms;
    const deadlineAt = deadlineOf(task);
    if (deadlineAt > 0 && Date.now() + wait >= deadlineAt) throw failure;
    yield* BACKOFF_WAIT(wait);
  }
}

/** The backoff as a function of the retry number, checked. */
function backoffOf(backoff: RetryOptions['backoff']): (retry: number, err: unknown) => number {
  if (typeof backoff === 'function') {
    return (retry, err) => {
      const ms = backoff(retry, err);
      if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
        throw new InvalidArgumentError(
          `retry() backoff function must return a finite number of ms >= 0, got ${String(ms)} for retry ${retry}`,
        );
      }
      return ms;
    };
  }
  if (backoff !== undefined && (backoff === null || typeof backoff !== 'object')) {
    throw new InvalidArgumentError(
      `retry() option 'backoff' must be { initial, factor, max } or a function, got ${backoff === null ? 'null' : typeof backoff}`,
    );
  }
  for (const key of Object.keys(backoff ?? {})) {
    if (!BACKOFF_NAMES.has(key)) {
      throw new InvalidArgumentError(`retry() backoff has no setting '${key}' (it takes initial, factor, max)`);
    }
  }
  const initial = checkNumber('initial', backoff?.initial, 100, 0, false);
  const factor = checkNumber('factor', backoff?.factor, 2, 1, false);
  const max = checkNumber('max', backoff?.max, 10_000, 0, true);
  return (retry) => Math.min(max, initial * factor ** (retry - 1));
}

function checkNumber(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  infinite: boolean,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min) || (!infinite && !Number.isFinite(value))) {
    throw new InvalidArgumentError(
      `retry() backoff '${name}' must be a ${infinite ? '' : 'finite '}number >= ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/** When the coroutine's deadline passes: its own, or the nearest of its ancestors' (0: none). */
function deadlineOf(task: Task<unknown>): number {
  let at = 0;
  for (let t: Task<unknown> | null = task; t !== null; t = t.parent) {
    if (t.deadlineAt > 0 && (at === 0 || t.deadlineAt < at)) at = t.deadlineAt;
  }
  return at;
}
