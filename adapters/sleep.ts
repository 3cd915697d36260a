import { InvalidArgumentError } from '../src/errors/index.js';
import { Effect } from '../src/runtime/effect.js';
import type { EffectKind } from '../src/runtime/effect.js';
import type { Task } from '../src/runtime/task.js';

function wake(task: Task<unknown>): void {
  task.settleWait(undefined, false);
}

const SLEEP: EffectKind = {
  name: 'sleep',
  start(task, effect) {
    const ms = effect.a as number;
    task.waitHandle = ms === 0 ? setImmediate(wake, task) : setTimeout(wake, ms, task);
  },
  abandon(task, effect) {
    if (effect.a === 0) clearImmediate(task.waitHandle as NodeJS.Immediate);
    else clearTimeout(task.waitHandle as NodeJS.Timeout);
  },
};

/**
 * Suspends the coroutine for `ms` milliseconds (like ngx.sleep, but in ms). `sleep(0)` yields to the
 * event loop once (setImmediate), letting I/O and other coroutines run. Cancellation clears the timer.
 */
export function sleep(ms: number): Effect<void> {
  if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(`sleep() needs a finite number of milliseconds >= 0, got ${String(ms)}`);
  }
  return new Effect(SLEEP, ms);
}
