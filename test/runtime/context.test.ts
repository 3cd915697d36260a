import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { after, describe, it } from 'node:test';
import {
  CancelledError,
  InvalidArgumentError,
  OutsideCoroutineError,
  Scheduler,
  Semaphore,
  Signal,
  all,
  call,
  createContext,
  pools,
  race,
  sleep,
  spawn,
  spawnDetached,
  tcp,
  timeout,
} from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';
import { echo, startTcpServer } from '../helpers/tcp-server.js';

/**
 * Each coroutine runs in the AsyncLocalStorage context it was started in, whoever wakes it: another
 * coroutine (Signal, Semaphore, join, race, a pool hand-off), plain code in another context, or a socket
 * another request opened. What it then starts (timers, promises) carries its own context too.
 */
const als = new AsyncLocalStorage<string>();
const scheduler = new Scheduler({ name: 'async-context' });

function store(): string {
  return als.getStore() ?? '(none)';
}

/** `go` inside `als.run(id, ...)`: the coroutine's context is `id`. */
function goIn<T>(id: string, body: () => Operation<T>): Task<T> {
  return als.run(id, () => scheduler.go(body));
}

/** What a woken coroutine records: its context when woken, after a sleep, after call(promise), inside a promise it made. */
function* afterWake(seen: string[], label: string): Operation<void> {
  seen.push(`${label} woken in ${store()}`);
  yield* sleep(1);
  seen.push(`${label} after sleep in ${store()}`);
  yield* call(new Promise<void>((resolve) => setTimeout(resolve, 1)));
  seen.push(`${label} after call(promise) in ${store()}`);
  const inside = yield* call(async () => {
    await Promise.resolve();
    return store();
  });
  seen.push(`${label} inside its async call in ${inside}`);
}

function expected(label: string, id: string): string[] {
  return [
    `${label} woken in ${id}`,
    `${label} after sleep in ${id}`,
    `${label} after call(promise) in ${id}`,
    `${label} inside its async call in ${id}`,
  ];
}

