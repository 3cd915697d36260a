import { CancelReason, InvalidArgumentError, TimeoutError } from '../../errors/index.js';
import { Effect, defineKind, isIterator, isThenable, markUsed } from '../effect.js';
import type { EffectConstructor } from '../effect.js';
import type { Frame } from '../frames.js';
import { keepShape } from '../shapes.js';
import { fiberExemplar } from '../task.js';
import type { FiberWaiter, MemberGroup } from '../task.js';
import type { Task, TaskObserver } from '../types.js';
import { checking } from '../unyielded.js';
import { frameOf, isAwaitable, isNativePromise, notAwaitable, operandName } from './operand.js';
import type { Awaitable, ResultOf } from './operand.js';

const ALL = 0;
const RACE = 1;
const TIMEOUT = 2;

/**
 * The members of one all/race/timeout wait: scoped children, and promises waited on directly (a
 * promise cannot be cancelled, so it needs no coroutine of its own). Decides the outcome as members
 * settle, cancels the rest, and resumes the parent only when every child has settled, so a loser's
 * `finally` blocks have run (its sockets are closed) before the parent goes on.
 */
class Group implements MemberGroup {
  private readonly children: Task<unknown>[] = [];
  private readonly results: unknown[];
  /** Members not settled yet, children and promises. */
  private remaining = 0;
  /** Promise members not settled yet: once the group is decided they are left, counted as settled. */
  private promises = 0;
  private decided = false;
  /** Members are still being started: a member that settles at once must not finish the group early. */
  starting = true;
  private finished = false;
  private outcomeIsError = false;
  private outcome: unknown = undefined;
  private detached = false;
  timer: NodeJS.Timeout | null = null;

  constructor(
    readonly parent: FiberWaiter<Group>,
    readonly mode: number,
    readonly keys: readonly string[] | null,
    readonly size: number,
    readonly ms: number,
  ) {
    this.results = new Array<unknown>(size);
  }

  /** True once the outcome is known: members not started yet are then never started. */
  get isDecided(): boolean {
    return this.decided;
  }

  add(op: unknown, index: number): void {
    let frame: Frame;
    let name: string;
    if (isFrame(op)) {
      frame = op;
      name = 'generator';
    } else if (op instanceof Effect) {
      frame = frameOf(op)!;
      name = op.kind.name;
    } else if (isNativePromise(op)) {
      this.addPromise(op, index);
      return;
    } else {
      frame = frameOf(op)!;
      name = operandName(op);
    }
    this.remaining++;
    // its first step runs now: it may settle, and decide the group, before startMember returns
    const child = this.parent.startMember(frame, name, this, index);
    if (child !== null && !child.done) this.children.push(child);
  }

  /** A generator (or another iterator): the member's own frame. */
  addFrame(frame: Frame, index: number): void {
    this.remaining++;
    const child = this.parent.startMember(frame, 'generator', this, index);
    if (child !== null && !child.done) this.children.push(child);
  }

  /** A promise member: waited on directly (apart from add, whose every call would allocate these closures' context). */
  private addPromise(promise: Promise<unknown>, index: number): void {
    this.remaining++;
    this.promises++;
    promise.then(
      (value) => this.promiseSettled(index, false, value),
      (err: unknown) => this.promiseSettled(index, true, err),
    );
  }

  /** The observer of a member that has a fiber: it tells which member settled. */
  observerFor(index: number): TaskObserver {
    return new Member(this, index);
  }

  /** Where operand `index` was given, for errors: "race() 'fast'", "all() item 2". */
  place(index: number): string {
    const name = this.mode === ALL ? 'all()' : this.mode === RACE ? 'race()' : 'timeout()';
    if (this.mode === TIMEOUT) return name;
    return this.keys === null ? `${name} item ${index}` : `${name} '${this.keys[index]}'`;
  }

  /** A child settled. Once decided, the others' outcomes are not read: a cancelled loser's error is never made. */
  childSettled(child: Task<unknown>, index: number): void {
    this.remaining--;
    if (this.detached) return;
    if (!this.decided) {
      this.memberSettled(index, child.settledInError(), child.settledWith());
    }
    this.finishWhenSettled();
  }

