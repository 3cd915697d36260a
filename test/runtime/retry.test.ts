import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelledError,
  InvalidArgumentError,
  OutsideCoroutineError,
  Scheduler,
  retry,
  sleep,
  spawn,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** An operation that fails `failures` times, then returns 'ok'; it records each attempt's number. */
function flaky(failures: number, attempts: number[]): (attempt: number) => Operation<string> {
  return function* (attempt) {
    attempts.push(attempt);
    yield* sleep(1);
    if (attempts.length <= failures) throw new Error(`failure ${attempts.length}`);
    return 'ok';
  };
}

describe('retry', () => {
  it('runs the operation again until it succeeds', async () => {
    const scheduler = new Scheduler();
    const attempts: number[] = [];
    const value = await scheduler.go(() => retry(flaky(2, attempts), { backoff: { initial: 1 } }));
    assert.equal(value, 'ok');
    assert.deepEqual(attempts, [0, 1, 2]);
  });

  it('throws the last error once the retries are used up', async () => {
    const scheduler = new Scheduler();
    const attempts: number[] = [];
    const task = scheduler.go(() => retry(flaky(10, attempts), { retries: 2, backoff: { initial: 1 } }));
    await assert.rejects(task, /failure 3/);
    assert.equal(attempts.length, 3);
  });

  it('retries only what `on` accepts, and never a CancelledError', async () => {
    const scheduler = new Scheduler();
    let calls = 0;
    const notRetryable = scheduler.go(() =>
      retry(
        () => {
          calls++;
          return Promise.reject(new TypeError('bad request'));
        },
        { on: (err) => !(err instanceof TypeError), backoff: { initial: 1 } },
      ),
    );
    await assert.rejects(notRetryable, TypeError);
    assert.equal(calls, 1);

    let joins = 0;
    const cancelledChild = scheduler.go(() =>
      retry(function* () {
        joins++;
        const child = yield* spawn(function* () {
          yield* sleep(60_000);
        });
        child.cancel();
        return yield* child; // throws the child's CancelledError
      }),
    );
    await assert.rejects(cancelledChild, CancelledError);
    assert.equal(joins, 1);
  });

  it('waits with exponential backoff between attempts; the function form gets the retry number and error', async () => {
    const scheduler = new Scheduler();
    const attempts: number[] = [];
    const started = Date.now();
    await scheduler.go(() => retry(flaky(2, attempts), { backoff: { initial: 20, factor: 3 }, jitter: 'none' }));
    assert.ok(Date.now() - started >= 20 + 60 - 2, 'it waited 20 ms, then 60 ms');

    const asked: string[] = [];
    await scheduler.go(() =>
      retry(flaky(2, []), {
        backoff: (n, err) => {
          asked.push(`${n}: ${(err as Error).message}`);
          return 1;
        },
      }),
    );
    assert.deepEqual(asked, ['1: failure 1', '2: failure 2']);
  });

  it('cancelled during the backoff wait: stops at once, clears the timer, no further attempt', async () => {
    const scheduler = new Scheduler();
    const attempts: number[] = [];
    const before = activeTimers();
    const task = scheduler.go(() => retry(flaky(10, attempts), { backoff: { initial: 60_000 }, jitter: 'none' }));
    await tick(10);
    assert.deepEqual(attempts, [0]);
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.equal(activeTimers(), before, 'the backoff timer is left behind');
    await tick(5);
    assert.deepEqual(attempts, [0]);
  });

  it('cancelled during an attempt: the attempt unwinds and is not retried', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(() =>
      retry(function* () {
        log.push('attempt');
        try {
          yield* sleep(60_000);
        } finally {
          log.push('attempt unwound');
        }
      }),
    );
    await tick(5);
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log, ['attempt', 'attempt unwound']);
  });

  it("does not wait past the coroutine's deadline: throws the last error at once", async () => {
    const scheduler = new Scheduler();
    const attempts: number[] = [];
    const task = scheduler.start({ deadline: 200 }, () =>
      retry(flaky(10, attempts), { backoff: { initial: 5_000 }, jitter: 'none' }),
    );
    await assert.rejects(task, /failure 1/);
    assert.equal(attempts.length, 1);
    assert.ok(!task.cancelling, 'it failed with the last error, it was not cancelled by the deadline');

    const inChild = scheduler.start({ deadline: 200 }, function* () {
      const child = yield* spawn(() => retry(flaky(10, []), { backoff: { initial: 5_000 }, jitter: 'none' }));
      return yield* child;
    });
    await assert.rejects(inChild, /failure 1/, "a child goes by its root's deadline");
  });

  it('explains bad options', async () => {
    const op = (): Promise<number> => Promise.resolve(1);
    assert.throws(() => retry(42 as never), /needs a function/);
    assert.throws(() => retry(op, { retries: -1 }), /'retries' must be a whole number >= 0 or Infinity, got -1/);
    assert.throws(() => retry(op, { retries: 1.5 }), InvalidArgumentError);
    assert.throws(() => retry(op, { jitter: 'half' as never }), /'jitter' must be 'full' or 'none'/);
    assert.throws(() => retry(op, { retry: 3 } as never), /no option 'retry'/);
    assert.throws(() => retry(op, { backoff: { inital: 1 } as never }), /no setting 'inital'/);
    assert.throws(() => retry(op, { backoff: { factor: 0.5 } }), /'factor' must be a finite number >= 1/);
    assert.throws(() => retry(op, { backoff: { initial: Infinity } }), /'initial' must be a finite number >= 0/);
    assert.throws(() => retry(op, { on: 'yes' as never }), /'on' must be a function/);
    assert.throws(() => retry(op).next(), OutsideCoroutineError);
    const scheduler = new Scheduler();
    await assert.rejects(
      scheduler.go(() => retry(() => Promise.reject(new Error('x')), { backoff: () => Number.NaN })),
      /backoff function must return a finite number of ms >= 0, got NaN for retry 1/,
    );
    await assert.rejects(
      scheduler.go(() => retry((() => 42) as never)),
      /op\(\) must return an operation or a promise, got number/,
    );
  });
});
