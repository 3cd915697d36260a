import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TcpSocket } from '../../adapters/tcp/index.js';
import {
  DubiousStateError,
  RedisProtocolError,
  RedisReplyError,
  Scheduler,
  SocketTimeoutError,
  pools,
  redis,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { startTcpServer } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'resp-client-tests' });
let r: TestRedis;

function poolStats(name: string): { idle: number; open: number } {
  const stats = pools.stats().find((p) => p.name === name);
  assert.ok(stats !== undefined, `no pool '${name}'`);
  return stats;
}

describe('redis on the tcp cosocket', () => {
  before(async () => {
    r = await startTestRedis();
  });
  after(async () => {
    await pools.drain();
    await r.stop();
  });

  it('short and keepalive connections are tcp cosockets, not ioredis clients; shared stays ioredis', async () => {
    const kinds = await scheduler.go(function* (): Operation<unknown[]> {
      const out: unknown[] = [];
      for (const mode of ['short', 'keepalive', 'shared'] as const) {
        const red = yield* redis.connect({ url: r.url, mode, pool: 'kinds' });
        out.push(red.socket instanceof TcpSocket);
        yield* red.ping();
        red.setkeepalive();
      }
      return out;
    });
    assert.deepEqual(kinds, [true, true, false]);
  });

  it('runs a pipeline of 1,000 commands in one round trip and returns each reply in order', async () => {
    const got = await scheduler.go(function* () {
      const red = yield* redis.connect({ url: r.url, pool: 'big-pipeline' });
      const batch = red.pipeline();
      for (let i = 0; i < 500; i++) batch.set(`p:${i}`, `v${i}`).get(`p:${i}`);
      const results = yield* batch.exec();
      red.setkeepalive();
      return results!;
    });
    assert.equal(got.length, 1_000);
    for (let i = 0; i < 500; i++) {
      assert.deepEqual(got[2 * i], [null, 'OK']);
      assert.deepEqual(got[2 * i + 1], [null, `v${i}`]);
    }
    assert.equal(poolStats('big-pipeline').idle, 1);
  });

  it('reads a 50 MB bulk reply; past maxBulk the command fails with a clear error and the connection is closed', async () => {
    const big = Buffer.alloc(50 * 1024 * 1024, 'z'.charCodeAt(0));
    await r.admin.set('big', big);
    const length = await scheduler.go(function* () {
      const red = yield* redis.connect({ url: r.url, pool: 'bulk' });
      const value = yield* red.get('big');
      red.setkeepalive();
      return value!.length;
    });
    assert.equal(length, big.length);
    const refused = await scheduler.go(function* (): Operation<unknown[]> {
      const red = yield* redis.connect({ url: r.url, pool: 'bulk-limited', maxBulk: 10 * 1024 * 1024 });
      try {
        yield* red.get('big');
        return ['no error'];
      } catch (err) {
        return [err instanceof RedisProtocolError, (err as Error).message, red.closed];
      }
    });
    assert.equal(refused[0], true);
    assert.match(String(refused[1]), /a bulk reply of 52428800 bytes is larger than maxBulk \(10485760 bytes\)/);
    assert.equal(refused[2], true, 'the connection that got a refused reply must be closed');
    assert.equal(poolStats('bulk-limited').idle, 0);
    await r.admin.del('big');
  });

  it('turns error replies into RedisReplyError with their code; the connection stays usable and poolable', async () => {
    await r.admin.set('a-string', 'x');
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const red = yield* redis.connect({ url: r.url, pool: 'errors' });
      let caught: unknown;
      try {
        yield* red.call('LPUSH', 'a-string', 'y');
      } catch (err) {
        caught = err;
      }
      const after = yield* red.get('a-string');
      const piped = yield* red.pipeline().call('INCR', 'a-string').get('a-string').exec();
      red.setkeepalive();
      return [caught, after, piped];
    });
    const [caught, after, piped] = got as [RedisReplyError, string, Array<[Error | null, unknown]>];
    assert.ok(caught instanceof RedisReplyError);
    assert.equal(caught.redisCode, 'WRONGTYPE');
    assert.match(caught.message, /^WRONGTYPE Operation against a key holding the wrong kind of value/);
    assert.equal(after, 'x');
    assert.ok(piped[0]![0] instanceof RedisReplyError && /not an integer/.test(piped[0]![0].message));
    assert.deepEqual(piped[1], [null, 'x']);
    assert.equal(poolStats('errors').idle, 1);
  });

  it('a transaction with a command refused at queue time fails with EXECABORT naming the refusal', async () => {
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: r.url, pool: 'execabort' });
        yield* red.multi().set('k', 'v').call('NOSUCHCOMMAND').exec();
      }),
      (err: unknown) =>
        err instanceof RedisReplyError && err.redisCode === 'EXECABORT' && /unknown command/.test(err.message),
    );
  });

  it('drops the late reply of a timed-out command, and refuses to pool the connection while it is owed', async () => {
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const red = yield* redis.connect({ url: r.url, pool: 'owed', timeouts: { read: 50 } });
      let timedOut = false;
      try {
        yield* red.call('BLPOP', 'nothing-here', '0.2');
      } catch (err) {
        timedOut = err instanceof SocketTimeoutError;
      }
      let refused = '';
      try {
        red.setkeepalive();
      } catch (err) {
        refused = err instanceof DubiousStateError ? err.message : String(err);
      }
      return [timedOut, refused, red.closed];
    });
    assert.equal(got[0], true);
    assert.match(String(got[1]), /1 reply still owed to a command that timed out/);
    assert.equal(got[2], true);
    assert.equal(poolStats('owed').idle, 0);
  });

  it('is poolable again after unsubscribing from everything', async () => {
    await scheduler.go(function* () {
      const sub = yield* redis.connect({ url: r.url, pool: 'unsub' });
      assert.equal(yield* sub.subscribe('a', 'b'), 2);
      assert.equal(yield* sub.psubscribe('c*'), 3);
      assert.equal(yield* sub.unsubscribe(), 1);
      assert.equal(yield* sub.punsubscribe(), 0);
      sub.setkeepalive();
    });
    assert.equal(poolStats('unsub').idle, 1);
  });

  it('speaks RESP3 when asked: maps, pushes for pub/sub, a pool of its own', async () => {
    await r.admin.hset('h3', 'f', 'v', 'g', 'w');
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const red = yield* redis.connect({ url: r.url, protocol: 3 });
      const map = yield* red.call('HGETALL', 'h3');
      const exists = yield* red.call('SISMEMBER', 'no-set', 'x');
      red.setkeepalive();
      const sub = yield* redis.connect({ url: r.url, protocol: 3, mode: 'short' });
      assert.equal(yield* sub.subscribe('news3'), 1);
      const pub = yield* redis.connect({ url: r.url, mode: 'short' });
      yield* pub.publish('news3', 'hi');
      pub.close();
      const message = yield* sub.readReply();
      sub.close();
      return [map, exists, message];
    });
    assert.deepEqual(got, [{ f: 'v', g: 'w' }, 0, ['message', 'news3', 'hi']]);
    assert.ok(pools.stats().some((p) => p.name.endsWith('#resp3')));
  });

  it('fails a reply that breaks RESP with RedisProtocolError and closes the connection', async () => {
    const server = await startTcpServer((socket) => socket.on('data', () => socket.write('?garbage\r\n')));
    try {
      const got = await scheduler.go(function* (): Operation<unknown[]> {
        const red = yield* redis.connect({ url: `redis://127.0.0.1:${server.port}`, mode: 'short' });
        try {
          yield* red.get('k');
          return ['no error'];
        } catch (err) {
          return [err instanceof RedisProtocolError, (err as Error).message, red.closed];
        }
      });
      assert.equal(got[0], true);
      assert.match(String(got[1]), /bad reply from Redis: unexpected byte 0x3f/);
      assert.equal(got[2], true);
      await server.waitClosed(1);
    } finally {
      await server.close();
    }
  });
});

