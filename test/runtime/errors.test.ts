import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Scheduler, call, coroutineChain, sleep, spawn } from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';

describe('errors', () => {
  it('come out of the task with the chain of coroutine names that led there', async () => {
    const scheduler = new Scheduler();
    function* fetchRow(): Operation<never> {
      yield* sleep(1);
      throw new Error('row missing');
    }
    function* loadUser(): Operation<void> {
      const child = yield* spawn(fetchRow);
      yield* child;
    }
    const task = scheduler.go(function* handler() {
      yield* call(loadUser);
    });
    await assert.rejects(task, (err: unknown) => {
      assert.deepEqual(coroutineChain(err), ['handler', 'loadUser', 'fetchRow']);
      assert.match((err as Error).stack ?? '', /in coroutine chain: handler > loadUser > fetchRow/);
      return true;
    });
  });

  it('reports a failed root that nobody awaited, instead of losing it', async () => {
    const reported: Array<[unknown, string]> = [];
    let firstReport!: () => void;
    const reportedOnce = new Promise<void>((resolve) => (firstReport = resolve));
    const scheduler = new Scheduler({
      onUnhandledError: (err, task) => {
        reported.push([err, task.name]);
        firstReport();
      },
    });
    scheduler.go(function* lonely() {
      yield* sleep(1);
      throw new Error('nobody listens');
    });
    const awaited = scheduler.go(function* watched() {
      throw new Error('caught by the awaiter');
    });
    await assert.rejects(awaited, /caught by the awaiter/);
    await reportedOnce;
    await new Promise((r) => setImmediate(r)); // a second (wrong) report of the awaited task would come by now
    assert.equal(reported.length, 1);
    assert.equal(reported[0]![1], 'lonely');
    assert.match((reported[0]![0] as Error).message, /nobody listens/);
  });

  it('gives the result or the error of a finished task synchronously', async () => {
    const scheduler = new Scheduler();
    const ok: Task<number> = scheduler.go(function* () {
      return 1;
    });
    assert.equal(ok.result, 1);
    const bad = scheduler.go(function* () {
      throw new Error('bad');
    });
    await assert.rejects(bad);
    assert.throws(() => bad.result, /bad/);
  });
});
