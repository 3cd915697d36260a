import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { has, parsePrometheus, valueOf } from '../helpers/prom-text.js';
import type { Scrape } from '../helpers/prom-text.js';
import { deadPort } from '../helpers/tcp-server.js';

const BODY = Buffer.alloc(1000, 'x');

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (so, with --workers, requests spread over the workers). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function scrape(port: number, path = '/metrics'): Promise<Scrape> {
  const answer = await get(port, path);
  assert.equal(answer.status, 200, answer.body);
  assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(answer.body);
}

async function startUpstream(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.setHeader('content-length', BODY.length);
    res.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

async function addGroup(adminPort: number, name: string, servers: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}`, { method: 'POST', body: servers });
  assert.equal(res.status, 200, await res.text());
}

for (const workers of [1, 2]) {
  describe(`GET /metrics from cosocket serve${workers > 1 ? ' --workers 2' : ''}`, () => {
    let upstream: { server: Server; port: number };
    let server: RunningServer;
    let adminPort: number;
    let proxyPort: number;
    let root: string;

    before(async () => {
      upstream = await startUpstream();
      root = mkdtempSync(join(tmpdir(), 'cosocket-metrics-'));
      adminPort = await deadPort();
      proxyPort = await deadPort();
      server = await startServer([
        ...(workers > 1 ? ['--workers', String(workers)] : []),
        '--admin-port',
        String(adminPort),
        '--proxy-port',
        String(proxyPort),
        '--send-root',
        root,
      ]);
      await addGroup(adminPort, 'live', `server 127.0.0.1:${upstream.port};`);
      await addGroup(adminPort, 'dead', `server 127.0.0.1:${await deadPort()};`);
    });

    after(async () => {
      await server?.stop();
      upstream?.server.close();
      rmSync(root, { recursive: true, force: true });
    });

    it('counts requests by route and status, with latency histograms, summed over the workers', async () => {
      const before = await scrape(adminPort);
      for (let i = 0; i < 10; i++) assert.equal((await get(server.port, '/test')).status, 200);
      for (let i = 0; i < 3; i++) assert.equal((await get(server.port, '/nothing-here')).status, 404);
      const now = await scrape(adminPort);
      const delta = (name: string, labels: Record<string, string>): number =>
        valueOf(now, name, labels) - valueOf(before, name, labels);
      assert.equal(delta('cosocket_http_requests_total', { route: '/test', method: 'GET', status: '200' }), 10);
      assert.equal(delta('cosocket_http_requests_total', { route: '(no route)', method: 'GET', status: '404' }), 3);
      assert.equal(delta('cosocket_http_request_duration_seconds_count', { route: '/test', method: 'GET' }), 10);
      assert.equal(
        delta('cosocket_http_request_duration_seconds_bucket', { route: '/test', method: 'GET', le: '+Inf' }),
        10,
      );
      assert.ok(delta('cosocket_http_request_duration_seconds_sum', { route: '/test' }) > 0);
      assert.equal(now.types.get('cosocket_http_requests_total'), 'counter');
      assert.equal(now.types.get('cosocket_http_request_duration_seconds'), 'histogram');
      assert.ok(delta('cosocket_scheduler_started_total', { scheduler: 'http' }) >= 10);
      assert.ok(delta('cosocket_scheduler_completed_total', { scheduler: 'http' }) >= 10);
      for (const name of ['live', 'queued'])
        assert.ok(has(now, `cosocket_scheduler_${name}`, { scheduler: 'http' }), name);
      for (const name of ['rejected', 'cancelled', 'timed_out'])
        assert.ok(has(now, `cosocket_scheduler_${name}_total`, { scheduler: 'http' }), name);
      // the Redis pool of /test: one per worker at least, the others reused
      const redisPool = now.samples.find((s) => s.name === 'cosocket_pool_connections_created_total')!.labels;
      assert.equal(redisPool.kind, 'redis');
      const created = valueOf(now, 'cosocket_pool_connections_created_total', redisPool);
      const reused = valueOf(now, 'cosocket_pool_connections_reused_total', redisPool);
      assert.ok(created >= 1 && created <= workers, `created ${created}`);
      assert.equal(
        delta('cosocket_pool_connections_reused_total', redisPool) +
          delta('cosocket_pool_connections_created_total', redisPool),
        10,
      );
      assert.ok(reused >= 10 - workers);
      for (const name of ['open', 'idle', 'in_use'])
        assert.ok(has(now, `cosocket_pool_${name}_connections`, redisPool), name);
      assert.ok(has(now, 'cosocket_pool_waiting_requests', redisPool));
    });

    it('counts the proxy: per-server tries and failures, health, bytes proxied', async () => {
      const before = await scrape(adminPort);
      for (let i = 0; i < 4; i++) {
        const answer = await get(proxyPort, '/x', { host: 'live' });
        assert.equal(answer.status, 200);
        assert.equal(answer.body.length, BODY.length);
      }
      for (let i = 0; i < 3; i++) assert.equal((await get(proxyPort, '/x', { host: 'dead' })).status, 502);
      const now = await scrape(adminPort);
      const delta = (name: string, labels: Record<string, string>): number =>
        valueOf(now, name, labels) - valueOf(before, name, labels);
      const live = { group: 'live', server: `127.0.0.1:${upstream.port}` };
      assert.equal(delta('cosocket_proxy_requests_total', { group: 'live', status: '200' }), 4);
      assert.equal(delta('cosocket_proxy_requests_total', { group: 'dead', status: '502' }), 3);
      assert.equal(delta('cosocket_proxy_response_bytes_total', { group: 'live' }), 4 * BODY.length);
      assert.equal(delta('cosocket_proxy_request_duration_seconds_count', { group: 'live' }), 4);
      assert.equal(delta('cosocket_upstream_requests_total', live), 4);
      assert.equal(delta('cosocket_upstream_failures_total', live), 0);
      assert.equal(delta('cosocket_upstream_requests_total', { group: 'dead' }), 3);
      assert.equal(delta('cosocket_upstream_failures_total', { group: 'dead' }), 3);
      assert.equal(valueOf(now, 'cosocket_upstream_up', live), 1);
      assert.equal(valueOf(now, 'cosocket_upstream_active_requests', live), 0);
      assert.equal(now.types.get('cosocket_upstream_up'), 'gauge');
      assert.ok(has(now, 'cosocket_pool_connections_created_total', { kind: 'tcp', pool: `dyups:${live.server}` }));
    });

    it('shows a server that failed as down (min over the workers), the others up', async () => {
      const dead = `127.0.0.1:${await deadPort()}`;
      await addGroup(adminPort, 'pair', `server ${dead}; server 127.0.0.1:${upstream.port};`);
      let scraped = await scrape(adminPort);
      assert.equal(valueOf(scraped, 'cosocket_upstream_up', { group: 'pair', server: dead }), 1);
      // round robin reaches the dead server within a few requests; it fails over to the live one
      for (let i = 0; i < 4 * workers; i++) assert.equal((await get(proxyPort, '/', { host: 'pair' })).status, 200);
      scraped = await scrape(adminPort);
      assert.ok(valueOf(scraped, 'cosocket_upstream_failures_total', { group: 'pair', server: dead }) >= 1);
      assert.equal(valueOf(scraped, 'cosocket_upstream_up', { group: 'pair', server: dead }), 0);
      assert.equal(
        valueOf(scraped, 'cosocket_upstream_up', { group: 'pair', server: `127.0.0.1:${upstream.port}` }),
        1,
      );
    });

    it('counts the followers of a growing file while they follow it', async () => {
      writeFileSync(join(root, 'grow.log.tmp'), 'first line\n');
      const following = get(server.port, '/send/grow.log');
      const seen = await waitFor(
        async () => valueOf(await scrape(adminPort), 'cosocket_sendfile_followers') === 1,
        10_000,
      );
      assert.ok(seen, 'the follower is never counted');
      assert.equal(valueOf(await scrape(adminPort), 'cosocket_sendfile_followed_files'), 1);
      renameSync(join(root, 'grow.log.tmp'), join(root, 'grow.log'));
      assert.equal((await following).body, 'first line\n');
      assert.ok(
        await waitFor(async () => valueOf(await scrape(adminPort), 'cosocket_sendfile_followers') === 0, 10_000),
      );
    });

    it('/status answers for the whole server: one pid, each worker listed, counts summed', async () => {
      const first = (await (await fetch(`http://127.0.0.1:${server.port}/status`)).json()) as {
        pid: number;
        workers: number[];
        routes: Array<{ route: string; requests: number }>;
        pools: Array<{ name: string }>;
      };
      const beforeCount = first.routes.find((r) => r.route === 'GET /test')?.requests ?? 0;
      for (let i = 0; i < 6; i++) await get(server.port, '/test');
      const pids = new Set<number>();
      let last = first;
      for (let i = 0; i < 4; i++) {
        last = (await (
          await fetch(`http://127.0.0.1:${server.port}/status`, { headers: { connection: 'close' } })
        ).json()) as typeof first;
        pids.add(last.pid);
        assert.equal(last.workers.length, workers);
      }
      assert.deepEqual([...pids], [server.child.pid], "the pid is the server's, whichever worker answered");
      assert.equal(last.routes.find((r) => r.route === 'GET /test')!.requests - beforeCount, 6);
      // the app listener sums upstream pools; the admin listener names them
      assert.ok(!JSON.stringify(last).includes(String(upstream.port)), 'the app /status names an upstream address');
      const admin = (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as typeof first;
      assert.ok(admin.pools.some((p) => p.name === `dyups:127.0.0.1:${upstream.port}`));
      assert.equal(admin.workers.length, workers);
    });

    it('refuses a foreign Host or Origin on the admin /metrics, and has no /metrics on the app listener', async () => {
      assert.equal((await get(adminPort, '/metrics', { host: 'evil.example' })).status, 421);
      assert.equal((await get(adminPort, '/metrics', { origin: 'http://evil.example' })).status, 403);
      assert.equal((await get(server.port, '/metrics')).status, 404);
      const snapshot = (await (await fetch(`http://127.0.0.1:${adminPort}/snapshot`)).json()) as {
        status: { workers: number[] };
        metrics: Array<{ name: string; type: string }>;
      };
      assert.equal(snapshot.status.workers.length, workers);
      assert.ok(snapshot.metrics.some((m) => m.name === 'cosocket_http_requests_total' && m.type === 'counter'));
    });
  });
}

describe('metrics.expose: app', () => {
  it('serves /metrics on the app listener to loopback clients naming it, without an admin listener', async () => {
    const server = await startServer(['--metrics', 'app']);
    try {
      await get(server.port, '/test');
      const scraped = await scrape(server.port);
      assert.equal(valueOf(scraped, 'cosocket_http_requests_total', { route: '/test', status: '200' }), 1);
      assert.equal((await get(server.port, '/metrics', { host: 'evil.example' })).status, 421);
      assert.equal((await get(server.port, '/metrics', { origin: 'http://evil.example' })).status, 403);
    } finally {
      await server.stop();
    }
  });
});
