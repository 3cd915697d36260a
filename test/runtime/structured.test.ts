import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelledError,
  Scheduler,
  TimeoutError,
  all,
  call,
  cancelled,
  race,
  sleep,
  spawn,
  spawnDetached,
  timeout,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';

function* after<T>(ms: number, value: T, log?: string[]): Operation<T> {
  try {
    yield* sleep(ms);
    return value;
  } finally {
    if (log && (yield* cancelled())) log.push(`cancelled ${String(value)}`);
  }
}

describe('spawn, all, race, timeout', () => {
  it('a parent does not finish before its attached children', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const parent = scheduler.go(function* () {
      yield* spawn(function* () {
        yield* sleep(20);
        log.push('child done');
      });
      log.push('parent body done');
      return 'parent';
    });
    assert.equal(await parent, 'parent');
    assert.deepEqual(log, ['parent body done', 'child done']);
  });

  it('joins a child with yield* and gets its value', async () => {
    const scheduler = new Scheduler();
    const v = await scheduler.go(function* () {
      const child = yield* spawn(after, 5, 'x');
      return yield* child;
    });
    assert.equal(v, 'x');
  });

  it('a failing child that nobody joins fails its parent and cancels the siblings', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const parent = scheduler.go(function* () {
      yield* spawn(after, 60_000, 'sibling', log);
      yield* spawn(function* () {
        yield* sleep(5);
        throw new Error('child broke');
      });
      try {
        yield* sleep(60_000);
      } finally {
        log.push(`parent unwound, cancelled=${String(yield* cancelled())}`);
      }
    });
    await assert.rejects(parent, /child broke/);
    assert.deepEqual(log.sort(), ['cancelled sibling', 'parent unwound, cancelled=true']);
    assert.equal(scheduler.stats().live, 0);
  });

  it('a joined child failure is delivered to the join and does not fail the parent', async () => {
    const scheduler = new Scheduler();
    const v = await scheduler.go(function* () {
      const child = yield* spawn(function* () {
        yield* sleep(5);
        throw new Error('handled');
      });
      try {
        yield* child;
      } catch (err) {
        return `caught ${(err as Error).message}`;
      }
      return 'no';
    });
    assert.equal(v, 'caught handled');
  });

  it('spawnDetached outlives its parent and is not cancelled with it', async () => {
    const scheduler = new Scheduler();
    let detachedDone = false;
    const parent = scheduler.go(function* () {
      const t = yield* spawnDetached(function* () {
        yield* sleep(20);
        detachedDone = true;
      });
      yield* sleep(60_000);
      return t;
    });
    await new Promise((r) => setTimeout(r, 5));
    parent.cancel();
    await assert.rejects(parent, CancelledError);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(detachedDone, true);
  });

  it('all() returns every result, as array or record', async () => {
    const scheduler = new Scheduler();
    const [arr, rec] = await scheduler.go(function* () {
      const a = yield* all([after(10, 1), after(5, 'two'), Promise.resolve(true)] as const);
      const r = yield* all({ x: after(1, 'x'), y: sleep(1) });
      return [a, r] as const;
    });
    assert.deepEqual(arr, [1, 'two', true]);
    assert.deepEqual(rec, { x: 'x', y: undefined });
  });

  it('all() cancels the rest when one fails, and throws once they have stopped', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* () {
      yield* all([
        after(60_000, 'slow', log),
        (function* () {
          yield* sleep(5);
          throw new Error('one failed');
        })(),
      ]);
    });
    await assert.rejects(task, /one failed/);
    assert.deepEqual(log, ['cancelled slow']);
  });

  it('race() returns the winner and cancels the losers before resuming', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const result = await scheduler.go(function* () {
      const r = yield* race({ fast: after(5, 'fast', log), slow: after(60_000, 'slow', log) });
      log.push('resumed');
      return r;
    });
    assert.deepEqual(result, { fast: 'fast' });
    assert.deepEqual(log, ['cancelled slow', 'resumed']);
    assert.equal(scheduler.stats().live, 0);
  });

  it('race() over an array marks the winner by index', async () => {
    const scheduler = new Scheduler();
    const r = await scheduler.go(function* () {
      return yield* race([after(30, 'a'), after(1, 'b')]);
    });
    assert.deepEqual(r, [undefined, 'b']);
  });

  it('timeout() throws TimeoutError and cancels the operation; returns its value when in time', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const slow = scheduler.go(function* () {
      return yield* timeout(20, after(60_000, 'late', log));
    });
    await assert.rejects(slow, (err: unknown) => err instanceof TimeoutError && err.ms === 20);
    assert.deepEqual(log, ['cancelled late']);
    const quick = await scheduler.go(function* () {
      return yield* timeout(1_000, after(1, 'quick'));
    });
    assert.equal(quick, 'quick');
  });

  it('cancelling a parent waiting in all()/race() cancels every branch', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* () {
      yield* race([after(60_000, 'r1', log), all([after(60_000, 'a1', log), after(60_000, 'a2', log)])]);
    });
    await new Promise((r) => setTimeout(r, 5));
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log.sort(), ['cancelled a1', 'cancelled a2', 'cancelled r1']);
    assert.equal(scheduler.stats().live, 0);
  });

  it('cancelling a parent waiting in race() lets its finally block wait and finish its cleanup', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* () {
      try {
        yield* race([after(60_000, 'a', log), after(60_000, 'b', log)]);
      } finally {
        yield* sleep(20); // cleanup that waits
        log.push('cleanup done');
      }
    });
    await new Promise((r) => setTimeout(r, 5));
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log, ['cancelled a', 'cancelled b', 'cleanup done']);
  });

  it('call() of a generator function runs it as a frame of the same coroutine', async () => {
    const scheduler = new Scheduler();
    await scheduler.go(function* () {
      yield* call(function* frame() {
        yield* sleep(1);
      });
    });
    const stats = scheduler.stats();
    assert.equal(stats.started, 1, 'call() must not start a new coroutine');
    assert.equal(stats.deepestChain, 2);
  });
});
