import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { runCli, startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let server: RunningServer;
let base = '';
const dir = mkdtempSync(join(tmpdir(), 'cosocket-server-'));

async function get(path: string, init?: RequestInit): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${base}${path}`, init);
  return { status: res.status, body: await res.text(), ms: Date.now() - started };
}

describe('cosocket serve: /test routes', () => {
  before(async () => {
    redis = await startTestRedis();
    server = await startServer(['--redis', redis.url]);
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets key test at start, and every /test route answers its 10 bytes', async () => {
    assert.equal(await redis.admin.get('test'), 'hello12345');
    for (const path of ['/test', '/test/short', '/test/keepalive', '/test/shared']) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.body, 'hello12345', path);
      assert.equal(Buffer.byteLength(res.body), 10);
    }
  });

  it('short mode opens and closes a Redis connection per request; keepalive and shared reuse', async () => {
    const count = async (path: string): Promise<number> => {
      const before = await redis.connectionsReceived();
      for (let i = 0; i < 20; i++) assert.equal((await get(path)).body, 'hello12345');
      return (await redis.connectionsReceived()) - before;
    };
    assert.equal(await count('/test/short'), 20);
    assert.equal(await count('/test/keepalive'), 0, 'the pool from the first test should be reused');
    assert.equal(await count('/test/shared'), 0);
  });

  it('reports scheduler, pool and per-route stats in /status', async () => {
    const status = (await (await fetch(`${base}/status`)).json()) as {
      scheduler: { completed: number };
      pools: Array<{ kind: string; reused: number }>;
      routes: Array<{ route: string; requests: number; '2xx': number }>;
    };
    assert.ok(status.scheduler.completed >= 60);
    assert.ok(status.pools.some((p) => p.kind === 'redis' && p.reused > 0));
    const shortRoute = status.routes.find((r) => r.route === 'GET /test/short')!;
    assert.ok(shortRoute.requests >= 21 && shortRoute['2xx'] >= 21);
  });

  it('cosocket ab against the server reports the right counts', async () => {
    const plain = await runCli(['ab', '-n', '200', '-c', '10', `${base}/test`]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^Complete requests:\s+200$/m);
    assert.match(plain.stdout, /^Failed requests:\s+0$/m);
    assert.match(plain.stdout, /^Document Length:\s+10 bytes$/m);
    assert.match(plain.stdout, /^HTML transferred:\s+2000 bytes$/m);
    assert.match(plain.stdout, /^Concurrency Level:\s+10$/m);
    assert.match(plain.stdout, /^Connection Times \(ms\)$/m);
    assert.match(plain.stdout, /^ 100%\s+\d+ \(longest request\)$/m);
    assert.doesNotMatch(plain.stdout, /Keep-Alive requests/);
    const keepalive = await runCli(['ab', '-n', '300', '-c', '5', '-k', '--json', `${base}/test`]);
    const json = JSON.parse(keepalive.stdout) as Record<string, number>;
    assert.equal(json.completeRequests, 300);
    assert.equal(json.keepAliveRequests, 300);
    assert.equal(json.failedRequests, 0);
    assert.ok(json.requestsPerSecond! > 0);
    const missing = await runCli(['ab', '-n', '20', '-c', '2', `${base}/nowhere`]);
    assert.match(missing.stdout, /^Non-2xx responses:\s+20$/m);
    const bad = await runCli(['ab', '-n', '1', '-c', '5', `${base}/test`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Cannot use concurrency level greater than total number of requests/);
  });

  it('config file: its settings apply, flags win, unknown keys are refused by name', async () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ port: 1, redis: redis.url, test: { mode: 'short', readTimeout: '2s' } }));
    const configured = await startServer(['--config', good]);
    try {
      const before = await redis.connectionsReceived();
      const res = await fetch(`http://127.0.0.1:${configured.port}/test`);
      assert.equal(await res.text(), 'hello12345');
      assert.equal((await redis.connectionsReceived()) - before, 1, '/test should use short mode from the file');
    } finally {
      await configured.stop();
    }
    for (const [name, text] of [
      ['config.mjs', `export default { redis: ${JSON.stringify(redis.url)}, test: { mode: 'shared' } };`],
      [
        'config.ts',
        `const config: { redis: string; test: { mode: string } } = { redis: ${JSON.stringify(redis.url)}, test: { mode: 'shared' } };\nexport default config;`,
      ],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const fromModule = await startServer(['--config', file]);
      try {
        const before = await redis.connectionsReceived();
        for (let i = 0; i < 5; i++)
          assert.equal(await (await fetch(`http://127.0.0.1:${fromModule.port}/test`)).text(), 'hello12345');
        assert.ok((await redis.connectionsReceived()) - before <= 1, `${name}: /test should use the shared connection`);
      } finally {
        await fromModule.stop();
      }
    }
    const typo = join(dir, 'typo.json');
    writeFileSync(typo, JSON.stringify({ test: { mdoe: 'short' } }));
    const refused = await runCli(['serve', '--config', typo]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /unknown key 'test\.mdoe' \(known here: mode, poolSize/);
    const badUnit = join(dir, 'unit.json');
    writeFileSync(badUnit, JSON.stringify({ shutdown: { grace: '10 parsecs' } }));
    const unit = await runCli(['serve', '--config', badUnit]);
    assert.match(unit.stderr, /'shutdown\.grace' must be a duration like "100ms", "10s", "1m"/);
  });
});

