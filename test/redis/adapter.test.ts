import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CancelledError,
  ConnectionRefusedError,
  DubiousStateError,
  Scheduler,
  SocketTimeoutError,
  all,
  pools,
  redis,
  sleep,
  spawn,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/net.js';
import { deadPort } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'redis-tests' });
let r: TestRedis;

function* getTest(mode: redis.RedisMode, pool?: string): Operation<string | null> {
  const red = yield* redis.connect({ url: r.url, mode, ...(pool ? { pool } : {}) });
  const v = yield* red.get('test');
  red.setkeepalive();
  return v;
}

describe('redis adapter', () => {
  before(async () => {
    r = await startTestRedis();
    await r.admin.set('test', 'hello12345');
  });
  after(async () => {
    await pools.drain();
    await r.stop();
  });

  it('short mode opens and closes a connection per use', async () => {
    const before = await r.connectionsReceived();
    for (let i = 0; i < 5; i++) assert.equal(await scheduler.go(getTest, 'short'), 'hello12345');
    assert.equal((await r.connectionsReceived()) - before, 5);
    assert.ok(await waitFor(async () => (await r.clients()) === 0, 2_000), 'short connections left open');
  });

  it('keepalive mode reuses one pooled connection, counting reuses', async () => {
    const before = await r.connectionsReceived();
    const reuses = await scheduler.go(function* (): Operation<number[]> {
      const counts: number[] = [];
      for (let i = 0; i < 5; i++) {
        const red = yield* redis.connect({ url: r.url, pool: 'reuse' });
        counts.push(red.getreusedtimes());
        assert.equal(yield* red.get('test'), 'hello12345');
        red.setkeepalive();
        // the count is of this use: it stays after the connection went back to the pool
        assert.equal(red.getreusedtimes(), counts[i]);
      }
      return counts;
    });
    assert.deepEqual(reuses, [0, 1, 2, 3, 4]);
    assert.equal((await r.connectionsReceived()) - before, 1);
    assert.equal(await r.clients(), 1, 'the idle pooled connection stays open');
  });

  it('keepalive mode opens at most poolSize connections under concurrency', async () => {
    const before = await r.connectionsReceived();
    await Promise.all(
      Array.from({ length: 40 }, () =>
        scheduler.go(function* () {
          const red = yield* redis.connect({ url: r.url, pool: 'sized', poolSize: 4 });
          yield* red.get('test');
          yield* sleep(2);
          red.setkeepalive();
        }),
      ),
    );
    assert.ok((await r.connectionsReceived()) - before <= 4);
  });

  it('shared mode multiplexes every coroutine over one connection', async () => {
    const before = await r.connectionsReceived();
    const values = await scheduler.go(function* () {
      return yield* all(Array.from({ length: 50 }, () => getTest('shared')));
    });
    assert.ok(values.every((v) => v === 'hello12345'));
    assert.equal((await r.connectionsReceived()) - before, 1);
  });

  it('runs a pipeline and a MULTI/EXEC transaction; a WATCHed change aborts the transaction', async () => {
    const got = await scheduler.go(function* () {
      const red = yield* redis.connect({ url: r.url });
      yield* red.del('n');
      const piped = yield* red.pipeline().incr('n').incr('n').get('n').exec();
      const tx = yield* red.multi().set('t', 'a').incr('n').exec();
      yield* red.call('WATCH', 't');
      const other = yield* redis.connect({ url: r.url, mode: 'short' });
      yield* other.set('t', 'changed');
      other.close();
      const aborted = yield* red.multi().set('t', 'mine').exec();
      red.setkeepalive();
      return { piped, tx, aborted };
    });
    assert.deepEqual(got.piped, [
      [null, 1],
      [null, 2],
      [null, '2'],
    ]);
    assert.deepEqual(got.tx, [
      [null, 'OK'],
      [null, 3],
    ]);
    assert.equal(got.aborted, null);
    assert.equal(await r.admin.get('t'), 'changed');
  });

  it('subscribes and reads messages with readReply; a read timeout is not fatal', async () => {
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const sub = yield* redis.connect({ url: r.url, pool: 'pubsub', timeouts: { read: 50 } });
      assert.equal(yield* sub.subscribe('news'), 1);
      let timedOut = false;
      try {
        yield* sub.readReply();
      } catch (err) {
        timedOut = err instanceof SocketTimeoutError;
      }
      const publisher = yield* spawn(function* () {
        const pub = yield* redis.connect({ url: r.url, mode: 'shared' });
        yield* pub.publish('news', 'one');
        yield* pub.publish('news', 'two');
      });
      yield* publisher;
      sub.settimeout(2_000);
      const first = yield* sub.readReply();
      const second = yield* sub.readReply();
      assert.throws(
        () => sub.setkeepalive(),
        (err: unknown) => err instanceof DubiousStateError && /subscribed/.test(err.message),
      );
      return [timedOut, first, second, sub.closed];
    });
    assert.deepEqual(got, [true, ['message', 'news', 'one'], ['message', 'news', 'two'], true]);
    const stats = pools.stats().find((p) => p.name === 'pubsub')!;
    assert.equal(stats.idle, 0, 'a subscribed connection must never be pooled');
  });

  it('never pools a connection left inside MULTI or with its database changed', async () => {
    await scheduler.go(function* () {
      const red = yield* redis.connect({ url: r.url, pool: 'stateful' });
      yield* red.call('MULTI');
      assert.throws(() => red.setkeepalive(), /inside MULTI/);
      const red2 = yield* redis.connect({ url: r.url, pool: 'stateful' });
      yield* red2.call('SELECT', 3);
      assert.throws(() => red2.setkeepalive(), /connection state was changed/);
    });
    const stats = pools.stats().find((p) => p.name === 'stateful')!;
    assert.equal(stats.idle, 0);
  });

  it('keeps databases and credentials apart: they are part of the pool key', async () => {
    await scheduler.go(function* () {
      const db1 = yield* redis.connect({ url: `${r.url}/1` });
      yield* db1.set('where', 'db1');
      db1.setkeepalive();
      const db0 = yield* redis.connect({ url: `${r.url}/0` });
      assert.equal(yield* db0.get('where'), null);
      db0.setkeepalive();
    });
    const names = pools.stats().map((p) => p.name);
    assert.ok(names.some((n) => n.endsWith('/1')) && names.some((n) => n.endsWith('/0')));
    assert.equal(redis.parseRedisTarget('redis://u:secret@h:1/2').key.includes('secret'), false);
  });

  it('shared mode refuses commands that would change the connection for everybody', async () => {
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: r.url, mode: 'shared' });
        yield* red.call('SELECT', 2);
      }),
      /changes connection state: use mode 'short' or 'keepalive'/,
    );
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: r.url, mode: 'shared' });
        yield* red.subscribe('x');
      }),
      /needs a dedicated connection/,
    );
  });

  it('times out a slow command without closing the connection', async () => {
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const red = yield* redis.connect({ url: r.url, pool: 'slow', timeouts: { read: 50 } });
      let error: unknown;
      try {
        yield* red.call('BLPOP', 'empty-list', '0.3');
      } catch (err) {
        error = err;
      }
      red.settimeout(2_000);
      const after = yield* red.get('test');
      red.setkeepalive();
      return [error instanceof SocketTimeoutError, after, red.closed];
    });
    assert.deepEqual(got, [true, 'hello12345', true]);
    const shared = await scheduler.go(function* (): Operation<boolean> {
      const red = yield* redis.connect({ url: r.url, mode: 'shared', timeouts: { read: 50 } });
      try {
        yield* red.call('BLPOP', 'empty-shared', '0.3');
      } catch (err) {
        return err instanceof SocketTimeoutError;
      }
      return false;
    });
    assert.equal(shared, true, 'shared mode must time out too');
  });

  it('closes, never pools, a connection whose coroutine is cancelled mid-command', async () => {
    const task = scheduler.go(function* () {
      const red = yield* redis.connect({ url: r.url, pool: 'cancelled' });
      yield* red.call('BLPOP', 'never', '0');
    });
    await waitFor(async () => (await r.clients()) >= 1, 2_000);
    const before = await r.clients();
    task.cancel();
    await assert.rejects(task, CancelledError);
    assert.ok(await waitFor(async () => (await r.clients()) < before, 2_000), 'the blocked connection was not closed');
    assert.equal(pools.stats().find((p) => p.name === 'cancelled')!.idle, 0);
  });

  it('fails fast with a typed error when Redis is not there, in every mode', async () => {
    const url = `redis://127.0.0.1:${await deadPort()}`;
    for (const mode of ['short', 'keepalive'] as const) {
      // the refusal itself, not the connect timeout (that would be a SocketTimeoutError)
      await assert.rejects(
        scheduler.go(function* () {
          yield* redis.connect({ url, mode });
        }),
        (err: unknown) => err instanceof ConnectionRefusedError,
      );
    }
  });

  it('shared mode fails fast while Redis is down and recovers by itself when it is back', async () => {
    const own = await startEmbeddedRedis();
    const url = own.url;
    try {
      assert.equal(
        await scheduler.go(function* () {
          const red = yield* redis.connect({ url, mode: 'shared' });
          return yield* red.set('k', 'v');
        }),
        'OK',
      );
      await own.stop();
      // commands fail fast while Redis is down: from the dead connection, not by waiting out the 5 s read timeout
      await assert.rejects(
        scheduler.go(function* () {
          const red = yield* redis.connect({ url, mode: 'shared', timeouts: { read: 5_000 } });
          yield* red.get('k');
        }),
        (err: unknown) => !(err instanceof SocketTimeoutError),
      );
      const revived = await startEmbeddedRedis({ port: own.port });
      try {
        const back = await waitFor(
          async () => {
            try {
              return (
                (await scheduler.go(function* () {
                  const red = yield* redis.connect({ url, mode: 'shared' });
                  return yield* red.ping();
                })) === 'PONG'
              );
            } catch {
              return false;
            }
          },
          5_000,
          100,
        );
        assert.ok(back, 'shared connection did not recover');
      } finally {
        await revived.stop();
      }
    } finally {
      await own.stop();
    }
  });

  it('validates its options', () => {
    assert.throws(() => redis.connect({ mode: 'pooled' as never }), /mode must be one of short, keepalive, shared/);
    assert.throws(() => redis.connect({ url: 'http://x' }), /must use redis:\/\//);
    assert.throws(() => redis.connect({ url: 'redis://h:1/x' }), /database must be a number/);
    assert.throws(() => redis.connect({ timeouts: { read: 0 } }), /timeouts\.read must be/);
    // the tcp cosocket has TLS now: the message says what is still missing, not that
    for (const mode of ['keepalive', 'short'] as const)
      assert.throws(
        () => redis.connect({ url: 'rediss://h:1', mode }),
        (err: unknown) =>
          err instanceof Error &&
          err.message ===
            `redis.connect(): rediss:// (TLS) works in mode 'shared' only: mode '${mode}' does not speak TLS to Redis yet (use mode: 'shared')`,
      );
  });
});
