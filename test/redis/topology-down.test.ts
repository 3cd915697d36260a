import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { RedisClusterDownError, Scheduler, SocketError, SocketTimeoutError, pools, redis } from '../../src/index.js';
import { deadPort } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'redis-topology-down-tests' });

function getThrough(url: string): Promise<unknown> {
  return scheduler.go(function* () {
    const red = yield* redis.connect({ url, mode: 'shared', timeouts: { connect: 30_000, read: 30_000 } });
    return yield* red.get('k');
  });
}

describe('redis cluster and sentinel with nobody answering', () => {
  after(() => pools.drain());

  it('shared mode fails with a connect error when no cluster seed answers, instead of waiting out the timeout', async () => {
    const url = `redis+cluster://127.0.0.1:${await deadPort()},127.0.0.1:${await deadPort()}`;
    await assert.rejects(
      getThrough(url),
      (err: unknown) => err instanceof SocketError && !(err instanceof SocketTimeoutError),
    );
    // and again while it keeps retrying in the background: at once, from the last error
    await assert.rejects(
      getThrough(url),
      (err: unknown) => err instanceof SocketError && !(err instanceof SocketTimeoutError),
    );
  });

  it('short and keepalive modes fail with RedisClusterDownError naming every seed when no seed answers', async () => {
    const ports = [await deadPort(), await deadPort()];
    const url = `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
    for (const mode of ['short', 'keepalive'] as const) {
      await assert.rejects(
        scheduler.go(function* () {
          const red = yield* redis.connect({ url, mode, timeouts: { connect: 30_000, read: 30_000 } });
          return yield* red.get('k');
        }),
        (err: unknown) =>
          err instanceof RedisClusterDownError &&
          err.code === 'COSOCKET_ERR_REDIS_CLUSTER_DOWN' &&
          ports.every((port) => err.message.includes(`127.0.0.1:${port}`)),
      );
    }
  });

  it('shared mode fails with a connect error when no sentinel answers', async () => {
    const url = `redis+sentinel://127.0.0.1:${await deadPort()}?name=mymaster`;
    await assert.rejects(
      getThrough(url),
      (err: unknown) => err instanceof SocketError && !(err instanceof SocketTimeoutError),
    );
  });
});