describe('cosocket serve: Redis outage', () => {
  it('answers 5xx fast while Redis is down and recovers by itself when it is back', async () => {
    const own = await startEmbeddedRedis();
    const srv = await startServer(['--redis', own.url]);
    const url = (path: string): string => `http://127.0.0.1:${srv.port}${path}`;
    try {
      for (const path of ['/test/short', '/test/keepalive', '/test/shared'])
        assert.equal((await fetch(url(path))).status, 200);
      await own.stop();
      for (const path of ['/test/short', '/test/keepalive', '/test/shared']) {
        for (let i = 0; i < 3; i++) {
          const started = Date.now();
          const res = await fetch(url(path));
          assert.ok(res.status >= 502 && res.status <= 504, `${path} answered ${res.status} while Redis was down`);
          assert.ok(Date.now() - started < 1_500, `${path} took ${Date.now() - started} ms to fail`);
        }
      }
      const revived = await startEmbeddedRedis({ port: own.port });
      try {
        const { Redis } = await import('ioredis');
        const admin = new Redis(revived.url);
        await admin.set('test', 'hello12345'); // no persistence: the restarted server starts empty
        admin.disconnect();
        for (const path of ['/test/short', '/test/keepalive', '/test/shared']) {
          let ok = false;
          for (let i = 0; i < 40 && !ok; i++) {
            const res = await fetch(url(path));
            ok = res.status === 200 && (await res.text()) === 'hello12345';
            if (!ok) await new Promise((r) => setTimeout(r, 100));
          }
          assert.ok(ok, `${path} did not recover after Redis came back`);
        }
      } finally {
        await revived.stop();
      }
    } finally {
      await srv.stop();
      await own.stop();
    }
  });
});

describe('cosocket serve --workers', () => {
  it('serves from two processes sharing one port and one embedded Redis', async () => {
    const srv = await startServer(['--workers', '2']);
    try {
      assert.match(srv.banner, /with 2 workers/);
      // /status is the server's: the primary's pid, and each worker's
      const res0 = await fetch(`http://127.0.0.1:${srv.port}/status`, { headers: { connection: 'close' } });
      const status = (await res0.json()) as { pid: number; workers: number[] };
      assert.equal(status.pid, srv.child.pid);
      assert.equal(new Set(status.workers).size, 2);
      assert.ok(!status.workers.includes(status.pid));
      const res = await fetch(`http://127.0.0.1:${srv.port}/test`);
      assert.equal(await res.text(), 'hello12345');
    } finally {
      assert.equal(await srv.stop('SIGTERM'), 0);
    }
  });
});
