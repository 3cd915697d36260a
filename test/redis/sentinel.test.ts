import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools, redis } from '../../src/index.js';
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
    const recovered = await waitFor(async () => {
      try {
        value = await scheduler.go(readThrough, url, 'before-failover');
        return true;
      } catch (err) {
        lastError = err;
        return false;
      }
    }, 60_000, 100);
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
