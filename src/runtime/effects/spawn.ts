import { Effect } from '../effect.js';
import type { EffectKind } from '../effect.js';
import { bodyName } from '../scheduler.js';
import type { Body } from '../scheduler.js';
import type { BodyFn, Frame, Task } from '../task.js';

const SPAWN: EffectKind = {
  name: 'spawn',
  start(task, effect) {
    const body = effect.a;
    const child =
      typeof body === 'function'
        ? task.spawnChild(body as BodyFn, effect.b as unknown[], null, bodyName(body), false)
        : task.spawnChild(null, null, body as Frame, 'generator', false);
    task.settleWait(child, false);
  },
  abandon() {},
};

const SPAWN_DETACHED: EffectKind = {
  name: 'spawnDetached',
  start(task, effect) {
    const child = task.scheduler.go(effect.a as Body<unknown, unknown[]>, ...(effect.b as unknown[]));
    task.settleWait(child, false);
  },
  abandon() {},
};

/**
 * Starts an attached child coroutine and returns its Task at once. The parent does not finish before
 * it; cancelling the parent cancels it; if it fails and nobody joins it, the parent fails too.
 */
export function spawn<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Effect<Task<T>> {
  return new Effect(SPAWN, body, args);
}

/** Starts an independent root coroutine on the same scheduler (counted against its budget). */
export function spawnDetached<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Effect<Task<T>> {
  return new Effect(SPAWN_DETACHED, body, args);
}
