import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelledError,
  InvalidArgumentError,
  Scheduler,
  ScopeClosedError,
  createScope,
  ensure,
  resource,
  sleep,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Scope', () => {
  it('close() cancels what still runs in it and resolves once their cleanup and releases are done', async () => {
    const scheduler = new Scheduler({ name: 'background' });
    const scope = createScope({ name: 'jobs', scheduler });
    const log: string[] = [];
    function* worker(name: string): Operation<void> {
      yield* resource(Promise.resolve(name), function* (n) {
        yield* sleep(5);
        log.push(`released ${n}`);
      });
      try {
        for (;;) yield* sleep(2);
      } finally {
        log.push(`${name} unwound`);
      }
    }
    const a = scope.run(worker, 'a');
    const b = scope.start({ name: 'b-task' }, worker, 'b');
    const short = scope.run(function* () {
      yield* sleep(1);
      return 'done early';
    });
    assert.equal(await short, 'done early');
    assert.equal(b.name, 'b-task');
    assert.equal(scope.size, 2);
    await tick(10);
    await scope.close();
    assert.deepEqual(log.sort(), ['a unwound', 'b unwound', 'released a', 'released b']);
    assert.equal(a.status, 'cancelled');
    assert.equal(scope.size, 0);
    assert.equal(scheduler.stats().live, 0, 'nothing of the scope is left on its scheduler');
    await assert.rejects(a, (err: unknown) => err instanceof CancelledError && /scope 'jobs' closed/.test(err.message));
  });

  it('close() is idempotent; nothing can be added afterwards', async () => {
    const scope = createScope({ name: 'once', scheduler: new Scheduler() });
    scope.run(function* () {
      yield* sleep(60_000);
    });
    const first = scope.close();
    assert.equal(scope.close(), first);
    assert.equal(scope.closed, true);
    await first;
    assert.throws(
      () => scope.run(function* () {}),
      (err: unknown) => err instanceof ScopeClosedError && /run\(\) on scope 'once'/.test(err.message),
    );
    assert.throws(() => scope.ensure(() => {}), ScopeClosedError);
  });

  it("runs the scope's own releases after its coroutines have settled, last added first", async () => {
    const scope = createScope({ scheduler: new Scheduler() });
    const log: string[] = [];
    scope.ensure(() => {
      log.push('first added');
    });
    scope.ensure(function* () {
      yield* sleep(2);
      log.push('second added, waits');
    });
    scope.run(function* () {
      try {
        yield* sleep(60_000);
      } finally {
        yield* sleep(3);
        log.push('coroutine unwound');
      }
    });
    await scope.close();
    assert.deepEqual(log, ['coroutine unwound', 'second added, waits', 'first added']);
  });

  it('close() waits for a coroutine cancelled in the middle of its own release', async () => {
    const scope = createScope({ scheduler: new Scheduler() });
    const log: string[] = [];
    const task = scope.run(function* () {
      yield* ensure(function* () {
        log.push('release starts');
        yield* sleep(20);
        log.push('release done');
      });
      return 'body returned';
    });
    await tick(5);
    assert.deepEqual(log, ['release starts']);
    await scope.close();
    assert.deepEqual(log, ['release starts', 'release done'], 'the release ran to its end');
    await assert.rejects(task, CancelledError);
  });

  it('rejects with the first error a release threw, after running the others', async () => {
    const scope = createScope({ scheduler: new Scheduler() });
    const log: string[] = [];
    scope.ensure(() => {
      log.push('still runs');
    });
    scope.ensure(() => {
      throw new Error('release failed');
    });
    await assert.rejects(scope.close(), /release failed/);
    assert.deepEqual(log, ['still runs']);
  });

  it("a coroutine of the scope that fails is reported, the others go on; no deadline unless the scope's", async () => {
    const reported: string[] = [];
    const scheduler = new Scheduler({ deadline: 20, onUnhandledError: (err) => reported.push((err as Error).message) });
    const scope = createScope({ scheduler });
    const survivor = scope.run(function* () {
      yield* sleep(50); // past the scheduler's deadline of 20 ms: the scope's coroutines have none
      return 'alive';
    });
    scope.run(function* () {
      yield* sleep(1);
      throw new Error('background job failed');
    });
    assert.equal(await survivor, 'alive');
    assert.deepEqual(reported, ['background job failed']);
    const bounded = createScope({ scheduler, deadline: 10 });
    const slow = bounded.run(function* () {
      yield* sleep(60_000);
    });
    await assert.rejects(slow, (err: unknown) => err instanceof CancelledError && err.reason.kind === 'deadline');
    await Promise.all([scope.close(), bounded.close()]);
  });

  it('explains bad options', () => {
    assert.throws(() => createScope({ deadline: -1 }), InvalidArgumentError);
    assert.throws(() => createScope({ scheduler: {} as never }), /must be a Scheduler/);
    assert.throws(() => createScope().ensure(42 as never), /needs a function/);
  });
});
