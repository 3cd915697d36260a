// The CancelledError of a cancelled task is made when someone asks for it: these check that whoever asks,
// and whenever, gets one error with its reason, its cleanup errors, a stack and the coroutine chain.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelReason,
  CancelledError,
  DeadlineExceededError,
  Scheduler,
  coroutineChain,
  race,
  self,
  sleep,
  spawn,
} from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';

function* parked(): Operation<void> {
  yield* sleep(60_000);
}

function settledError(task: Task<unknown>): unknown {
  try {
    void task.result;
  } catch (err) {
    return err;
  }
  assert.fail(`task '${task.name}' did not fail`);
}

describe('CancelledError', () => {
  it('is one error, however it is asked for: the promise, result, and a join', async () => {
    const scheduler = new Scheduler();
    const task = scheduler.go(parked);
    task.cancel('stop');
    const fromResult = settledError(task);
    assert.ok(fromResult instanceof CancelledError);
    assert.equal(fromResult.reason.kind, 'explicit');
    assert.equal(fromResult.reason.detail, 'stop');
    assert.equal(fromResult.message, "coroutine 'parked' was cancelled (explicit: stop)");
    await assert.rejects(task, (err: unknown) => err === fromResult);
    const joined = await scheduler.go(function* () {
      try {
        yield* task;
      } catch (err) {
        return err;
      }
      return null;
    });
    assert.equal(joined, fromResult);
  });

  it('has a stack and the chain of the coroutine that was cancelled, asked for late or at once', async () => {
    const scheduler = new Scheduler();
    let child!: Task<void>;
    const parent = scheduler.go(function* handler() {
      child = yield* spawn(parked);
      yield* sleep(60_000);
    });
    const awaited = parent.then(
      () => null,
      (err: unknown) => err,
    ); // asked for before it is cancelled: made as it settles
    await new Promise((resolve) => setTimeout(resolve, 1));
    parent.cancel();
    const parentErr = await awaited;
    assert.ok(parentErr instanceof CancelledError);
    assert.deepEqual(coroutineChain(parentErr), ['handler']);
    assert.match(
      parentErr.stack ?? '',
      /^CancelledError: coroutine 'handler' was cancelled \(explicit: cancelled\)\n {4}at /,
    );

    const childErr = settledError(child); // nobody asked until now
    assert.ok(childErr instanceof CancelledError);
    assert.equal(childErr.reason.kind, 'parent');
    assert.deepEqual(coroutineChain(childErr), ['handler', 'parked']);
    assert.match(childErr.stack ?? '', /^CancelledError: coroutine 'parked' was cancelled \(parent: /);
    assert.match(childErr.stack ?? '', /\n {4}at .*settledError/, 'the stack shows where it was asked for');
  });

  it('carries what finally blocks threw, and is a DeadlineExceededError for a deadline', async () => {
    const scheduler = new Scheduler();
    const task = scheduler.start({ deadline: 5 }, function* slow() {
      try {
        yield* sleep(60_000);
      } finally {
        // eslint-disable-next-line no-unsafe-finally -- a cleanup that fails is what is tested
        throw new Error('cleanup failed');
      }
    });
    await assert.rejects(task, (err: unknown) => {
      assert.ok(err instanceof DeadlineExceededError);
      assert.equal(err.reason.kind, 'deadline');
      assert.deepEqual(
        err.cleanupErrors.map((e) => (e as Error).message),
        ['cleanup failed'],
      );
      return true;
    });
  });

  it('is still made for race losers someone asks about, and a loser cancelled first is cancelled', async () => {
    const scheduler = new Scheduler();
    let loser!: Task<unknown>;
    function* slow(): Operation<void> {
      loser = yield* self();
      yield* sleep(60_000);
    }
    const winner = await scheduler.go(function* () {
      return yield* race({ quick: sleep(1), slow: slow() });
    });
    assert.deepEqual(winner, { quick: undefined });
    assert.equal(loser.status, 'cancelled');
    const err = settledError(loser);
    assert.ok(err instanceof CancelledError);
    assert.equal(err.reason.kind, 'parent');
  });

  it('cancelling 1,000 parked coroutines runs every finally and counts them cancelled', async () => {
    const scheduler = new Scheduler({ deadline: 0 });
    let finallyRan = 0;
    const tasks: Array<Task<void>> = [];
    for (let i = 0; i < 1_000; i++) {
      tasks.push(
        scheduler.go(function* () {
          try {
            yield* sleep(60_000);
          } finally {
            finallyRan++;
          }
        }),
      );
    }
    for (const task of tasks) task.cancel(CancelReason.budget('shed'));
    assert.equal(finallyRan, 1_000); // synchronously: a parked coroutine unwinds inside cancel()
    assert.equal(scheduler.stats().cancelled, 1_000);
    assert.equal(scheduler.stats().live, 0);
    const outcomes = await Promise.allSettled(tasks);
    assert.ok(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof CancelledError));
  });
});
