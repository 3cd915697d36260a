import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisServerNotFoundError, findOnPath, startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';
import { canConnect, waitFor } from '../helpers/net.js';
import { runNode } from '../helpers/process.js';

describe('embedded redis-server', () => {
  const started: EmbeddedRedis[] = [];
  after(async () => {
    await Promise.all(started.map((r) => r.stop()));
  });

  it('starts a private server on a free loopback port that answers commands, without persistence', async () => {
    const redis = await startEmbeddedRedis();
    started.push(redis);
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    const client = new Redis(redis.url);
    try {
      assert.equal(await client.set('k', 'v'), 'OK');
      assert.equal(await client.get('k'), 'v');
      const config = (await client.config('GET', 'save')) as string[];
      assert.equal(config[1], '');
      const aof = (await client.config('GET', 'appendonly')) as string[];
      assert.equal(aof[1], 'no');
    } finally {
      client.disconnect();
    }
  });

  it('gives each run its own server, and stop() ends it', async () => {
    const a = await startEmbeddedRedis();
    const b = await startEmbeddedRedis();
    assert.notEqual(a.port, b.port);
    await a.stop();
    await b.stop();
    assert.equal(await canConnect(a.port), false);
    assert.equal(await canConnect(b.port), false);
  });

  it('dies with its parent even when the parent is killed with SIGKILL', async () => {
    const script = `
      import { startEmbeddedRedis } from ${JSON.stringify(new URL('../../src/server/embedded-redis.js', import.meta.url).href)};
      const r = await startEmbeddedRedis();
      console.log('port', r.port);
      process.kill(process.pid, 'SIGKILL');`;
    const result = await runNode(script, 20_000);
    assert.equal(result.signal, 'SIGKILL');
    const port = Number(/port (\d+)/.exec(result.stdout)?.[1]);
    assert.ok(port > 0, result.stdout + result.stderr);
    assert.ok(await waitFor(async () => !(await canConnect(port)), 5_000), 'redis-server outlived its killed parent');
  });

  it('says how to install redis-server when it is not on PATH', async () => {
    assert.equal(findOnPath('redis-server', '/nonexistent'), null);
    const previous = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(startEmbeddedRedis(), (err: unknown) => {
        assert.ok(err instanceof RedisServerNotFoundError);
        assert.match(err.message, /apt-get install redis-server/);
        assert.match(err.message, /REDIS_URL/);
        return true;
      });
    } finally {
      process.env.PATH = previous;
    }
  });
});
