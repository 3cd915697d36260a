import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, InvalidYieldError, Scheduler, sleep, spawn } from '../../src/index.js';
import type { Body, Operation } from '../../src/index.js';

/**
 * go() and spawn() take what README says (a generator function or a generator, an effect, a function
 * returning a promise or a value) and refuse the rest at once with an error naming what they got.
 */

const scheduler = new Scheduler({ name: 'go-body' });

/** A value the types would refuse as a body, given as one (what plain JavaScript callers can do). */
function anyBody(value: unknown): Body<unknown, []> {
  return value as Body<unknown, []>;
}

function refusal(body: unknown): string {
  try {
    scheduler.go(body as Body<unknown, []>);
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    return err.message;
  }
  return 'accepted';
}

describe('go(): what a body may be', () => {
  it('runs a generator function, a generator, an effect, an async function and a plain function', async () => {
    function* gen(): Operation<string> {
      yield* sleep(1);
      return 'generator function';
    }
    assert.equal(await scheduler.go(gen), 'generator function');
    assert.equal(await scheduler.go(gen()), 'generator function');
    assert.equal(await scheduler.go(sleep(1)), undefined);
    assert.equal(await scheduler.go(async () => 'async'), 'async');
    assert.equal(await scheduler.go(() => 'plain'), 'plain');
  });

  it('refuses an async generator function, saying why', () => {
    assert.match(
      refusal(async function* () {
        yield 1;
      }),
      /^go\(\) takes a generator function, .* got an async generator function: .*write function\*/,
    );
  });

  it('refuses an async generator object', () => {
    assert.match(refusal((async function* () {})()), /got an async generator:/);
  });

  it('refuses a promise and a task, with what to do instead', () => {
    assert.match(refusal(Promise.resolve(1)), /got a promise: pass a function that returns it/);
    const task = scheduler.go(() => 1);
    assert.match(refusal(task), /got a Task, which runs already: join it with yield\* task or await it/);
  });

  it('refuses null, numbers and plain objects, naming the type', () => {
    assert.match(refusal(null), /got null$/);
    assert.match(refusal(5), /got number$/);
    assert.match(refusal({}), /got object$/);
  });

  it('spawn() refuses an async generator function the same way, inside the coroutine', async () => {
    const message = await scheduler.go(function* () {
      try {
        yield* spawn(anyBody(async function* () {}));
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    });
    assert.match(message, /^spawn\(\) takes .* got an async generator function/);
  });

  it('a function that returns an async generator, or a yielded one, fails its coroutine, not the process', async () => {
    await assert.rejects(
      scheduler.go(anyBody(() => (async function* () {})())),
      (err) => err instanceof InvalidArgumentError && /returned an async generator/.test(err.message),
    );
    await assert.rejects(
      scheduler.go(function* () {
        yield (async function* () {})();
      }),
      (err) => err instanceof InvalidYieldError,
    );
  });
});
