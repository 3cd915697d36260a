// What a coroutine is handed that it cannot run or wait on is refused with an InvalidArgumentError that
// says which argument and what it was, thrown where the call was written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelledError,
  InvalidArgumentError,
  Scheduler,
  abortable,
  all,
  race,
  sleep,
  spawn,
  spawnDetached,
  timeout,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';

/** Runs `body` in a coroutine and returns what it threw. */
async function thrownIn(body: () => Operation<unknown>): Promise<unknown> {
  const scheduler = new Scheduler();
  return scheduler.go(function* () {
    try {
      yield* body();
    } catch (err) {
      return err;
    }
    return assert.fail('nothing was thrown');
  });
}

function assertInvalid(err: unknown, message: RegExp): void {
  assert.ok(err instanceof InvalidArgumentError, `not an InvalidArgumentError: ${String(err)}`);
  assert.equal(err.code, 'COSOCKET_ERR_INVALID_ARGUMENT');
  assert.match(err.message, message);
}

describe('bad arguments', () => {
  it('spawn(42) and spawnDetached(null) name what they got', async () => {
    assertInvalid(
      await thrownIn(function* () {
        yield* spawn(42 as never);
      }),
      /^spawn\(\) takes a generator function, a generator, an effect, or a function \(an async one too\), got number$/,
    );
    assertInvalid(
      await thrownIn(function* () {
        yield* spawnDetached(null as never);
      }),
      /^spawnDetached\(\) takes a generator function, a generator, an effect, or a function \(an async one too\), got null$/,
    );
  });

  it('all([42]), race({ b: 42 }), timeout(ms, 42) name the item, with the caller in the stack', async () => {
    const err = await thrownIn(function* callerOfAll() {
      yield* all([sleep(1), 42 as never]);
    });
    assertInvalid(err, /^all\(\) item 1: expected an effect, a task, a generator or a promise, got number 42$/);
    assert.match((err as Error).stack ?? '', /callerOfAll/);
    assertInvalid(
      await thrownIn(function* () {
        yield* race({ a: sleep(1), b: 42 as never });
      }),
      /^race\(\) 'b': expected .* got number 42$/,
    );
    assertInvalid(
      await thrownIn(function* () {
        yield* timeout(5, 42 as never);
      }),
      /^timeout\(\): expected .* got number 42$/,
    );
  });

  it('race() of nothing is refused at the call', () => {
    assert.throws(() => race([]), /^InvalidArgumentError: race\(\) needs at least one contender$/);
    assert.throws(() => race({}), /^InvalidArgumentError: race\(\) needs at least one contender$/);
  });

  it('a generator function passed uncalled, or an object that is no operation, is named too', async () => {
    function* work(): Operation<number> {
      return 1;
    }
    assertInvalid(
      await thrownIn(function* () {
        yield* all([work as never]);
      }),
      /^all\(\) item 0: .* got a function \(work\); call it first or use call\(\)$/,
    );
    assertInvalid(
      await thrownIn(function* () {
        yield* race([work(), { not: 'an operation' } as never]);
      }),
      /^race\(\) item 1: .* got an object \(Object\)$/,
    );
    assertInvalid(
      await thrownIn(function* () {
        yield* all([[work()] as never]);
      }),
      /^all\(\) item 0: .* got an array/,
    );
  });

  it('a group refused at its start starts none of its members', async () => {
    const scheduler = new Scheduler();
    let started = false;
    function* first(): Operation<void> {
      started = true;
      yield* sleep(60_000);
    }
    const err = await scheduler.go(function* () {
      try {
        yield* all([first(), { not: 'an operation' } as never]);
      } catch (e) {
        return e;
      }
      return null;
    });
    assertInvalid(err, /all\(\) item 1/);
    assert.equal(started, false, 'the member before the bad item ran');
    assert.equal(scheduler.stats().live, 0);
    assert.equal(scheduler.stats().cancelled, 0, 'a child was made for the group');
  });
});

describe('go() of an async function', () => {
  // go() takes any function: a generator function runs as a coroutine; an async function (or any function
  // returning a promise) runs as a coroutine that waits once, on its promise, like `yield* call(fn)`.
  it('runs it, and the task settles with its promise', async () => {
    const scheduler = new Scheduler();
    const task = scheduler.go(
      async (a: number, b: number) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return a + b;
      },
      2,
      3,
    );
    assert.equal(task.status, 'waiting');
    assert.equal(await task, 5);
    await assert.rejects(
      scheduler.go(async () => {
        await Promise.resolve();
        throw new Error('async body failed');
      }),
      /async body failed/,
    );
  });

  it('cancelling the task stops the wait, not the function: hand it a signal to stop it', async () => {
    const scheduler = new Scheduler();
    const log: string[] = [];
    const task = scheduler.go(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      log.push('the async function went on');
    });
    task.cancel('no longer needed');
    await assert.rejects(task, CancelledError);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.deepEqual(log, ['the async function went on']);

    async function longWork(signal: AbortSignal): Promise<void> {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 60_000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          log.push('stopped');
          reject(new Error('aborted'));
        });
      });
    }
    const stoppable = scheduler.go(function* () {
      yield* abortable((signal) => longWork(signal)); // the signal fires when the coroutine stops waiting
    });
    stoppable.cancel();
    await assert.rejects(stoppable, CancelledError);
    assert.deepEqual(log, ['the async function went on', 'stopped']);
  });
});