describe('AsyncLocalStorage context of coroutines', () => {
  after(() => pools.drain());

  it("a coroutine woken by another's Signal.notify() keeps its own context, also after later waits", async () => {
    const signal = new Signal();
    const seen: string[] = [];
    const waiter = goIn('A', function* () {
      yield* signal.wait();
      yield* afterWake(seen, 'A');
    });
    const notifier = goIn('B', function* () {
      yield* sleep(2);
      signal.notify();
      yield* sleep(1);
      seen.push(`B still in ${store()}`);
    });
    await Promise.all([waiter, notifier]);
    assert.deepEqual(
      seen.filter((s) => s.startsWith('A')),
      expected('A', 'A'),
    );
    assert.ok(seen.includes('B still in B'));
  });

  it('a coroutine woken by plain code running in another context keeps its own', async () => {
    const signal = new Signal();
    const seen: string[] = [];
    const waiter = goIn('A', function* () {
      yield* signal.wait();
      yield* afterWake(seen, 'A');
    });
    await new Promise((resolve) => setTimeout(resolve, 2));
    als.run('C', () => signal.notify());
    await waiter;
    assert.deepEqual(seen, expected('A', 'A'));
  });

  it('a coroutine waiting on a promise that plain code in another context resolves keeps its own', async () => {
    // a native promise calls back where then() was called, in the coroutine's context: it resumes with no swap
    let resolveIt: (value: number) => void = () => {};
    const pending = new Promise<number>((resolve) => (resolveIt = resolve));
    const seen: string[] = [];
    const waiter = goIn('A', function* () {
      const value = yield* call(pending);
      seen.push(`got ${value} in ${store()}`);
      yield* afterWake(seen, 'A');
    });
    await new Promise((resolve) => setTimeout(resolve, 2));
    als.run('C', () => resolveIt(7));
    await waiter;
    assert.deepEqual(seen, ['got 7 in A', ...expected('A', 'A')]);
  });

  it('a coroutine waiting on a thenable that is not a promise keeps its context when plain code resolves it', async () => {
    let resolveIt: (value: number) => void = () => {};
    const thenable: PromiseLike<number> = {
      then<R1, R2>(onFulfilled?: ((value: number) => R1 | PromiseLike<R1>) | null): PromiseLike<R1 | R2> {
        resolveIt = (value) => void onFulfilled?.(value);
        return thenable as unknown as PromiseLike<R1 | R2>;
      },
    };
    const seen: string[] = [];
    const waiter = goIn('A', function* () {
      const value = yield* call(thenable);
      seen.push(`got ${value}`);
      yield* afterWake(seen, 'A');
    });
    await new Promise((resolve) => setTimeout(resolve, 2));
    als.run('C', () => resolveIt(7));
    await waiter;
    assert.deepEqual(seen, ['got 7', ...expected('A', 'A')]);
  });

  it('a Semaphore hands its permit over to a waiter that keeps its own context', async () => {
    const sem = new Semaphore(1);
    const seen: string[] = [];
    const holder = goIn('A', function* () {
      yield* sem.acquire();
      yield* sleep(5);
      sem.release();
    });
    const waiter = goIn('B', function* () {
      yield* sem.acquire();
      try {
        yield* afterWake(seen, 'B');
      } finally {
        sem.release();
      }
    });
    await Promise.all([holder, waiter]);
    assert.deepEqual(seen, expected('B', 'B'));
  });

  it('a coroutine that joins another keeps its own context', async () => {
    const seen: string[] = [];
    const target = goIn('A', function* () {
      yield* sleep(3);
      return 1;
    });
    const joiner = goIn('B', function* () {
      yield* target;
      yield* afterWake(seen, 'B');
    });
    await joiner;
    assert.deepEqual(seen, expected('B', 'B'));
  });

  it('race, all and timeout children run in their parent context, and so does the parent after them', async () => {
    const signal = new Signal();
    const seen: string[] = [];
    const parent = goIn('P', function* () {
      yield* race([
        (function* () {
          yield* signal.wait();
          seen.push(`race child in ${store()}`);
        })(),
        sleep(10_000),
      ]);
      yield* afterWake(seen, 'race');
      yield* all([
        (function* () {
          yield* signal.wait();
          seen.push(`all child in ${store()}`);
        })(),
        signal.wait(),
      ]);
      yield* afterWake(seen, 'all');
      yield* timeout(10_000, signal.wait());
      yield* afterWake(seen, 'timeout');
    });
    const notifier = goIn('B', function* () {
      for (let i = 0; i < 3; i++) {
        while (signal.waiting === 0) yield* sleep(1);
        yield* sleep(1);
        signal.notify();
      }
    });
    await Promise.all([parent, notifier]);
    assert.deepEqual(seen, [
      'race child in P',
      ...expected('race', 'P'),
      'all child in P',
      ...expected('all', 'P'),
      ...expected('timeout', 'P'),
    ]);
  });

  it('children started with spawn and spawnDetached start in their parent context', async () => {
    const seen: string[] = [];
    const signal = new Signal();
    const parent = goIn('P', function* () {
      const child = yield* spawn(function* () {
        seen.push(`spawned in ${store()}`);
        yield* signal.wait();
        seen.push(`spawned woken in ${store()}`);
      });
      const detached = yield* spawnDetached(function* () {
        seen.push(`detached in ${store()}`);
        yield* signal.wait();
        seen.push(`detached woken in ${store()}`);
      });
      yield* child;
      yield* detached;
    });
    const notifier = goIn('B', function* () {
      while (signal.waiting < 2) yield* sleep(1);
      signal.notify();
    });
    await Promise.all([parent, notifier]);
    assert.deepEqual(seen.sort(), ['detached in P', 'detached woken in P', 'spawned in P', 'spawned woken in P']);
  });

  it('a pooled connection handed over by another coroutine: the waiter keeps its context, reads included', async () => {
    const server = await startTcpServer(echo);
    const options = { pool: 'async-context', poolSize: 1 };
    const seen: string[] = [];
    const holder = goIn('A', function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port, options);
      yield* sock.send('from A\n');
      yield* sock.receive('*l');
      yield* sleep(5);
      sock.setkeepalive();
    });
    const waiter = goIn('B', function* () {
      yield* sleep(1);
      const sock = yield* tcp.connect('127.0.0.1', server.port, options);
      seen.push(`connected in ${store()}`);
      yield* sock.send('from B\n');
      seen.push(`sent in ${store()}`);
      const line = yield* sock.receive('*l');
      seen.push(`received ${String(line)} in ${store()}`);
      yield* afterWake(seen, 'B');
      sock.setkeepalive();
    });
    await Promise.all([holder, waiter]);
    assert.equal(server.sockets.length, 1, 'the waiter got the connection the holder released');
    assert.deepEqual(seen, ['connected in B', 'sent in B', 'received from B in B', ...expected('B', 'B')]);
    await server.close();
  });

  it('a root admitted from the queue when another one ends starts in its own context', async () => {
    const one = new Scheduler({ name: 'one at a time', concurrency: 1 });
    const seen: string[] = [];
    const first = als.run('A', () =>
      one.go(function* () {
        yield* sleep(3);
      }),
    );
    const queued = als.run('B', () =>
      one.go(function* () {
        yield* afterWake(seen, 'B');
      }),
    );
    assert.equal(queued.status, 'queued');
    await Promise.all([first, queued]);
    assert.deepEqual(seen, expected('B', 'B'));
  });

  it("a coroutine cancelled by its deadline cleans up in its own context, whoever's timer ended it", async () => {
    const seen: string[] = [];
    const lane = new Scheduler({ name: 'one deadline lane', deadline: 20 });
    // both deadlines are 20 ms: one lane, whose timer the first root armed in its context
    const first = als.run('A', () =>
      lane.go(function* () {
        yield* sleep(10_000);
      }),
    );
    const second = als.run('B', () =>
      lane.go(function* () {
        try {
          yield* sleep(10_000);
        } finally {
          seen.push(`cleanup in ${store()}`);
          yield* sleep(1);
          seen.push(`cleanup after sleep in ${store()}`);
        }
      }),
    );
    await Promise.allSettled([first, second]);
    assert.equal(second.reason?.kind, 'deadline');
    assert.deepEqual(seen, ['cleanup in B', 'cleanup after sleep in B']);
  });

  it('a coroutine started outside any store sees none, even when woken from inside one', async () => {
    const signal = new Signal();
    const seen: string[] = [];
    const background = scheduler.go(function* () {
      yield* signal.wait();
      yield* afterWake(seen, 'background');
    });
    await new Promise((resolve) => setTimeout(resolve, 2));
    goIn('R', function* () {
      signal.notify();
    });
    await background;
    assert.deepEqual(seen, expected('background', '(none)'));
  });
});

