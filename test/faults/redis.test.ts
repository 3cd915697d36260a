import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { scale, settle, status, timeBudget, timedGet } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-redis-'));
const config = join(dir, 'config.json');
// connect and read timeouts short enough to test, as an operator would set them in front of a local Redis
writeFileSync(config, JSON.stringify({ test: { connectTimeout: '300ms', readTimeout: '500ms', poolSize: 20 } }));

/** Runs `workers` loops of GETs until `stop()`; collects every status and time. */
function load(url: string, workers: number): { stop(): Promise<Array<{ status: number; ms: number }>> } {
  let running = true;
  const results: Array<{ status: number; ms: number }> = [];
  const loops = Array.from({ length: workers }, async () => {
    while (running) results.push(await timedGet(url, {}, 10_000));
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

timeBudget('faults/redis.test', { fast: 15_000, full: 120_000 });

describe('faults: Redis', () => {
  let redis: EmbeddedRedis;
  let server: RunningServer;
  let base = '';
  before(async () => {
    redis = await startEmbeddedRedis();
    server = await startServer(['--redis', redis.url, '--config', config]);
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('killed and restarted under load: fast 5xx while it is down, no dead sockets kept, throughput comes back', async () => {
    for (let round = 0; round < scale(1, 3); round++) {
      const port = redis.port;
      const before = load(`${base}/test/keepalive`, 10);
      await new Promise((r) => setTimeout(r, 300));
      redis.kill(); // SIGKILL: connections die without a goodbye
      await new Promise((r) => setTimeout(r, 300));
      const down = await Promise.all(Array.from({ length: 20 }, () => timedGet(`${base}/test/keepalive`)));
      const during = await before.stop();
      for (const r of down) {
        assert.ok(r.status >= 500 && r.status <= 504, `while Redis is down: ${r.status}`);
        assert.ok(r.ms < 2_000, `a request hung ${Math.round(r.ms)} ms while Redis was down (connect timeout 300 ms)`);
      }
      assert.ok(
        during.every((r) => r.status === 200 || (r.status >= 500 && r.status <= 504)),
        `unexpected statuses ${[...new Set(during.map((r) => r.status))].join(',')}`,
      );
      redis = await startEmbeddedRedis({ port });
      const admin = new Redis(redis.url);
      await admin.set('test', 'hello12345');
      admin.disconnect();
      const back = await settle(
        () => timedGet(`${base}/test/keepalive`),
        (r) => r.status === 200,
        10_000,
      );
      assert.ok(back.ok, `no 200 within 10 s after Redis came back (last: ${back.value.status})`);
      // every pooled connection is a live one now: bursts over the whole pool fail nowhere (a burst of the
      // pool's size at a time, so no request waits out the 300 ms connect timeout for a free slot)
      const burst: Array<{ status: number; text: string }> = [];
      for (let wave = 0; wave < 5; wave++)
        burst.push(...(await Promise.all(Array.from({ length: 20 }, () => timedGet(`${base}/test/keepalive`)))));
      assert.deepEqual([...new Set(burst.map((r) => `${r.status} ${r.text}`))], ['200 hello12345']);
      const pool = (await status(server.port)).pools.find(
        (p) => p.kind === 'redis' && p.name.startsWith(`127.0.0.1:${port}`),
      );
      assert.ok(
        pool !== undefined && pool.open <= 20,
        `pool holds ${String(pool?.open)} connections, more than its size`,
      );
    }
  });

  it('slow (CLIENT PAUSE): read timeouts answer 504 within bounds, no coroutine is left behind', async () => {
    const admin = new Redis(redis.url);
    try {
      await admin.call('CLIENT', 'PAUSE', '2000', 'ALL');
      const slow = await Promise.all(Array.from({ length: 20 }, () => timedGet(`${base}/test/keepalive`)));
      for (const r of slow) {
        assert.equal(r.status, 504, `a request to a stalled Redis answered ${r.status}`);
        assert.ok(r.ms < 2_000, `it took ${Math.round(r.ms)} ms (read timeout 500 ms)`);
      }
      const idle = await settle(
        () => status(server.port),
        (s) => s.scheduler.live <= 1,
        5_000,
      ); // 1: the /status request itself
      assert.ok(idle.ok, `coroutines still live: ${idle.value.scheduler.live}`);
      await new Promise((r) => setTimeout(r, 2_000)); // the pause ends
      const back = await settle(
        () => timedGet(`${base}/test/keepalive`),
        (r) => r.status === 200,
        5_000,
      );
      assert.ok(back.ok, 'no 200 after the pause ended');
    } finally {
      admin.disconnect();
    }
  });
});
