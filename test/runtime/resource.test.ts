import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelledError,
  DeadlineExceededError,
  InvalidArgumentError,
  OutsideCoroutineError,
  Scheduler,
  call,
  ensure,
  race,
  resource,
  sleep,
  spawn,
} from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `done()` holds, looking every millisecond: no fixed delay a loaded machine could overrun. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await tick(1);
}

/** An acquire that takes a little while, as opening a connection would. */
function* open(name: string, log: string[]): Operation<string> {
  yield* sleep(1);
  log.push(`open ${name}`);
  return name;
}

/** A release that waits before it is done, as closing a connection politely would. */
function closer(log: string[]): (name: string) => Operation<void> {
  return function* (name) {
    log.push(`closing ${name}`);
    yield* sleep(2);
    log.push(`closed ${name}`);
  };
}

describe('resource and ensure', () => {
  it('release what was acquired when the coroutine returns, last acquired first, before it settles', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* main() {
      const a = yield* resource(open('a', log), closer(log));
      yield* ensure(() => {
        log.push('ensure');
      });
      const b = yield* resource(Promise.resolve('b'), (value) => {
        log.push(`release ${value}`);
      });
      log.push(`using ${a} and ${b}`);
      return 42;
    });
    assert.equal(await task, 42);
    assert.deepEqual(log, ['open a', 'using a and b', 'release b', 'ensure', 'closing a', 'closed a']);
  });

  it('release on failure; the coroutine fails with its own error', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* main() {
      yield* resource(open('a', log), closer(log));
      throw new Error('boom');
    });
    await assert.rejects(task, /boom/);
    assert.deepEqual(log, ['open a', 'closing a', 'closed a']);
  });

  it('release on cancellation in the middle of the body; the release may wait, and runs to its end', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* main() {
      yield* resource(open('a', log), closer(log));
      yield* resource(open('b', log), closer(log));
      try {
        yield* sleep(60_000);
      } finally {
        log.push('finally');
      }
    });
    await until(() => log.includes('open b'));
    task.cancel('stop');
    await tick(1);
    task.cancel('again'); // a second cancel does not cut the release that is waiting
    await assert.rejects(task, (err: unknown) => err instanceof CancelledError && err.reason.detail === 'stop');
    assert.deepEqual(log, ['open a', 'open b', 'finally', 'closing b', 'closed b', 'closing a', 'closed a']);
  });

  it('registers nothing when the acquire is cancelled or fails', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    function* slowOpen(): Operation<string> {
      try {
        yield* sleep(60_000);
        return 'never';
      } finally {
        log.push('acquire unwound');
      }
    }
    const cancelledTask = scheduler.go(function* () {
      yield* resource(slowOpen(), () => {
        log.push('release must not run');
      });
    });
    await tick(5);
    cancelledTask.cancel();
    await assert.rejects(cancelledTask, CancelledError);
    const failedTask = scheduler.go(function* () {
      yield* resource(Promise.reject(new Error('no connection')), () => {
        log.push('release must not run');
      });
    });
    await assert.rejects(failedTask, /no connection/);
    assert.deepEqual(log, ['acquire unwound']);
  });

  it("belongs to the coroutine, not the frame: runs after the coroutine's children", async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    function* acquireInHelper(): Operation<string> {
      return yield* resource(open('conn', log), closer(log));
    }
    const task = scheduler.go(function* main() {
      const conn = yield* call(acquireInHelper);
      log.push('helper returned');
      yield* spawn(function* child() {
        yield* sleep(10);
        log.push(`child still uses ${conn}`);
      });
      return 'body done';
    });
    assert.equal(await task, 'body done');
    assert.deepEqual(log, ['open conn', 'helper returned', 'child still uses conn', 'closing conn', 'closed conn']);
  });

  it("a race's loser is released before the race returns", async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(function* () {
      const result = yield* race({
        // decided only once the loser holds its resource: a fixed sleep could win first on a loaded machine
        fast: (function* () {
          while (!log.includes('open loser')) yield* sleep(1);
        })(),
        slow: (function* () {
          yield* resource(open('loser', log), closer(log));
          yield* sleep(60_000);
        })(),
      });
      log.push(`race returned ${Object.keys(result).join()}`);
    });
    await task;
    assert.deepEqual(log, ['open loser', 'closing loser', 'closed loser', 'race returned fast']);
  });

  it('a deadline cuts a release that waits; the releases not started yet still run', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.start({ deadline: 30 }, function* main() {
      yield* ensure(() => {
        log.push('first acquired, released last');
      });
      yield* ensure(function* () {
        try {
          log.push('stuck release starts');
          yield* sleep(60_000);
        } finally {
          log.push('stuck release unwound');
        }
      });
      return 'done';
    });
    await assert.rejects(task, DeadlineExceededError);
    assert.deepEqual(log, ['stuck release starts', 'stuck release unwound', 'first acquired, released last']);
  });

  it('a failing release: fails a coroutine that returned, joins the cleanup errors of a cancelled one', async () => {
    const reported: unknown[] = [];
    const scheduler = new Scheduler({ onUnhandledError: (err) => reported.push(err) });
    const log: string[] = [];
    const returned = scheduler.go(function* () {
      yield* ensure(() => {
        log.push('other release still runs');
      });
      yield* ensure(() => {
        throw new Error('release failed');
      });
      return 1;
    });
    await assert.rejects(returned, /release failed/);
    assert.deepEqual(log, ['other release still runs']);

    const cancelled = scheduler.go(function* () {
      yield* ensure(() => Promise.reject(new Error('async release failed')));
      yield* sleep(60_000);
    });
    await tick(2);
    cancelled.cancel();
    await assert.rejects(cancelled, (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.deepEqual(
        err.cleanupErrors.map((e) => (e as Error).message),
        ['async release failed'],
      );
      return true;
    });

    const failed: Task<void> = scheduler.go(function* () {
      yield* ensure(() => {
        throw new Error('release failed too');
      });
      throw new Error('body failed');
    });
    await assert.rejects(failed, /body failed/);
    assert.deepEqual(
      reported.map((e) => (e as Error).message),
      ['release failed too'],
    );
  });

  it('explains misuse', async () => {
    assert.throws(() => ensure(42 as never), InvalidArgumentError);
    assert.throws(() => resource(42 as never, () => {}), /operation or a promise/);
    assert.throws(() => resource(sleep(1), null as never), /release function/);
    assert.throws(() => ensure(() => {}).next(), OutsideCoroutineError);
  });
});

