import { CancelReason, InvalidArgumentError, TimeoutError } from '../../errors/index.js';
import { defineKind, markUsed } from '../effect.js';
import type { Effect, EffectConstructor } from '../effect.js';
import type { FiberWaiter } from '../task.js';
import type { Task, TaskObserver } from '../types.js';
import { checking } from '../unyielded.js';
import { frameOf } from './operand.js';
import type { Awaitable, ResultOf } from './operand.js';

const ALL = 0;
const RACE = 1;
const TIMEOUT = 2;

/**
 * The scoped children of one all/race/timeout wait. Decides the outcome as children settle,
 * cancels the rest, and resumes the parent only when every child has settled, so a loser's
 * `finally` blocks have run (its sockets are closed) before the parent goes on.
 */
class Group implements TaskObserver {
  readonly children: Task<unknown>[] = [];
  private readonly positions = new Map<Task<unknown>, number>();
  private readonly results: unknown[];
  private remaining = 0;
  private decided = false;
  private outcomeIsError = false;
  private outcome: unknown = undefined;
  private detached = false;
  timer: NodeJS.Timeout | null = null;

  constructor(
    readonly parent: FiberWaiter<Group>,
    readonly mode: number,
    readonly keys: readonly string[] | null,
    size: number,
    readonly ms: number,
  ) {
    this.results = new Array<unknown>(size);
  }

  add(op: unknown, where: string): void {
    const { frame, name } = frameOf(op, where);
    const child = this.parent.spawnChild<unknown>(null, null, frame, name, true);
    this.positions.set(child, this.children.length);
    this.children.push(child);
    this.remaining++;
    child.addObserver(this);
  }

  onTaskSettled(child: Task<unknown>): void {
    this.remaining--;
    if (this.detached) return;
    const [isError, value] = child.outcomeForObserver();
    const index = this.positions.get(child)!;
    if (!this.decided) {
      if (this.mode === ALL) {
        if (isError) this.decide(true, value, 'a sibling in all() failed');
        else this.results[index] = value;
      } else if (this.mode === RACE) {
        this.decide(isError, isError ? value : this.winner(index, value), 'lost the race');
      } else {
        this.decide(isError, value, '');
      }
    }
    if (this.remaining === 0) this.finish();
  }

  onTimeout(): void {
    this.timer = null;
    if (this.decided || this.detached) return;
    this.decide(true, new TimeoutError('timeout()', this.ms), `timeout of ${this.ms} ms`);
  }

  private winner(index: number, value: unknown): unknown {
    if (this.keys !== null) return { [this.keys[index]!]: value };
    const out = new Array<unknown>(this.children.length).fill(undefined);
    out[index] = value;
    return out;
  }

  private decide(isError: boolean, value: unknown, why: string): void {
    this.decided = true;
    this.outcomeIsError = isError;
    this.outcome = value;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const reason = this.mode === TIMEOUT ? CancelReason.deadline(why) : CancelReason.parent(why);
    for (const child of this.children) if (!child.done) child.cancel(reason);
  }

  private finish(): void {
    if (!this.decided) {
      // all(): every child succeeded
      this.decided = true;
      this.outcome =
        this.keys === null ? this.results : Object.fromEntries(this.keys.map((k, i) => [k, this.results[i]]));
    }
    this.parent.settleWait(this.outcome, this.outcomeIsError);
  }

  /** The parent stopped waiting (it is being cancelled): cancel the children, report nothing. */
  detach(): void {
    this.detached = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const reason = CancelReason.parent(`parent '${this.parent.task.name}' stopped waiting`);
    for (const child of this.children) if (!child.done) child.cancel(reason);
  }
}

function onGroupTimeout(group: Group): void {
  group.onTimeout();
}

/** What all/race take: the operations as an array or a record; timeout() passes its one operation as [op]. */
type Operations = readonly unknown[] | Readonly<Record<string, unknown>>;

function startGroup(fiber: FiberWaiter<Group>, input: Operations, ms: number, mode: number, where: string): void {
  let keys: string[] | null = null;
  let ops: readonly unknown[];
  if (isList(input)) ops = input;
  else {
    keys = Object.keys(input);
    ops = keys.map((k) => input[k]);
  }
  const group = new Group(fiber, mode, keys, ops.length, ms);
  fiber.waitHandle = group;
  if (ops.length === 0) {
    if (mode === RACE) throw new InvalidArgumentError('race() needs at least one contender');
    fiber.settleWait(keys === null ? [] : {}, false);
    return;
  }
  try {
    for (const op of ops) group.add(op, where);
  } catch (err) {
    group.detach();
    throw err;
  }
  if (mode === TIMEOUT) group.timer = setTimeout(onGroupTimeout, group.ms, group);
}

/** Array.isArray, narrowing a readonly array too. */
function isList(input: Operations): input is readonly unknown[] {
  return Array.isArray(input);
}

function groupKind(name: string, mode: number): EffectConstructor<Operations, number> {
  return defineKind<Operations, number, Group, FiberWaiter<Group>>({
    name,
    start(fiber, input, ms) {
      startGroup(fiber, input, ms, mode, `${name}()`);
    },
    abandon(fiber) {
      fiber.waitHandle.detach();
    },
  });
}

const ALL_KIND = groupKind('all', ALL);
const RACE_KIND = groupKind('race', RACE);
const TIMEOUT_KIND = groupKind('timeout', TIMEOUT);

type AllResult<E> = { -readonly [K in keyof E]: ResultOf<E[K]> };
type RaceResult<E> = { -readonly [K in keyof E]?: ResultOf<E[K]> };

/**
 * Runs every operation concurrently and returns all results (an array or a record, as given).
 * The first failure cancels the others and is thrown once they have all stopped.
 */
export function all<const E extends readonly Awaitable[] | Record<string, Awaitable>>(ops: E): Effect<AllResult<E>> {
  checkCollection('all', ops);
  if (checking) markEachUsed(ops);
  return ALL_KIND(ops, 0);
}

/**
 * Runs the operations concurrently; the first to settle wins and the losers are cancelled.
 * Returns the winner's value at its key (or index), the others left undefined.
 */
export function race<const E extends readonly Awaitable[] | Record<string, Awaitable>>(ops: E): Effect<RaceResult<E>> {
  checkCollection('race', ops);
  if (checking) markEachUsed(ops);
  return RACE_KIND(ops, 0);
}

/** Runs `op`; if it has not finished within `ms`, cancels it and throws TimeoutError. */
export function timeout<O extends Awaitable>(ms: number, op: O): Effect<ResultOf<O>> {
  if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(`timeout() needs a finite number of milliseconds >= 0, got ${String(ms)}`);
  }
  if (checking) markUsed(op);
  return TIMEOUT_KIND([op], ms);
}

/** The effects given are run by children: their maker has used them. */
function markEachUsed(ops: Operations): void {
  for (const op of isList(ops) ? ops : Object.values(ops)) markUsed(op);
}

function checkCollection(name: string, ops: unknown): void {
  if (ops === null || typeof ops !== 'object') {
    throw new InvalidArgumentError(
      `${name}() needs an array or a record of operations, got ${ops === null ? 'null' : typeof ops}`,
    );
  }
}