describe('redis AUTH and SELECT from the URL', () => {
  let own: TestRedis;
  before(async () => {
    own = await startTestRedis();
    await own.admin.call('ACL', 'SETUSER', 'alice', 'on', '>wonderland', '~*', '&*', '+@all');
    await own.admin.config('SET', 'requirepass', 'sekret');
  });
  after(async () => {
    await pools.drain();
    await own.stop();
  });

  it('logs in with a password or a user, selects the database, and keeps each in its own pool', async () => {
    const port = own.server.port;
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const out: unknown[] = [];
      for (const url of [`redis://:sekret@127.0.0.1:${port}/2`, `redis://alice:wonderland@127.0.0.1:${port}/3`]) {
        for (const mode of ['short', 'keepalive'] as const) {
          const red = yield* redis.connect({ url, mode });
          out.push(yield* red.call('ACL', 'WHOAMI'));
          out.push(/ db=(\d+) /.exec(yield* red.call<string>('CLIENT', 'INFO'))![1]);
          red.close();
        }
      }
      const resp3 = yield* redis.connect({
        url: `redis://alice:wonderland@127.0.0.1:${port}/4`,
        protocol: 3,
        mode: 'short',
      });
      out.push(yield* resp3.call('ACL', 'WHOAMI'));
      resp3.close();
      return out;
    });
    assert.deepEqual(got, ['default', '2', 'default', '2', 'alice', '3', 'alice', '3', 'alice']);
  });

  it('fails the connect with the refusal when the password is wrong', async () => {
    await assert.rejects(
      scheduler.go(function* () {
        yield* redis.connect({ url: `redis://alice:nope@127.0.0.1:${own.server.port}`, mode: 'short' });
      }),
      (err: unknown) => err instanceof RedisReplyError && err.redisCode === 'WRONGPASS',
    );
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: `redis://127.0.0.1:${own.server.port}`, mode: 'short' });
        yield* red.get('k');
      }),
      (err: unknown) => err instanceof RedisReplyError && err.redisCode === 'NOAUTH',
    );
  });
});
