import assert from 'node:assert/strict';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools, redis, sleep } from '../../src/index.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { defineBalancer, undefineBalancer } from '../../src/dyups/balancer-registry.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import type { FrontServer } from '../../src/dyups/front/index.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/net.js';
import { deadPort } from '../helpers/tcp-server.js';

/** A loopback upstream that answers its label after `delay` ms; `/hold` waits until released. */
interface Upstream {
  label: string;
  port: number;
  address: string;
  delay: number;
  seen: number;
  held: ServerResponse[];
  server: Server;
}

const upstreams: Upstream[] = [];
let proxy: FrontServer;
let proxyPort = 0;
const table = new UpstreamTable({ stateFile: null });
const balancers = new Balancers();
table.onChange((name, group) => balancers.set(group, name));
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const logged: string[] = [];

interface Reply {
  status: number;
  text: string;
  setCookie: string[];
}

function send(host: string, headers: Record<string, string> = {}, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: proxyPort, path, headers: { host, ...headers }, agent },
      (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, setCookie: res.headers['set-cookie'] ?? [] }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** How many of `count` sequential requests each upstream answered, by label. */
async function spread(host: string, count: number, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const reply = await send(host, headers);
    assert.equal(reply.status, 200, reply.text);
    out.set(reply.text, (out.get(reply.text) ?? 0) + 1);
  }
  return out;
}

const [A, B, C] = [0, 1, 2];
const addr = (i: number): string => upstreams[i]!.address;

