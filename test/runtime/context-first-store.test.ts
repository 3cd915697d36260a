import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, it } from 'node:test';
import { Scheduler, Signal, sleep } from '../../src/index.js';

/**
 * Its own file, so its own process: no AsyncLocalStorage has been used when the test starts. Roots started
 * outside any store share one empty context; one started inside a store must keep it, also when that store
 * was first used in the same event-loop turn as an earlier root, before any look had found it.
 */
describe('an AsyncLocalStorage first used in the turn a coroutine starts in', () => {
  it('a coroutine started inside its first run() keeps the store, whoever wakes it later', async () => {
    const scheduler = new Scheduler({ name: 'first-store' });
    const signal = new Signal();
    const seen: string[] = [];
    const als = new AsyncLocalStorage<string>();
    const store = (): string => als.getStore() ?? '(none)';
    // the first root of this turn starts outside any store: the turn's look finds none
    const outside = scheduler.go(function* outside() {
      yield* signal.wait();
      seen.push(`outside woken in ${store()}`);
    });
    const inside = als.run('started here', () =>
      scheduler.go(function* inside() {
        yield* sleep(1);
        yield* signal.wait();
        seen.push(`inside woken in ${store()}`);
        yield* sleep(1);
        seen.push(`inside after sleep in ${store()}`);
      }),
    );
    while (signal.waiting < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    als.run('another request', () => signal.notify());
    await Promise.all([outside, inside]);
    assert.deepEqual(seen.sort(), [
      'inside after sleep in started here',
      'inside woken in started here',
      'outside woken in (none)',
    ]);
  });
});