describe('createContext: values of a coroutine, inherited by its children', () => {
  const Tenant = createContext<string>('tenant', 'none');

  it('get() gives the default, with() sets a value for an operation and puts the one before back', async () => {
    const seen = await scheduler.go(function* () {
      const seen: string[] = [yield* Tenant.get()];
      const result = yield* Tenant.with(
        'acme',
        (function* () {
          seen.push(yield* Tenant.get());
          yield* Tenant.with(
            'inner',
            (function* () {
              yield* sleep(1);
              seen.push(yield* Tenant.get());
            })(),
          );
          seen.push(yield* Tenant.get());
          return 'done';
        })(),
      );
      seen.push(result, yield* Tenant.get());
      return seen;
    });
    assert.deepEqual(seen, ['none', 'acme', 'inner', 'acme', 'done', 'none']);
  });

  it('each coroutine has its own value, however they interleave', async () => {
    function* worker(name: string): Operation<string[]> {
      return yield* Tenant.with(
        name,
        (function* () {
          const seen: string[] = [];
          for (let i = 0; i < 3; i++) {
            yield* sleep(1);
            seen.push(yield* Tenant.get());
          }
          return seen;
        })(),
      );
    }
    const [a, b] = await Promise.all([scheduler.go(worker, 'a'), scheduler.go(worker, 'b')]);
    assert.deepEqual(
      [a, b],
      [
        ['a', 'a', 'a'],
        ['b', 'b', 'b'],
      ],
    );
  });

  it('children inherit the value their parent had when it spawned them: spawn, spawnDetached, all, race, timeout', async () => {
    const seen = await scheduler.go(function* () {
      const seen: string[] = [];
      function* report(label: string): Operation<string> {
        yield* sleep(1);
        const value = yield* Tenant.get();
        seen.push(`${label}: ${value}`);
        return value;
      }
      return yield* Tenant.with(
        'parent',
        (function* () {
          const child = yield* spawn(report, 'spawn');
          const detached = yield* spawnDetached(report, 'spawnDetached');
          yield* all([report('all')]);
          yield* race([report('race')]);
          yield* timeout(1_000, report('timeout'));
          yield* child;
          yield* detached;
          return seen;
        })(),
      );
    });
    assert.deepEqual(seen.sort(), [
      'all: parent',
      'race: parent',
      'spawn: parent',
      'spawnDetached: parent',
      'timeout: parent',
    ]);
  });

  it("a child keeps the value of its spawn time: its parent's later changes and its own do not cross", async () => {
    const seen: string[] = [];
    await scheduler.go(function* () {
      yield* Tenant.set('before spawn');
      const child = yield* spawn(function* () {
        yield* sleep(2);
        seen.push(`child sees ${yield* Tenant.get()}`);
        yield* Tenant.set('set by the child');
        seen.push(`child set ${yield* Tenant.get()}`);
      });
      yield* Tenant.set('after spawn');
      yield* child;
      seen.push(`parent sees ${yield* Tenant.get()}`);
    });
    assert.deepEqual(seen, ['child sees before spawn', 'child set set by the child', 'parent sees after spawn']);
  });

  it('set() lasts for the rest of the coroutine, or until the with() it is in ends', async () => {
    const seen = await scheduler.go(function* () {
      const seen: string[] = [];
      seen.push(yield* Tenant.set('first'));
      yield* Tenant.with(
        'scoped',
        (function* () {
          yield* Tenant.set('set inside');
          seen.push(yield* Tenant.get());
        })(),
      );
      seen.push(yield* Tenant.get());
      for (let i = 0; i < 1_000; i++) yield* Tenant.set(`set ${i}`);
      seen.push(yield* Tenant.get());
      return seen;
    });
    assert.deepEqual(seen, ['first', 'set inside', 'first', 'set 999']);
  });

  it('with() puts the value back when its operation fails', async () => {
    const seen = await scheduler.go(function* () {
      const seen: string[] = [];
      try {
        yield* Tenant.with(
          'failing',
          (function* () {
            yield* sleep(1);
            throw new Error('boom');
          })(),
        );
      } catch (err) {
        seen.push(`${(err as Error).message} with ${yield* Tenant.get()}`);
      }
      return seen;
    });
    assert.deepEqual(seen, ['boom with none']);
  });

  it('a coroutine cancelled in the middle of with(): its finally blocks see the value, then the one before', async () => {
    const seen: string[] = [];
    const task = scheduler.go(function* () {
      yield* Tenant.set('outer');
      try {
        yield* Tenant.with(
          'inner',
          (function* () {
            const child = yield* spawn(function* () {
              try {
                yield* sleep(10_000);
              } finally {
                seen.push(`child cleanup: ${yield* Tenant.get()}`);
              }
            });
            try {
              yield* sleep(10_000);
              yield* child;
            } finally {
              yield* sleep(1);
              seen.push(`inner cleanup: ${yield* Tenant.get()}`);
            }
          })(),
        );
      } finally {
        seen.push(`outer cleanup: ${yield* Tenant.get()}`);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(task.status, 'waiting', 'it waits inside with()');
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.deepEqual(seen, ['child cleanup: inner', 'inner cleanup: inner', 'outer cleanup: outer']);
  });

  it('two contexts of the same name are two contexts', async () => {
    const Other = createContext<string>('tenant', 'other default');
    const seen = await scheduler.go(function* () {
      return yield* Tenant.with(
        'mine',
        call(function* () {
          return [yield* Tenant.get(), yield* Other.get()];
        }),
      );
    });
    assert.deepEqual(seen, ['mine', 'other default']);
  });

  it('says what is wrong: a nameless context, with() without an operation, a context used outside a coroutine', () => {
    assert.throws(() => createContext('', 0), InvalidArgumentError);
    assert.throws(
      () => Tenant.with('x', 42 as never),
      (err: unknown) =>
        err instanceof InvalidArgumentError && /context 'tenant': with\(\) needs an operation/.test(err.message),
    );
    assert.throws(
      () => Tenant.get()[Symbol.iterator]().next(),
      (err: unknown) =>
        err instanceof OutsideCoroutineError &&
        /context 'tenant': get\(\) runs only inside a coroutine/.test(err.message),
    );
    assert.throws(() => Tenant.with('x', sleep(1)).next(), OutsideCoroutineError);
  });
});