describe('dyups balancing beyond round robin (real upstreams on loopback)', () => {
  before(async () => {
    for (const label of ['a', 'b', 'c']) {
      const up: Upstream = { label, port: 0, address: '', delay: 0, seen: 0, held: [], server: null! };
      up.server = createServer((req, res) => {
        up.seen++;
        if (req.url === '/hold') return void up.held.push(res);
        if (up.delay === 0) res.end(label);
        else setTimeout(() => res.end(label), up.delay);
      });
      await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', resolve));
      up.port = (up.server.address() as { port: number }).port;
      up.address = `127.0.0.1:${up.port}`;
      upstreams.push(up);
    }
    proxy = buildProxyServer(table, balancers, {
      scheduler: new Scheduler({ name: 'balancing proxy' }),
      connectTimeout: 500,
      readTimeout: 5_000,
      bodyLimit: 1024 * 1024,
      errorLog: (line) => logged.push(line),
    });
    await proxy.listen({ host: '127.0.0.1', port: 0 });
    proxyPort = (proxy.address() as { port: number }).port;
  });
  after(async () => {
    agent.destroy();
    await proxy.close();
    await pools.drain(500);
    for (const up of upstreams) {
      for (const res of up.held) res.end();
      up.server.closeAllConnections();
      await new Promise<void>((resolve) => up.server.close(() => resolve()));
    }
  });

  it('random two least_conn spreads 2,000 requests within 5% of the weights and avoids a busy server', async () => {
    const body = (bDown: boolean): string =>
      `random two least_conn; server ${addr(A)} weight=3; server ${addr(B)}${bDown ? ' down' : ''};`;
    assert.equal(table.update('two.local', body(false)).message, 'success');
    const counts = await spread('two.local', 2_000);
    const a = counts.get('a') ?? 0;
    assert.ok(Math.abs(a - 1_500) <= 75, `a got ${a} of 2,000 (weight 3 of 4: 1,500 ± 5%)`);
    assert.equal(a + (counts.get('b') ?? 0), 2_000);

    // a holds three slow requests (b down meanwhile, so they all go to a); then b is back
    assert.equal(table.update('two.local', body(true)).message, 'success');
    const slow = [0, 1, 2].map(() => send('two.local', {}, '/hold'));
    assert.ok(await waitFor(() => upstreams[A]!.held.length === 3, 5_000));
    assert.equal(table.update('two.local', body(false)).message, 'success');
    const busy = await spread('two.local', 100);
    assert.equal(busy.get('b'), 100, `a holds 3 requests, b none: ${JSON.stringify([...busy])}`);
    for (const res of upstreams[A]!.held.splice(0)) res.end('a');
    await Promise.all(slow);
  });

  for (const method of ['least_time header decay=300ms', 'ewma decay=300ms']) {
    it(`${method.split(' decay')[0]} sends most requests to the faster server and shifts back when the slow one speeds up`, async () => {
      upstreams[A]!.delay = 1;
      upstreams[B]!.delay = 50;
      const name = `${method.split(' ')[0]}.local`;
      assert.equal(table.update(name, `${method}; server ${addr(A)}; server ${addr(B)};`).message, 'success');
      const first = await spread(name, 200);
      assert.ok((first.get('a') ?? 0) >= 160, `a (1 ms) got ${first.get('a')} of 200`);
      upstreams[A]!.delay = 50;
      upstreams[B]!.delay = 1;
      await spread(name, 100); // a is found slow, b is tried again as its average fades
      const later = await spread(name, 200);
      assert.ok((later.get('b') ?? 0) >= 160, `b (now 1 ms) got ${later.get('b')} of 200`);
      const health = balancers.health(name);
      assert.ok(health.get(addr(A))!.headerTime! > health.get(addr(B))!.headerTime!, 'the averages show it');
      upstreams[A]!.delay = 0;
      upstreams[B]!.delay = 0;
    });
  }

  it('sticky cookie sets the cookie, keeps 20 of 20 requests on its server, and moves them when it goes down', async () => {
    assert.equal(
      table.update(
        'sticky.local',
        `sticky cookie srv_id expires=1h path=/ httponly; server ${addr(A)}; server ${addr(B)};`,
      ).message,
      'success',
    );
    const first = await send('sticky.local');
    assert.equal(first.setCookie.length, 1);
    assert.match(first.setCookie[0]!, /^srv_id=[0-9a-f]{32}; Expires=.+; Max-Age=3600; Path=\/; HttpOnly$/);
    const cookie = first.setCookie[0]!.split(';')[0]!;
    const kept = await spread('sticky.local', 20, { cookie: `other=1; ${cookie}` });
    assert.deepEqual([...kept], [[first.text, 20]]);
    const again = await send('sticky.local', { cookie });
    assert.deepEqual(again.setCookie, [], 'no new cookie while the server is the same');

    const stuck = first.text === 'a' ? A : B;
    assert.equal(table.patchServer('sticky.local', addr(stuck), { down: true }).message, 'success');
    const moved = await send('sticky.local', { cookie });
    assert.notEqual(moved.text, first.text);
    assert.equal(moved.setCookie.length, 1, 'the client is told its new server');
    assert.notEqual(moved.setCookie[0]!.split(';')[0], cookie);
  });

  it('sticky route sends a request to the server whose route= its variable names', async () => {
    assert.equal(
      table.update(
        'route.local',
        `sticky route $cookie_route $arg_route; server ${addr(A)} route=x; server ${addr(B)} route=y;`,
      ).message,
      'success',
    );
    assert.deepEqual([...(await spread('route.local', 10, { cookie: 'route=y' }))], [['b', 10]]);
    const byArg = await send('route.local', {}, '/?route=x');
    assert.equal(byArg.text, 'a');
  });

  it('split sends every matched request and 10% ± 3% of 2,000 others to the canary group', async () => {
    assert.equal(table.update('canary.local', `server ${addr(C)};`).message, 'success');
    assert.equal(
      table.update(
        'main.local',
        `split $http_x_canary=1 -> canary.local; split 10% -> canary.local; server ${addr(A)};`,
      ).message,
      'success',
    );
    assert.deepEqual([...(await spread('main.local', 100, { 'x-canary': '1' }))], [['c', 100]]);
    const others = await spread('main.local', 2_000);
    const canary = others.get('c') ?? 0;
    assert.ok(Math.abs(canary - 200) <= 60, `the canary got ${canary} of 2,000`);
  });

  describe('coroutine balancers', () => {
    let red: TestRedis;
    before(async () => {
      red = await startTestRedis();
    });
    after(async () => {
      undefineBalancer('by-user');
      undefineBalancer('slowpoke');
      undefineBalancer('waits');
      await red.stop().catch(() => {});
    });

    it('routes by a map read from Redis, falls back on its timeout and on a Redis outage', async () => {
      const url = red.url;
      defineBalancer('by-user', function* (ctx) {
        const conn = yield* redis.connect({ url, mode: 'keepalive' });
        const address = yield* conn.get(`route:${String(ctx.request.headers['x-user'])}`);
        conn.setkeepalive();
        return address;
      });
      await red.admin.set('route:alice', addr(B));
      await red.admin.set('route:bob', addr(C));
      assert.equal(
        table.update(
          'users.local',
          `balancer by-user; balancer_timeout 2s; server ${addr(A)}; server ${addr(B)}; server ${addr(C)};`,
        ).message,
        'success',
      );
      assert.deepEqual([...(await spread('users.local', 20, { 'x-user': 'alice' }))], [['b', 20]]);
      assert.deepEqual([...(await spread('users.local', 20, { 'x-user': 'bob' }))], [['c', 20]]);
      // no mapping: null, the built-in round robin decides (not a fallback)
      assert.equal((await spread('users.local', 30, { 'x-user': 'carol' })).size, 3);
      assert.equal(balancers.get('users.local')!.coroutineFallbacks, 0);

      defineBalancer('slowpoke', function* () {
        yield* sleep(300);
        return addr(C);
      });
      assert.equal(
        table.update('slow.local', `balancer slowpoke; balancer_timeout 20ms; server ${addr(A)}; server ${addr(B)};`)
          .message,
        'success',
      );
      const timedOut = await spread('slow.local', 4);
      assert.equal(timedOut.get('c'), undefined, 'its late answer is never taken');
      assert.equal(balancers.get('slow.local')!.coroutineFallbacks, 4);
      assert.ok(logged.some((line) => /balancer 'slowpoke' took longer than balancer_timeout 20ms/.test(line)));
      assert.equal(balancers.health('slow.local').get(addr(A))!.balancerFallbacks, 4);

      red.admin.disconnect();
      await red.server.stop();
      const outage = await spread('users.local', 6, { 'x-user': 'alice' });
      assert.equal(
        [...outage.values()].reduce((sum, n) => sum + n, 0),
        6,
        'every request answered',
      );
      assert.ok(balancers.get('users.local')!.coroutineFallbacks >= 1);
      assert.ok(logged.some((line) => /balancer 'by-user' failed/.test(line)));
    });

    it('is cancelled with the client, and never sends the request on', async () => {
      let finished = '';
      defineBalancer('waits', function* () {
        try {
          yield* sleep(5_000);
          return addr(A);
        } finally {
          finished = 'unwound';
        }
      });
      assert.equal(
        table.update('waits.local', `balancer waits; balancer_timeout 10s; server ${addr(A)};`).message,
        'success',
      );
      const before = upstreams[A]!.seen;
      const req = httpRequest({ host: '127.0.0.1', port: proxyPort, path: '/', headers: { host: 'waits.local' } });
      req.on('error', () => {});
      req.end();
      await new Promise((r) => setTimeout(r, 150));
      req.destroy();
      assert.ok(await waitFor(() => finished === 'unwound', 5_000), 'the balancer was cancelled');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(upstreams[A]!.seen, before, 'the upstream never got it');
    });

    it('runs again for each retry, seeing what was tried', async () => {
      const dead = await deadPort();
      const seen: string[][] = [];
      defineBalancer('first-dead', function* (ctx) {
        seen.push([...ctx.tried]);
        return ctx.tried.length === 0
          ? `127.0.0.1:${dead}`
          : ctx.peers.find((p) => p.available && p.address !== `127.0.0.1:${dead}`)!;
      });
      assert.equal(
        table.update('retry.local', `balancer first-dead; server 127.0.0.1:${dead}; server ${addr(B)};`).message,
        'success',
      );
      const reply = await send('retry.local');
      assert.equal(reply.text, 'b');
      assert.deepEqual(seen, [[], [`127.0.0.1:${dead}`]]);
      // the dead server is now failed (max_fails=1): a pick of it is not taken, the built-in balancer decides
      seen.length = 0;
      assert.equal((await send('retry.local')).text, 'b');
      assert.deepEqual(seen, [[]]);
      assert.equal(balancers.get('retry.local')!.coroutineFallbacks, 1);
      undefineBalancer('first-dead');
    });

    it('refuses a group naming an unknown balancer with a 400 naming it', () => {
      const result = table.update('nope.local', `balancer nosuch; server ${addr(A)};`);
      assert.equal(result.status, 400);
      assert.match(result.message, /unknown balancer 'nosuch'/);
      assert.equal(table.get('nope.local'), undefined);
    });
  });
});
