// all/race/timeout wait on a plain promise directly, with no child coroutine: these check that a promise
// member behaves as the child that used to wrap it did.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelledError, Scheduler, TimeoutError, all, cancelled, race, sleep, timeout } from '../../src/index.js';
import type { Operation } from '../../src/index.js';

function* after<T>(ms: number, value: T, log: string[]): Operation<T> {
  try {
    yield* sleep(ms);
    return value;
  } finally {
    if (yield* cancelled()) log.push(`cancelled ${String(value)}`);
  }
}

function later<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(resolve, ms, value));
}

function rejectLater(ms: number, message: string): Promise<never> {
  return new Promise((_resolve, reject) => setTimeout(reject, ms, new Error(message)));
}

/** Runs `body` and fails if a promise rejection went unhandled meanwhile (or within `settleMs` after). */
async function withoutUnhandled(body: () => Promise<void>, settleMs = 30): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
}

describe('promises in all, race and timeout', () => {
  it('all() of promises gives their values in order, as an array or a record, with nothing left live', async () => {
    const scheduler = new Scheduler();
    const values = await scheduler.go(function* () {
      const list = yield* all([later(5, 'a'), Promise.resolve(2), later(1, true)]);
      const record = yield* all({ x: Promise.resolve(1), y: later(2, 'y') });
      return { list, record };
    });
    assert.deepEqual(values, { list: ['a', 2, true], record: { x: 1, y: 'y' } });
    assert.equal(scheduler.stats().live, 0);
    const many = await scheduler.go(function* () {
      return yield* all(Array.from({ length: 1_000 }, (_, i) => Promise.resolve(i)));
    });
    assert.equal(
      many.reduce((a, b) => a + b, 0),
      (1_000 * 999) / 2,
    );
  });

  it('a rejected promise fails all() once the coroutine siblings stopped; later rejections are handled', async () => {
    await withoutUnhandled(async () => {
      const scheduler = new Scheduler();
      const log: string[] = [];
      const task = scheduler.go(function* () {
        try {
          yield* all([rejectLater(5, 'first'), after(60_000, 'slow', log), rejectLater(10, 'second')]);
        } finally {
          log.push('parent resumed');
        }
      });
      await assert.rejects(task, /^Error: first$/);
      assert.deepEqual(log, ['cancelled slow', 'parent resumed']);
    });
  });

  it('race(): a promise beats a coroutine, which is cancelled before the parent goes on', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const r = await scheduler.go(function* () {
      const winner = yield* race({ cached: later(2, 'from cache'), db: after(60_000, 'db', log) });
      log.push('resumed');
      return winner;
    });
    assert.deepEqual(r, { cached: 'from cache' });
    assert.deepEqual(log, ['cancelled db', 'resumed']);
  });

  it('race(): a coroutine beats a promise, which is left; its later rejection is handled', async () => {
    await withoutUnhandled(async () => {
      const scheduler = new Scheduler();
      const log: string[] = [];
      const r = await scheduler.go(function* () {
        return yield* race([rejectLater(15, 'too late'), after(1, 'quick', log)]);
      });
      assert.deepEqual(r, [undefined, 'quick']);
      assert.equal(scheduler.stats().live, 0);
    });
  });

  it('timeout() of a promise throws TimeoutError when it is late, and gives its value in time', async () => {
    const scheduler = new Scheduler();
    await assert.rejects(
      scheduler.go(function* () {
        return yield* timeout(5, later(60_000, 'never'));
      }),
      (err: unknown) => err instanceof TimeoutError && err.ms === 5,
    );
    const quick = await scheduler.go(function* () {
      return yield* timeout(1_000, later(1, 'in time'));
    });
    assert.equal(quick, 'in time');
  });

  it('cancelling a parent waiting on promises and coroutines in all() ends its wait at once', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* () {
      try {
        yield* all([new Promise(() => {}), after(60_000, 'child', log)]);
      } finally {
        log.push('parent finally');
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 2));
    task.cancel('stop');
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log, ['cancelled child', 'parent finally']);
    assert.equal(scheduler.stats().live, 0);
  });

  it('a thenable that is not a native promise still works, through a child coroutine', async () => {
    const scheduler = new Scheduler();
    const thenable: PromiseLike<string> = {
      then(onFulfilled, onRejected) {
        return later(1, 'thenable').then(onFulfilled, onRejected);
      },
    };
    const out = await scheduler.go(function* () {
      return yield* all([thenable, Promise.resolve('native')]);
    });
    assert.deepEqual(out, ['thenable', 'native']);
  });
});
