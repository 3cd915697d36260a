import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, it } from 'node:test';
import { Scheduler, Signal, sleep } from '../../src/index.js';

/**
 * Its own file, so its own process: here no AsyncLocalStorage is in use when the coroutine starts, and no
 * root starts once one is. The runtime finds the store among the resources its coroutines are woken from.
 */
describe('an AsyncLocalStorage first used after every coroutine started', () => {
  it('a coroutine started before it sees no store, once it has been woken a thousand times since', async () => {
    const scheduler = new Scheduler({ name: 'late-store' });
    const signal = new Signal();
    const seen: string[] = [];
    let als: AsyncLocalStorage<string> | null = null;
    const store = (): string => als?.getStore() ?? '(none)';
    const background = scheduler.go(function* () {
      yield* signal.wait();
      for (let i = 0; i < 1_100; i++) yield* sleep(0);
      yield* signal.wait();
      seen.push(`woken in ${store()}`);
      yield* sleep(1);
      seen.push(`after sleep in ${store()}`);
    });
    als = new AsyncLocalStorage<string>();
    als.run('first request', () => signal.notify());
    while (signal.waiting === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    als.run('second request', () => signal.notify());
    await background;
    assert.deepEqual(seen, ['woken in (none)', 'after sleep in (none)']);
  });
});
