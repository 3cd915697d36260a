import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { CancelledError, InvalidArgumentError, Scheduler, cancelled, goWith, race, sleep } from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';

function listeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

function* waitsLong(log: string[], name: string): Operation<void> {
  try {
    yield* sleep(60_000);
  } finally {
    if (yield* cancelled()) log.push(`${name} cleaned up`);
  }
}

async function cancellation(task: Task<unknown>): Promise<CancelledError> {
  try {
    await task;
  } catch (err) {
    assert.ok(err instanceof CancelledError, `not a CancelledError: ${String(err)}`);
    return err;
  }
  return assert.fail(`task '${task.name}' was not cancelled`);
}

describe('a task started with an AbortSignal', () => {
  it('is cancelled with reason explicit when the signal aborts, in the middle of a race', async () => {
    const controller = new AbortController();
    const log: string[] = [];
    const task = goWith({ signal: controller.signal }, function* request() {
      try {
        yield* race({ cache: waitsLong(log, 'cache'), db: waitsLong(log, 'db') });
      } finally {
        log.push('request finally');
      }
    });
    assert.equal(listeners(controller.signal), 1);
    setTimeout(() => controller.abort('client went away'), 5);
    const err = await cancellation(task);
    assert.equal(err.reason.kind, 'explicit');
    assert.equal(err.reason.detail, 'client went away');
    assert.equal(err.message, "coroutine 'request' was cancelled (explicit: client went away)");
    assert.deepEqual(log, ['cache cleaned up', 'db cleaned up', 'request finally']);
    assert.equal(listeners(controller.signal), 0);
  });

  it("takes an Error reason's message, and says so when the reason is neither", async () => {
    const scheduler = new Scheduler();
    const byError = new AbortController();
    const a = scheduler.start({ signal: byError.signal }, function* () {
      yield* sleep(60_000);
    });
    byError.abort(new Error('shutting down'));
    assert.equal((await cancellation(a)).reason.detail, 'shutting down');

    const byDefault = new AbortController();
    const b = scheduler.start({ signal: byDefault.signal }, function* () {
      yield* sleep(60_000);
    });
    byDefault.abort(); // a DOMException AbortError
    assert.equal((await cancellation(b)).reason.detail, 'This operation was aborted');

    const byNumber = new AbortController();
    const c = scheduler.start({ signal: byNumber.signal }, function* () {
      yield* sleep(60_000);
    });
    byNumber.abort(42);
    assert.equal((await cancellation(c)).reason.detail, 'its AbortSignal was aborted');
  });

  it('is cancelled at once, its body never called, when the signal aborted already', async () => {
    const scheduler = new Scheduler();
    let called = false;
    const task = scheduler.start({ signal: AbortSignal.abort('too late'), name: 'late' }, () => {
      called = true;
      return Promise.resolve(1);
    });
    assert.equal(task.status, 'cancelled');
    assert.equal(called, false);
    assert.equal((await cancellation(task)).reason.detail, 'too late');
    assert.equal(scheduler.stats().cancelled, 1);
    assert.equal(scheduler.stats().live, 0);
    assert.equal(scheduler.pendingRoots, 0);
  });

  it('removes its listener when it ends: returned, failed or cancelled otherwise', async () => {
    const scheduler = new Scheduler();
    const signal = new AbortController().signal; // one long-lived signal shared by many tasks
    const tasks: Array<Task<unknown>> = [];
    for (let i = 0; i < 50; i++) {
      tasks.push(
        scheduler.start({ signal }, function* () {
          yield* sleep(1);
          return i;
        }),
      );
    }
    tasks.push(
      scheduler.start({ signal }, function* () {
        yield* sleep(1);
        throw new Error('failed');
      }),
    );
    const cancelledOtherwise = scheduler.start({ signal }, function* () {
      yield* sleep(60_000);
    });
    tasks.push(cancelledOtherwise);
    assert.equal(listeners(signal), 52);
    cancelledOtherwise.cancel();
    await Promise.allSettled(tasks);
    assert.equal(listeners(signal), 0);
  });

  it('cancels a root still queued for a slot, which then never starts', async () => {
    const scheduler = new Scheduler({ concurrency: 1 });
    const holder = scheduler.go(function* () {
      yield* sleep(20);
    });
    const controller = new AbortController();
    let started = false;
    const queued = scheduler.start({ signal: controller.signal }, function* () {
      started = true;
      yield* sleep(1);
    });
    assert.equal(queued.status, 'queued');
    controller.abort('not needed');
    assert.equal(queued.status, 'cancelled');
    assert.equal(listeners(controller.signal), 0);
    await holder;
    await assert.rejects(queued, CancelledError);
    assert.equal(started, false);
  });

  it('a later abort changes nothing once the task ended', async () => {
    const controller = new AbortController();
    const task = goWith({ signal: controller.signal }, function* () {
      yield* sleep(1);
      return 'done';
    });
    assert.equal(await task, 'done');
    controller.abort();
    assert.equal(task.status, 'completed');
  });

  it('refuses a signal that is not an AbortSignal', () => {
    assert.throws(
      () => goWith({ signal: {} as AbortSignal }, function* () {}),
      (err: unknown) =>
        err instanceof InvalidArgumentError && /'signal' must be an AbortSignal, got object/.test(err.message),
    );
  });
});
