import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisSentinelError, Scheduler, pools, redis } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { waitFor } from '../helpers/net.js';
import { startTestRedisSentinel } from '../helpers/redis-sentinel.js';
import type { TestRedisSentinel } from '../helpers/redis-sentinel.js';

const scheduler = new Scheduler({ name: 'redis-sentinel-tests' });
let sentinel: TestRedisSentinel;

function* readThrough(url: string, key: string): Operation<string | null> {
  const red = yield* redis.connect({ url, mode: 'shared', timeouts: { connect: 2_000, read: 2_000 } });
  return yield* red.get(key);
}

describe('redis sentinel (a real master, replica and sentinel)', () => {
  before(async () => {
    sentinel = await startTestRedisSentinel();
    console.log(`# test master, replica and sentinel started in ${sentinel.startedInMs} ms`);
  });
  after(async () => {
    await pools.drain();
    await sentinel?.stop();
  });

  it('shared mode finds the master through the sentinel, and follows it after a failover', async () => {
    const url = sentinel.url;
    assert.equal(await sentinel.masterPort(), sentinel.master.port);
    const acked = await scheduler.go(function* (): Operation<number> {
      const red = yield* redis.connect({ url, mode: 'shared' });
      assert.equal(yield* red.set('before-failover', 'kept'), 'OK');
      assert.equal((yield* red.call<unknown[]>('ROLE'))[0], 'master');
      // the replica has it before the master dies, so the promoted replica must still serve it
      return yield* red.call<number>('WAIT', 1, 30_000);
    });
    assert.equal(acked, 1, 'the replica acknowledged the write');
    assert.equal(await scheduler.go(readThrough, url, 'before-failover'), 'kept');

    const tookMs = await sentinel.failover();
    console.log(`# sentinel promoted the replica ${tookMs} ms after the master was killed`);

    let lastError: unknown = null;
    let value: string | null = null;
    const recovered = await waitFor(
      async () => {
        try {
          value = await scheduler.go(readThrough, url, 'before-failover');
          return true;
        } catch (err) {
          lastError = err;
          return false;
        }
      },
      60_000,
      100,
    );
    assert.ok(recovered, `shared mode never reached the new master: ${String(lastError)}`);
    assert.equal(value, 'kept', 'the data written before the failover is read from the new master');
    assert.equal(await sentinel.masterPort(), sentinel.replica.port);
    const written = await scheduler.go(function* () {
      const red = yield* redis.connect({ url, mode: 'shared' });
      yield* red.set('after-failover', 'new');
      return yield* red.get('after-failover');
    });
    assert.equal(written, 'new', 'the new master takes writes (a replica would answer READONLY)');
    const stats = redis.sharedConnections().find((s) => s.peer.startsWith('sentinel:'));
    assert.equal(stats?.status, 'ready');
  });
});

describe('redis sentinel in short and keepalive modes (a real master, replica and sentinel)', () => {
  let own: TestRedisSentinel;
  before(async () => {
    own = await startTestRedisSentinel();
  });
  after(async () => {
    await pools.drain();
    await own?.stop();
  });

  function* roundTrip(url: string, mode: 'short' | 'keepalive', key: string): Operation<[string | null, string]> {
    const red = yield* redis.connect({ url, mode, timeouts: { connect: 2_000, read: 2_000 } });
    const value = yield* red.get(key);
    const port = /laddr=\S*:(\d+)/.exec(String(yield* red.call('CLIENT', 'INFO')))?.[1] ?? '';
    red.close();
    return [value, port];
  }

  it('asks the sentinel for the master, and the first request after a failover reaches the new one', async () => {
    const url = own.url;
    const acked = await scheduler.go(function* (): Operation<number> {
      const red = yield* redis.connect({ url, mode: 'keepalive' });
      yield* red.set('dedicated', 'kept');
      const replicas = yield* red.call<number>('WAIT', 1, 30_000);
      red.setkeepalive();
      return replicas;
    });
    assert.equal(acked, 1);
    for (const mode of ['short', 'keepalive'] as const) {
      assert.deepEqual(await scheduler.go(roundTrip, url, mode, 'dedicated'), ['kept', String(own.master.port)]);
    }
    await own.failover();
    // no retry loop: the sentinel names the new master now, so the very next request must work
    for (const mode of ['keepalive', 'short'] as const) {
      assert.deepEqual(
        await scheduler.go(roundTrip, url, mode, 'dedicated'),
        ['kept', String(own.replica.port)],
        `${mode} after the failover`,
      );
    }
    const written = await scheduler.go(function* () {
      const red = yield* redis.connect({ url, mode: 'keepalive' });
      const ok = yield* red.set('after', 'yes');
      red.setkeepalive();
      return ok;
    });
    assert.equal(written, 'OK', 'the new master takes writes');
  });

  it('refuses a server that the sentinel names but is not a master, naming why', async () => {
    await assert.rejects(
      scheduler.go(function* () {
        yield* redis.connect({
          url: `redis+sentinel://127.0.0.1:${own.sentinel.port}?name=nosuchmaster`,
          mode: 'short',
          timeouts: { connect: 2_000 },
        });
      }),
      (err: unknown) => err instanceof RedisSentinelError && /does not know master 'nosuchmaster'/.test(err.message),
    );
  });
});