  /** A member ended in its first step, before it had a task. */
  memberEnded(index: number, isError: boolean, value: unknown): void {
    this.remaining--;
    if (this.detached) return;
    if (!this.decided) this.memberSettled(index, isError, value);
    this.finishWhenSettled();
  }

  private promiseSettled(index: number, isError: boolean, value: unknown): void {
    if (this.decided || this.detached) return; // left when the group was decided, and counted then
    this.remaining--;
    this.promises--;
    this.memberSettled(index, isError, value);
    this.finishWhenSettled();
  }

  private memberSettled(index: number, isError: boolean, value: unknown): void {
    if (this.mode === ALL) {
      if (isError) this.decide(true, value, 'a sibling in all() failed');
      else this.results[index] = value;
    } else if (this.mode === RACE) {
      this.decide(isError, isError ? value : this.winner(index, value), 'lost the race');
    } else {
      this.decide(isError, value, '');
    }
  }

  onTimeout(): void {
    this.timer = null;
    if (this.decided || this.detached) return;
    this.decide(true, new TimeoutError('timeout()', this.ms), `timeout of ${this.ms} ms`);
    this.finishWhenSettled();
  }

  private winner(index: number, value: unknown): unknown {
    if (this.keys !== null) return { [this.keys[index]!]: value };
    const out = new Array<unknown>(this.size).fill(undefined);
    out[index] = value;
    return out;
  }

  private decide(isError: boolean, value: unknown, why: string): void {
    this.decided = true;
    this.outcomeIsError = isError;
    this.outcome = value;
    this.remaining -= this.promises;
    this.promises = 0;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.cancelChildren(this.mode === TIMEOUT ? CancelReason.deadline(why) : CancelReason.parent(why));
  }

  private cancelChildren(reason: CancelReason): void {
    for (const child of this.children) if (!child.done) child.cancel(reason);
  }

  /** Resumes the parent once every member has settled (a child cancelled by decide may settle at once). */
  finishWhenSettled(): void {
    if (this.remaining !== 0 || this.starting || this.finished || this.detached) return;
    this.finished = true;
    if (!this.decided) {
      // all(): every member succeeded
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
    this.cancelChildren(CancelReason.parent(`parent '${this.parent.task.name}' stopped waiting`));
  }
}

/**
 * A child of a group that has a fiber, told when it settles: its position is where its result goes. A
 * member that ends in its first step never has one (the group is told by index).
 */
class Member implements TaskObserver {
  constructor(
    private readonly group: Group,
    private readonly index: number,
  ) {}

  onTaskSettled(child: Task<unknown>): void {
    this.group.childSettled(child, this.index);
  }
}

function onGroupTimeout(group: Group): void {
  group.onTimeout();
}

/** What all/race take: the operations as an array or a record; timeout() passes its one operation as [op]. */
type Operations = readonly unknown[] | Readonly<Record<string, unknown>>;

/** True once a group is kept for its shape (shapes.ts). */
let groupShapeKept = false;

/** Keeps one group alive for good, never started, whose parent is the fiber kept for its shape (shapes.ts). */
function keepGroupShape(): void {
  const parent = fiberExemplar();
  if (parent === null) return;
  groupShapeKept = true;
  keepShape(new Group(parent as FiberWaiter<unknown> as FiberWaiter<Group>, ALL, null, 0, 0));
}

function startGroup(fiber: FiberWaiter<Group>, input: Operations, ms: number, mode: number): void {
  if (!groupShapeKept) keepGroupShape();
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
  // every operand checked before any starts: a refused group runs nothing
  // ... and sorted once: a group of generators (the usual one) starts them with no further look at each
  let allFrames = true;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (isFrame(op)) continue;
    allFrames = false;
    if (!isAwaitable(op)) throw notAwaitable(group.place(i), op);
  }
  try {
    if (allFrames) for (let i = 0; i < ops.length && !group.isDecided; i++) group.addFrame(ops[i] as Frame, i);
    else for (let i = 0; i < ops.length && !group.isDecided; i++) group.add(ops[i], i);
  } catch (err) {
    group.detach();
    throw err;
  }
  group.starting = false;
  if (mode === TIMEOUT && !group.isDecided) group.timer = setTimeout(onGroupTimeout, group.ms, group);
  group.finishWhenSettled();
}

/** An operand that is its own frame: a generator or another iterator, not an effect (an iterator too). */
function isFrame(op: unknown): op is Frame {
  return isIterator(op) && !(op instanceof Effect);
}

