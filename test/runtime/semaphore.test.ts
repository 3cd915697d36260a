import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelledError, Scheduler, Semaphore, TimeoutError, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';

describe('Semaphore', () => {
  it('admits at most N holders, FIFO', async () => {
    const scheduler = new Scheduler();
    const sem = new Semaphore(2, 'db');
    let holders = 0;
    let peak = 0;
    const order: number[] = [];
    function* worker(i: number): Operation<void> {
      yield* sem.use(
        (function* () {
          holders++;
          peak = Math.max(peak, holders);
          order.push(i);
          yield* sleep(5);
          holders--;
        })(),
      );
    }
    await Promise.all([1, 2, 3, 4, 5].map((i) => scheduler.go(worker, i)));
    assert.equal(peak, 2);
    assert.deepEqual(order, [1, 2, 3, 4, 5]);
    assert.equal(sem.available, 2);
  });

  it('a permit handed to a waiter cancelled before it ran goes on to the next waiter', async () => {
    const scheduler = new Scheduler();
    const sem = new Semaphore(1, 'one');
    const got: string[] = [];
    function* waiter(name: string): Operation<void> {
      yield* sem.use(
        (function* () {
          got.push(name);
        })(),
      );
    }
    const first = scheduler.go(function* () {
      yield* sem.acquire();
      yield* sleep(10);
      // in one step: the permit goes to 'cancelled', which is cancelled before it runs
      sem.release();
      cancelledWaiter.cancel('gone');
    });
    const cancelledWaiter = scheduler.go(waiter, 'cancelled');
    const next = scheduler.go(waiter, 'next');
    await first;
    await assert.rejects(cancelledWaiter, CancelledError);
    assert.equal(sem.waiting, 0, 'the permit went on to the next waiter');
    await next;
    assert.deepEqual(got, ['next']);
    assert.equal(sem.available, 1);
  });

  it('times out an acquire that waits too long', async () => {
    const scheduler = new Scheduler();
    const sem = new Semaphore(1, 'one');
    const holder = scheduler.go(function* () {
      yield* sem.use(sleep(50));
    });
    const waiter = scheduler.go(function* () {
      yield* sem.acquire(10);
    });
    await assert.rejects(waiter, (err: unknown) => err instanceof TimeoutError && /semaphore 'one'/.test(err.message));
    assert.equal(sem.waiting, 0);
    await holder;
    assert.equal(sem.available, 1);
  });

  it('a cancelled waiter leaves the queue; the permit goes to the next one', async () => {
    const scheduler = new Scheduler();
    const sem = new Semaphore(1);
    const got: string[] = [];
    const holder = scheduler.go(function* () {
      yield* sem.use(sleep(20));
    });
    const cancelledWaiter = scheduler.go(function* () {
      yield* sem.acquire();
      got.push('cancelled one');
    });
    const next = scheduler.go(function* () {
      yield* sem.use(
        (function* () {
          got.push('next');
        })(),
      );
    });
    assert.equal(sem.waiting, 2);
    cancelledWaiter.cancel();
    await assert.rejects(cancelledWaiter, CancelledError);
    assert.equal(sem.waiting, 1);
    await Promise.all([holder, next]);
    assert.deepEqual(got, ['next']);
    assert.equal(sem.available, 1);
  });

  it('refuses a release without an acquire', () => {
    const sem = new Semaphore(1, 'strict');
    assert.throws(() => sem.release(), /semaphore 'strict' released more often than acquired/);
  });
});
