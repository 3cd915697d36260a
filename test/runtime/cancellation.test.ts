import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelReason, CancelledError, Scheduler, call, cancelled, self, sleep, spawn } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { runNode } from '../helpers/process.js';

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('cancellation', () => {
  it('runs finally blocks of every frame, innermost first, and can yield inside them', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    function* inner(): Operation<void> {
      try {
        yield* sleep(60_000);
      } finally {
        log.push(`inner finally, cancelled=${String(yield* cancelled())}`);
        yield* sleep(1); // cleanup may wait
        log.push('inner cleanup done');
      }
    }
    const task = scheduler.go(function* outer() {
      try {
        yield* call(inner);
      } catch {
        log.push('catch must not run on cancellation');
      } finally {
        log.push('outer finally');
      }
    });
    await new Promise((r) => setTimeout(r, 5));
    task.cancel('stop');
    await assert.rejects(task, (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal(err.reason.kind, 'explicit');
      assert.equal(err.reason.detail, 'stop');
      return true;
    });
    assert.deepEqual(log, ['inner finally, cancelled=true', 'inner cleanup done', 'outer finally']);
    assert.equal(task.status, 'cancelled');
  });

  it('clears the timer of a pending sleep', async () => {
    const scheduler = new Scheduler({ deadline: 0 });
    const before = activeTimers();
    const tasks = Array.from({ length: 50 }, () =>
      scheduler.go(function* () {
        yield* sleep(3_600_000);
      }),
    );
    assert.ok(activeTimers() > before, 'sleeping coroutines should hold timers');
    for (const t of tasks) t.cancel();
    await Promise.allSettled(tasks);
    assert.equal(activeTimers(), before, 'cancelled sleeps left timers behind');
  });

  it('lets a process with cancelled long sleeps exit promptly (no leaked handles)', async () => {
    const script = `
      import { go, sleep } from 'cosocket';
      const tasks = [];
      for (let i = 0; i < 1000; i++) tasks.push(go(function* () { try { yield* sleep(3600000); } finally { globalThis.n = (globalThis.n ?? 0) + 1; } }));
      setTimeout(() => { for (const t of tasks) t.cancel(); Promise.allSettled(tasks).then(() => console.log('finally ran', globalThis.n)); }, 20);`;
    const result = await runNode(script, 15_000);
    assert.equal(result.signal, null, 'process had to be killed: something kept the event loop alive');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /finally ran 1000/);
    assert.ok(result.ms < 10_000, `exit took ${result.ms} ms`);
  });

  it('reaches children: cancelling a parent cancels its spawned children with reason parent', async () => {
    const scheduler = new Scheduler();
    const reasons: string[] = [];
    function* child(): Operation<void> {
      try {
        yield* sleep(60_000);
      } finally {
        if (yield* cancelled()) reasons.push('child cancelled');
      }
    }
    let childTask: { reason: CancelReason | null } | undefined;
    const parent = scheduler.go(function* () {
      childTask = yield* spawn(child);
      yield* sleep(60_000);
    });
    await new Promise((r) => setTimeout(r, 5));
    parent.cancel(CancelReason.clientAbort());
    await assert.rejects(parent, (err: unknown) => err instanceof CancelledError && err.reason.kind === 'client-abort');
    assert.deepEqual(reasons, ['child cancelled']);
    assert.equal(childTask?.reason?.kind, 'parent');
    assert.equal(scheduler.stats().live, 0);
  });

  it('cancels a coroutine at its deadline, counted as timed out', async () => {
    const scheduler = new Scheduler({ deadline: 30 });
    const started = Date.now();
    const task = scheduler.go(function* () {
      yield* sleep(60_000);
    });
    await assert.rejects(task, (err: unknown) => err instanceof CancelledError && err.reason.kind === 'deadline');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 25, `deadline fired early (${elapsed} ms)`);
    const stats = scheduler.stats();
    assert.equal(stats.timedOut, 1);
    assert.equal(stats.cancelled, 1);
  });

  it('lets one coroutine override the default deadline', async () => {
    const scheduler = new Scheduler({ deadline: 10 });
    const task = scheduler.start({ name: 'patient', deadline: 0 }, function* () {
      yield* sleep(40);
      return 'done';
    });
    assert.equal(await task, 'done');
  });

  it('bounds cleanup that hangs by the deadline', async () => {
    const scheduler = new Scheduler({ deadline: 50 });
    const log: string[] = [];
    const task = scheduler.go(function* () {
      try {
        yield* sleep(60_000);
      } finally {
        log.push('cleanup started');
        yield* sleep(60_000); // a cleanup that would never end
        log.push('never');
      }
    });
    setTimeout(() => task.cancel('first'), 5);
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log, ['cleanup started']);
  });

  it('types the reason: explicit, client-abort, deadline, parent, budget', () => {
    for (const kind of ['explicit', 'client-abort', 'deadline', 'parent', 'budget'] as const) {
      assert.equal(new CancelReason(kind).kind, kind);
    }
    assert.throws(() => new CancelReason('bogus' as never), /unknown cancel reason kind/);
  });

  it('a coroutine can cancel itself; the rest of its body does not run', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* selfish(): Operation<void> {
      try {
        log.push('before');
        (yield* self()).cancel('self');
        yield* sleep(1);
        log.push('after');
      } finally {
        log.push('finally');
      }
    });
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log, ['before', 'finally']);
  });

  it('records errors thrown by finally blocks during cancellation', async () => {
    const scheduler = new Scheduler();
    const task = scheduler.go(function* () {
      try {
        yield* sleep(60_000);
      } finally {
        // eslint-disable-next-line no-unsafe-finally -- the failing cleanup under test
        throw new Error('cleanup broke');
      }
    });
    setTimeout(() => task.cancel(), 2);
    await assert.rejects(task, (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal((err.cleanupErrors[0] as Error).message, 'cleanup broke');
      return true;
    });
  });
});