/** Array.isArray, narrowing a readonly array too. */
function isList(input: Operations): input is readonly unknown[] {
  return Array.isArray(input);
}

function groupKind(name: string, mode: number): EffectConstructor<Operations, number> {
  return defineKind<Operations, number, Group, FiberWaiter<Group>>({
    name,
    start(fiber, input, ms) {
      startGroup(fiber, input, ms, mode);
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

/**
 * What `race` returns: for a record, an object holding the winner's key only, typed as a union over
 * the keys so that `'fast' in r` narrows it; for a tuple, the winner's value at its index and
 * undefined elsewhere, a union over the indices (`r[1] !== undefined` narrows it).
 */
export type RaceResult<E> = E extends readonly unknown[] ? RaceTuple<E> : RaceRecord<E>;

type RaceRecord<E> = { [K in keyof E]: { -readonly [P in K]: ResultOf<E[P]> } }[keyof E];

type TupleIndex<E extends readonly unknown[]> = Exclude<keyof E, keyof unknown[]>;

type RaceTuple<E extends readonly unknown[]> = number extends E['length']
  ? Array<ResultOf<E[number]> | undefined>
  : { [W in TupleIndex<E>]: { -readonly [I in keyof E]: I extends W ? ResultOf<E[I]> : undefined } }[TupleIndex<E>];

/**
 * Runs every operation concurrently and returns all results (an array or a record, as given).
 * The first failure cancels the others and is thrown once they have all stopped.
 */
export function all<const E extends readonly Awaitable[] | Record<string, Awaitable>>(ops: E): Effect<AllResult<E>> {
  checkCollection('all()', ops);
  if (checking) markEachUsed(ops);
  return ALL_KIND(ops, 0);
}

/**
 * Runs the operations concurrently; the first to settle wins and the losers are cancelled.
 * Returns the winner's value at its key (`{ fast: value }`) or index (the other slots undefined).
 */
export function race<const E extends readonly Awaitable[] | Record<string, Awaitable>>(ops: E): Effect<RaceResult<E>> {
  checkCollection('race()', ops);
  if (isList(ops) ? ops.length === 0 : Object.keys(ops).length === 0) {
    throw new InvalidArgumentError('race() needs at least one contender');
  }
  if (checking) markEachUsed(ops);
  return RACE_KIND(ops, 0);
}

/** Runs `op`; if it has not finished within `ms`, cancels it and throws TimeoutError. */
export function timeout<O extends Awaitable>(ms: number, op: O): Effect<ResultOf<O>> {
  if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(`timeout() needs a finite number of milliseconds >= 0, got ${String(ms)}`);
  }
  if (isNoObject(op)) throw notAwaitable('timeout()', op);
  if (checking) markUsed(op);
  return TIMEOUT_KIND([op], ms);
}

/** The effects given are run by children: their maker has used them. */
function markEachUsed(ops: Operations): void {
  for (const op of isList(ops) ? ops : Object.values(ops)) markUsed(op);
}

/**
 * Refuses what cannot be a collection of operations, and an operation that is not even an object (a
 * number, a function not called): thrown here, the error's stack shows the caller's line. Objects that
 * are no Awaitable are refused when the group starts.
 */
function checkCollection(name: string, ops: unknown): void {
  if (ops === null || typeof ops !== 'object') {
    throw new InvalidArgumentError(
      `${name} needs an array or a record of operations, got ${ops === null ? 'null' : typeof ops}`,
    );
  }
  if (isList(ops as Operations)) {
    const list = ops as readonly unknown[];
    for (let i = 0; i < list.length; i++) {
      const op = list[i];
      if (isNoObject(op)) throw notAwaitable(`${name} item ${i}`, op);
    }
    return;
  }
  const record = ops as Readonly<Record<string, unknown>>;
  for (const key in record) {
    const op = record[key];
    if (isNoObject(op) && Object.prototype.hasOwnProperty.call(record, key)) {
      throw notAwaitable(`${name} '${key}'`, op);
    }
  }
}

/** Cannot be an Awaitable: a primitive, null, or a function (forgotten call) that is not thenable. */
function isNoObject(op: unknown): boolean {
  if (typeof op === 'object') return op === null;
  return typeof op !== 'function' || !isThenable(op);
}
