import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelledError, KeepalivePool, Scheduler, SocketTimeoutError } from '../../src/index.js';
import type { Lease, PoolOptions } from '../../src/index.js';
import { lease, leaseKind } from '../../src/pool/lease-effect.js';
import type { LeaseRequest } from '../../src/pool/lease-effect.js';

const scheduler = new Scheduler({ name: 'pool-tests' });
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class Conn {
  destroyed = false;
}

/** A pool of fake connections whose connects take `connectMs` (and fail when `fail` says so). */
function fakePool(options: Partial<PoolOptions>, connectMs = 0, fail = false): KeepalivePool<Conn> {
  return new KeepalivePool<Conn>(
    { name: 'fake', ...options },
    {
      create: () =>
        new Promise<Conn>((resolve, reject) =>
          setTimeout(() => (fail ? reject(new Error('refused')) : resolve(new Conn())), connectMs),
        ),
      destroy: (conn) => {
        conn.destroyed = true;
      },
      isAlive: (conn) => !conn.destroyed,
    },
  );
}

describe('keepalive pool', () => {
  it('closes an idle connection when its own idle time runs out, and counts it as evicted', async () => {
    const pool = fakePool({ idleTimeout: 60_000 });
    const first = await pool.acquire();
    pool.release(first, 20);
    assert.equal(pool.stats().idle, 1);
    await wait(80);
    assert.equal(first.connection!.destroyed, true);
    assert.deepEqual([pool.stats().idle, pool.stats().evicted], [0, 1]);
    await pool.drain(0);
  });

  it('never keeps a connection idle longer than the pool idle timeout', async () => {
    const pool = fakePool({ idleTimeout: 20 });
    const first = await pool.acquire();
    pool.release(first, 60_000);
    await wait(80);
    assert.equal(first.connection!.destroyed, true);
    assert.equal(pool.stats().evicted, 1);
    await pool.drain(0);
  });

  it('a reused idle connection starts a new idle time when it comes back', async () => {
    // times with room for a busy machine's late timers (it failed now and then at 60/40/40 ms)
    const pool = fakePool({ idleTimeout: 600 });
    const first = await pool.acquire();
    pool.release(first);
    await wait(400);
    const again = pool.tryAcquireIdle()!;
    assert.equal(again, first);
    assert.equal(again.reusedTimes, 1);
    pool.release(again);
    await wait(400); // 800 ms after the first release, 400 after the second
    assert.equal(first.connection!.destroyed, false);
    await wait(600);
    assert.equal(first.connection!.destroyed, true);
    await pool.drain(0);
  });

  it('adopts a connection that opened after its waiter gave up: idle, new, and expired like any other', async () => {
    const pool = fakePool({ acquireTimeout: 20, idleTimeout: 60_000 }, 50);
    await assert.rejects(pool.acquire(), SocketTimeoutError);
    await wait(80);
    assert.deepEqual([pool.stats().open, pool.stats().idle], [1, 1]);
    const adopted = pool.tryAcquireIdle()!;
    assert.equal(adopted.reusedTimes, 0);
    assert.equal(pool.stats().reused, 0);
    pool.release(adopted, 10);
    await wait(50);
    assert.equal(adopted.connection!.destroyed, true);
    assert.deepEqual([pool.stats().open, pool.stats().idle, pool.stats().evicted], [0, 0, 1]);
    await pool.drain(0);
  });

  it('drops a connect that failed after its waiter gave up, instead of handing its error to a later one', async () => {
    const pool = fakePool({ acquireTimeout: 20 }, 50, true);
    await assert.rejects(pool.acquire(), SocketTimeoutError);
    await wait(80);
    assert.deepEqual([pool.stats().open, pool.stats().idle], [0, 0]);
    await pool.drain(0);
  });
});

class FakeLease implements LeaseRequest<Conn, Lease<Conn>> {
  constructor(readonly source: KeepalivePool<Conn>) {}

  take(leased: Lease<Conn>): Lease<Conn> {
    return leased;
  }
}

const FAKE_CONNECT = leaseKind('fake.connect');

describe('lease effect', () => {
  it('hands over an idle connection at once, else waits for one', async () => {
    const pool = fakePool({}, 10);
    const connect = function* () {
      return yield* lease(FAKE_CONNECT, new FakeLease(pool));
    };
    const first = await scheduler.go(connect);
    assert.deepEqual([pool.stats().inUse, first.reusedTimes], [1, 0]);
    pool.release(first);
    const again = scheduler.go(connect);
    assert.equal(again.status, 'completed', 'an idle connection is handed over without waiting');
    assert.equal(await again, first);
    assert.equal(first.reusedTimes, 1);
    pool.release(first);
    await pool.drain(0);
  });

  it('discards a connection that arrives after its coroutine was cancelled', async () => {
    const pool = fakePool({}, 40);
    const task = scheduler.go(function* () {
      return yield* lease(FAKE_CONNECT, new FakeLease(pool));
    });
    await wait(10);
    task.cancel();
    await assert.rejects(task, CancelledError);
    await wait(60);
    assert.deepEqual([pool.stats().open, pool.stats().inUse, pool.stats().idle], [0, 0, 0]);
    await pool.drain(0);
  });
});
