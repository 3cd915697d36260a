import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidArgumentError,
  InvalidYieldError,
  Scheduler,
  Semaphore,
  abortable,
  call,
  go,
  self,
  sleep,
} from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';
import { runNode } from '../helpers/process.js';

describe('go and effects', () => {
  it('runs a generator to its return value, with typed results from yield*', async () => {
    function* add(a: number, b: number): Operation<number> {
      yield* sleep(1);
      return a + b;
    }
    function* main(): Operation<string> {
      const sum: number = yield* call(add, 2, 3);
      const fromPromise: string = yield* call(Promise.resolve('p'));
      const fromAsync: number = yield* call(async (x: number) => x * 2, 21);
      const fromPlain: number = yield* call((x: number) => x + 1, 1);
      const raw = yield Promise.resolve('raw');
      return `${sum}:${fromPromise}:${fromAsync}:${fromPlain}:${String(raw)}`;
    }
    assert.equal(await go(main), '5:p:42:2:raw');
  });

  it('sleeps for at least the time asked, and sleep(0) yields to the event loop', async () => {
    const order: string[] = [];
    const started = Date.now();
    const task = go(function* () {
      yield* sleep(30);
      order.push('slept');
      setImmediate(() => order.push('immediate'));
      yield* sleep(0);
      yield* sleep(0);
      order.push('after sleep(0)');
    });
    await task;
    assert.ok(Date.now() - started >= 29, 'sleep(30) returned early');
    assert.deepEqual(order, ['slept', 'immediate', 'after sleep(0)']);
  });

  it('throws a clear error for bad arguments and bad yields, into the coroutine', async () => {
    await assert.rejects(
      go(function* () {
        yield* sleep(-1);
      }),
      (err: unknown) => err instanceof InvalidArgumentError && /sleep\(\) needs a finite number/.test(err.message),
    );
    await assert.rejects(
      go(function* () {
        yield 42;
      }),
      (err: unknown) => err instanceof InvalidYieldError && /yielded number 42/.test(err.message),
    );
    // the coroutine can catch it and go on
    const recovered = await go(function* () {
      try {
        yield 'nope';
      } catch (err) {
        return (err as Error).name;
      }
      return 'not thrown';
    });
    assert.equal(recovered, 'InvalidYieldError');
  });

  it('rejects with what the body threw, and promise rejections are thrown at the yield', async () => {
    const caught = await go(function* () {
      try {
        yield* call(Promise.reject(new Error('nope')));
      } catch (err) {
        return (err as Error).message;
      }
      return 'no';
    });
    assert.equal(caught, 'nope');
    await assert.rejects(
      go(async () => Promise.reject(new Error('async body'))),
      /async body/,
    );
  });

  it('exposes the running task, its name and status', async () => {
    let seen: Task<unknown> | undefined;
    const task = go(function* named() {
      seen = yield* self();
      yield* sleep(5);
    });
    assert.equal(task.name, 'named');
    assert.equal(task.status, 'waiting');
    await task;
    assert.equal(seen, task);
    assert.equal(task.status, 'completed');
  });

  it('lets an effect object be reused, one yield* after another and by two coroutines at once', async () => {
    const nap = sleep(2);
    const scheduler = new Scheduler();
    const both = await Promise.all([
      scheduler.go(function* () {
        yield* nap;
        yield* nap;
        return 'a';
      }),
      scheduler.go(function* () {
        yield* nap;
        return 'b';
      }),
    ]);
    assert.deepEqual(both, ['a', 'b']);
  });

  it('aborts a promise API through abortable() when the coroutine stops waiting', async () => {
    let aborted: unknown = null;
    const task = go(function* () {
      yield* abortable(
        (signal) =>
          new Promise((_, reject) => {
            signal.addEventListener('abort', () => {
              aborted = signal.reason;
              reject(new Error('aborted'));
            });
          }),
      );
    });
    setTimeout(() => task.cancel('test'), 5);
    await assert.rejects(task, /cancelled/);
    assert.ok(aborted !== null, 'signal was not aborted');
  });

  it('validates scheduler options with messages that name the option', () => {
    assert.throws(() => new Scheduler({ concurrency: 0 }), /'concurrency' must be an integer >= 1/);
    assert.throws(() => new Scheduler({ maxDepth: 1.5 }), /'maxDepth'/);
    assert.throws(() => new Scheduler({ deadline: -1 }), /'deadline' must be a number of milliseconds/);
    assert.throws(() => new Semaphore(0), /whole number of permits/);
    assert.throws(
      () => go(42 as never),
      /go\(\) takes a generator function, a generator, an effect, or a function \(an async one too\), got number/,
    );
  });

  it("imports as 'cosocket' from plain Node (package exports)", async () => {
    const script = `
      import { go, sleep, call } from 'cosocket';
      const v = await go(function* () { yield* sleep(1); return yield* call(Promise.resolve(7)); });
      console.log('value', v);`;
    const result = await runNode(script, 20_000);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /value 7/);
  });
});
