import { defineKind } from './effect.js';
import type { Waiter, Yieldable } from './types.js';

/**
 * An operation that is its own iterator (a channel's send or receive, each's next) and parks itself
 * where it waits, so that what it waits for is taken only when its coroutine runs: a coroutine
 * cancelled before that takes nothing, and `return()` puts back what reached it. The coroutine is
 * attached when the wait starts; until then (a coroutine cancelled in the step that parked the op, and
 * moved behind I/O by the fairness budget before it unwinds) `waiter` is null: what reaches the op is
 * recorded, and `return()` undoes it.
 */
export interface ParkedOp {
  waiter: Waiter<unknown> | null;
  /** Its coroutine stopped waiting (cancelled, or a lost race): leave the queue; `return()` follows. */
  abandon(): void;
}

/** The op that is parking: the `start` of its wait, which runs next in the same step, attaches the waiter. */
let parking: ParkedOp | null = null;

function attach(waiter: Waiter<ParkedOp | null>): void {
  const op = parking!;
  parking = null;
  op.waiter = waiter;
  waiter.waitHandle = op;
}

/**
 * A wait for parked ops, as the iterator result an op's `next()` returns (which `yield*` passes to the
 * scheduler as it is): one effect, made once, shared by every op that parks with it.
 */
export function parkedWait(name: string): IteratorResult<Yieldable, unknown> {
  const kind = defineKind<undefined, undefined, ParkedOp | null>({
    name,
    start: attach,
    abandon(waiter) {
      waiter.waitHandle!.abandon();
    },
  });
  return Object.freeze({ done: false, value: kind() });
}

/** `op` parks: returns `parked` for its `next()` to return; the wait it carries attaches the coroutine. */
export function park(op: ParkedOp, parked: IteratorResult<Yieldable, unknown>): IteratorResult<Yieldable, unknown> {
  parking = op;
  return parked;
}
