import { defineKind, markUsed } from '../effect.js';
import type { Effect } from '../effect.js';
import { bodyRefusal } from '../frames.js';
import type { FiberWaiter } from '../task.js';
import type { Body, Task } from '../types.js';
import { checking } from '../unyielded.js';
import { frameOf, operandName } from './operand.js';

const NO_ARGS: unknown[] = [];

const SPAWN = defineKind<Body<unknown, never[]>, unknown[], unknown, FiberWaiter>({
  name: 'spawn',
  start(fiber, body, args) {
    const child =
      typeof body === 'function'
        ? fiber.spawnChild(body, args, null, null, false)
        : fiber.spawnChild(null, null, frameOf(body), operandName(body), false);
    fiber.settleWait(child, false);
  },
  abandon() {},
});

const SPAWN_DETACHED = defineKind<Body<unknown, never[]>, unknown[], unknown, FiberWaiter>({
  name: 'spawnDetached',
  start(fiber, body, args) {
    fiber.settleWait(fiber.spawnRoot(body, args), false);
  },
  abandon() {},
});

/**
 * Starts an attached child coroutine and returns its Task at once. The parent does not finish before
 * it; cancelling the parent cancels it; if it fails and nobody joins it, the parent fails too.
 */
export function spawn<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Effect<Task<T>>;
export function spawn(body: unknown): Effect<Task<unknown>> {
  checkBody('spawn', body);
  // the arguments after the body, without a rest parameter: a spawn with none allocates no array
  let args = NO_ARGS;
  if (arguments.length > 1) {
    args = new Array<unknown>(arguments.length - 1);
    // eslint-disable-next-line prefer-rest-params -- a rest parameter would allocate an array on every spawn
    for (let i = 1; i < arguments.length; i++) args[i - 1] = arguments[i];
  }
  if (checking) markEachUsed(body, args);
  return SPAWN(body as Body<unknown, never[]>, args);
}

/** Starts an independent root coroutine on the same scheduler (counted against its budget). */
export function spawnDetached<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Effect<Task<T>> {
  checkBody('spawnDetached', body);
  if (checking) markEachUsed(body, args);
  return SPAWN_DETACHED(body as Body<unknown, never[]>, args);
}

function checkBody(name: string, body: unknown): void {
  const refusal = bodyRefusal(name, body);
  if (refusal !== null) throw refusal;
}

/** An effect given as the body or an argument is the new coroutine's to yield, not its maker's. */
function markEachUsed(body: unknown, args: readonly unknown[]): void {
  markUsed(body);
  for (const arg of args) markUsed(arg);
}
