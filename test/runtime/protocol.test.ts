import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelledError, Scheduler, defineKind, go, isTask, self, sleep, spawn } from '../../src/index.js';
import type { Effect, Operation, Task, Waiter } from '../../src/index.js';

describe('the effect protocol', () => {
  it('gives a kind its operands typed, a waiter, and the handle it set', async () => {
    const seen: string[] = [];
    const DOUBLE_LATER = defineKind<number, string, NodeJS.Timeout>({
      name: 'double-later',
      start(waiter, n, label) {
        seen.push(`start ${label} ${n * 2}`);
        waiter.waitHandle = setTimeout(() => waiter.settleWait(n * 2, false), 5);
      },
      abandon(waiter, n, label) {
        seen.push(`abandon ${label} ${n}`);
        clearTimeout(waiter.waitHandle);
      },
    });
    const doubleLater = (n: number, label: string): Effect<number> => DOUBLE_LATER(n, label);
    function* main(): Operation<number> {
      return yield* doubleLater(21, 'a');
    }
    assert.equal(await go(main), 42);

    const task = go(function* () {
      yield* doubleLater(1, 'b');
    });
    task.cancel('stop');
    await assert.rejects(task, CancelledError);
    assert.deepEqual(seen, ['start a 42', 'start b 2', 'abandon b 1']);
  });

  it('lets a kind settle synchronously from start, or fail by throwing', async () => {
    const ECHO = defineKind<string>({
      name: 'echo',
      start(waiter, text) {
        if (text === '') throw new RangeError('nothing to echo');
        waiter.settleWait(text, false);
      },
      abandon() {},
    });
    function* main(): Operation<string> {
      const first: string = yield* ECHO<string>('hi');
      try {
        yield* ECHO<string>('');
      } catch (err) {
        return `${first} ${(err as Error).message}`;
      }
      return 'unreachable';
    }
    assert.equal(await go(main), 'hi nothing to echo');
  });

  it('hands kinds a waiter whose task is the coroutine that waits', async () => {
    let waiterTask: Task<unknown> | null = null;
    const WHO = defineKind({
      name: 'who',
      start(waiter: Waiter) {
        waiterTask = waiter.task;
        waiter.settleWait(undefined, false);
      },
      abandon() {},
    });
    const task = go(function* () {
      yield* WHO<void>();
      return (yield* self()) === waiterTask;
    });
    assert.equal(await task, true);
    assert.equal(waiterTask, task);
  });

  it('keeps the wait machinery off the Task users get', () => {
    const task = go(function* () {
      yield* sleep(1);
    });
    // @ts-expect-error settleWait belongs to the Waiter kinds get, not to Task
    assert.equal(typeof task.settleWait === 'function', true);
    // @ts-expect-error spawnChild is internal
    assert.equal(typeof task.spawnChild === 'function', true);
    task.cancel();
    task.catch(() => undefined);
  });
});

describe('isTask', () => {
  it('recognises tasks by their brand, not by a constructor name', async () => {
    class Task {
      then(resolve: (v: number) => void): void {
        resolve(1);
      }
    }
    const scheduler = new Scheduler({ name: 'brand' });
    const root = scheduler.go(function* () {
      const child = yield* spawn(function* () {
        yield* sleep(1);
      });
      return [isTask(child), isTask(yield* self())];
    });
    assert.equal(isTask(root), true);
    assert.deepEqual(await root, [true, true]);
    assert.equal(isTask(new Task()), false);
    assert.equal(isTask(Promise.resolve(1)), false);
    assert.equal(isTask({ name: 'Task' }), false);
    assert.equal(isTask(null), false);
    assert.equal(isTask(undefined), false);
  });
});
