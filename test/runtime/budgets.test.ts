import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BudgetExceededError,
  CancelledError,
  Scheduler,
  StackBudgetError,
  call,
  sleep,
  spawn,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn CPU without yielding
  }
}

describe('budgets', () => {
  it('runs 100,000 concurrent sleeping coroutines', async () => {
    const n = 100_000;
    const scheduler = new Scheduler({ concurrency: n, deadline: 0 });
    let finished = 0;
    const tasks = new Array<PromiseLike<void>>(n);
    for (let i = 0; i < n; i++) {
      tasks[i] = scheduler.go(function* () {
        yield* sleep(20 + (i % 30));
        finished++;
      });
    }
    assert.equal(scheduler.stats().live, n, 'all of them should be live at once');
    await Promise.all(tasks);
    assert.equal(finished, n);
    const stats = scheduler.stats();
    assert.equal(stats.completed, n);
    assert.equal(stats.live, 0);
  });

  it('queues roots past the concurrency budget, FIFO, and refuses past the backlog', async () => {
    const scheduler = new Scheduler({ name: 'small', concurrency: 2, backlog: 2 });
    const order: number[] = [];
    const job = function* (i: number): Operation<number> {
      order.push(i);
      yield* sleep(10);
      return i;
    };
    const running = [scheduler.go(job, 1), scheduler.go(job, 2)];
    const queued = [scheduler.go(job, 3), scheduler.go(job, 4)];
    assert.deepEqual(
      queued.map((t) => t.status),
      ['queued', 'queued'],
    );
    assert.deepEqual(order, [1, 2], 'queued bodies must not start');
    assert.throws(
      () => scheduler.go(job, 5),
      (err: unknown) =>
        err instanceof BudgetExceededError &&
        err.code === 'COSOCKET_ERR_BUDGET_EXCEEDED' &&
        /scheduler 'small'/.test(err.message),
    );
    let stats = scheduler.stats();
    assert.equal(stats.liveRoots, 2);
    assert.equal(stats.queued, 2);
    assert.equal(stats.rejected, 1);
    assert.deepEqual(await Promise.all([...running, ...queued]), [1, 2, 3, 4]);
    assert.deepEqual(order, [1, 2, 3, 4]);
    stats = scheduler.stats();
    assert.equal(stats.completed, 4);
    assert.equal(stats.queued, 0);
  });

  it('a cancelled queued coroutine leaves the queue and never runs', async () => {
    const scheduler = new Scheduler({ concurrency: 1, backlog: 5 });
    let ran = false;
    const first = scheduler.go(function* () {
      yield* sleep(10);
    });
    const second = scheduler.go(function* () {
      ran = true;
    });
    second.cancel();
    await assert.rejects(second, CancelledError);
    await first;
    assert.equal(ran, false);
    assert.equal(scheduler.stats().queued, 0);
  });

  it('cancels a root that waited longer than queueTimeout, with reason budget', async () => {
    const scheduler = new Scheduler({ concurrency: 1, backlog: 5, queueTimeout: 10 });
    const blocker = scheduler.go(function* () {
      yield* sleep(60);
    });
    const waiting = scheduler.go(function* () {
      return 'ran';
    });
    await assert.rejects(waiting, (err: unknown) => err instanceof CancelledError && err.reason.kind === 'budget');
    await blocker;
  });

  it('fails a call chain deeper than maxDepth with an error naming the chain, catchable by the caller', async () => {
    const scheduler = new Scheduler({ maxDepth: 6 });
    function* descend(n: number): Operation<number> {
      return yield* call(descend, n + 1);
    }
    const task = scheduler.go(function* handler() {
      return yield* call(descend, 0);
    });
    await assert.rejects(task, (err: unknown) => {
      assert.ok(err instanceof StackBudgetError);
      assert.equal(err.maxDepth, 6);
      assert.deepEqual(err.chain, ['handler', 'descend', 'descend', 'descend', 'descend', 'descend', 'descend']);
      assert.match(err.message, /stack budget of 6: handler > descend > descend/);
      return true;
    });
    const caught = await scheduler.go(function* () {
      try {
        yield* call(descend, 0);
      } catch (err) {
        return (err as StackBudgetError).code;
      }
      return 'no';
    });
    assert.equal(caught, 'COSOCKET_ERR_STACK_BUDGET');
    assert.equal(scheduler.stats().deepestChain, 6);
  });

  it('counts spawn nesting against the same budget', async () => {
    const scheduler = new Scheduler({ maxDepth: 4 });
    function* nest(n: number): Operation<number> {
      const child = yield* spawn(nest, n + 1);
      return yield* child;
    }
    await assert.rejects(scheduler.go(nest, 0), StackBudgetError);
  });

  it('turns runaway yield* recursion into a StackBudgetError, not a crash', async () => {
    const scheduler = new Scheduler();
    function* forever(n: number): Operation<number> {
      return yield* forever(n + 1);
    }
    await assert.rejects(scheduler.go(forever, 0), (err: unknown) => {
      assert.ok(err instanceof StackBudgetError);
      assert.ok(err.cause instanceof RangeError);
      return true;
    });
  });

  /**
   * A spinner runs SPINS busy steps, each resolving at once (without fairness, timers never get a turn);
   * a sleep(10) started beside it records how many steps the spinner had done when it woke.
   */
  const SPINS = 4_000;
  async function spinsBeforeSleeperWoke(fairnessSteps: number): Promise<number> {
    const scheduler = new Scheduler({ fairnessSteps, deadline: 0 });
    let spins = 0;
    const spinner = scheduler.go(function* spinner() {
      while (spins < SPINS) {
        busyFor(0.05); // each step takes wall time, so the sleeper's 10 ms pass within the first few hundred steps
        spins++;
        yield* call(Promise.resolve());
      }
    });
    let spinsAtWake = -1;
    const sleeper = scheduler.go(function* () {
      yield* sleep(10);
      spinsAtWake = spins;
    });
    await Promise.all([spinner, sleeper]);
    return spinsAtWake;
  }

  it('fairness: a CPU-looping coroutine does not starve a sleep(10)', async () => {
    // control: with fairness off the spinner holds the loop until its last step
    assert.equal(await spinsBeforeSleeperWoke(Infinity), SPINS, 'control run should starve the sleeper');
    // 10 ms have passed after at most 200 steps of 0.05 ms, and a fairness yield comes every 100 steps
    const woke = await spinsBeforeSleeperWoke(100);
    assert.ok(woke < SPINS / 2, `sleep(10) woke only after ${woke} of ${SPINS} busy steps`);
  });
});