describe('cleanup code that calls a generator while its coroutine is cancelled', () => {
  it('a finally block gets the result of call(gen) and runs to its end', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    function* flush(): Operation<number> {
      yield* sleep(2);
      log.push('flushed');
      return 7;
    }
    const task = scheduler.go(function* main() {
      try {
        yield* sleep(60_000);
      } finally {
        const n = yield* call(flush);
        log.push(`after call: ${n}`);
        yield* sleep(1);
        log.push('end of finally');
      }
    });
    await tick(5);
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log, ['flushed', 'after call: 7', 'end of finally']);
  });

  it('a finally block can catch what its call(gen) threw; the frames below still unwind', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    function* failingFlush(): Operation<void> {
      yield* sleep(1);
      throw new Error('flush failed');
    }
    function* inner(): Operation<void> {
      try {
        yield* sleep(60_000);
      } finally {
        try {
          yield* call(failingFlush);
        } catch (err) {
          log.push(`caught ${(err as Error).message}`);
        }
      }
      log.push('after inner try: must not run');
    }
    const task = scheduler.go(function* main() {
      try {
        yield* call(inner);
        log.push('after call(inner): must not run');
      } finally {
        log.push('outer finally');
      }
    });
    await tick(5);
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.deepEqual(log, ['caught flush failed', 'outer finally']);
  });
});
