import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Scheduler, cancelled, sleep, spawn } from '../../src/index.js';
import type { Operation, Task, TaskObserver } from '../../src/index.js';

function observer(log: string[], name: string): TaskObserver {
  return {
    onTaskSettled(task: Task<unknown>) {
      log.push(`${name}: ${task.status}`);
    },
  };
}

describe('observers and children', () => {
  it('tells observers in the order they were added, the removed ones not', async () => {
    const scheduler = new Scheduler();
    const task = scheduler.go(function* () {
      yield* sleep(1);
    });
    const log: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => observer(log, name)) as [
      TaskObserver,
      TaskObserver,
      TaskObserver,
      TaskObserver,
    ];
    task.addObserver(a);
    task.addObserver(b);
    task.removeObserver(a);
    task.addObserver(c); // after b, though a's place is free
    task.addObserver(d);
    task.removeObserver(c);
    await task;
    assert.deepEqual(log, ['b: completed', 'd: completed']);

    const lone = scheduler.go(function* () {
      yield* sleep(1);
    });
    const loneLog: string[] = [];
    const only = observer(loneLog, 'only');
    lone.addObserver(only);
    lone.removeObserver(only);
    lone.addObserver(observer(loneLog, 'again'));
    await lone;
    assert.deepEqual(loneLog, ['again: completed']);
  });

  it('cancels children in the order they were spawned, those that ended already left out', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    function* child(name: string, ms: number): Operation<void> {
      try {
        yield* sleep(ms);
        log.push(`${name} ended`);
      } finally {
        if (yield* cancelled()) log.push(`${name} cancelled`);
      }
    }
    const parent = scheduler.go(function* () {
      for (const [name, ms] of [
        ['one', 60_000],
        ['two', 1],
        ['three', 60_000],
        ['four', 60_000],
      ] as const) {
        yield* spawn(child, name, ms);
      }
      yield* sleep(60_000);
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    parent.cancel();
    await assert.rejects(parent);
    assert.deepEqual(log, ['two ended', 'one cancelled', 'three cancelled', 'four cancelled']);
    assert.equal(scheduler.stats().live, 0);
    assert.equal(scheduler.pendingRoots, 0);
  });
});
