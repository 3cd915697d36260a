import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';
import { startServer } from '../helpers/cli.js';
import { startGateProxy } from '../helpers/gate-proxy.js';
import { deadPort } from '../helpers/tcp-server.js';
import { scale, servingPid, settle, status, timeBudget, timedGet } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-server-'));

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

timeBudget('faults/server.test', { fast: 30_000, full: 300_000 });

describe('faults: overload, shutdown, crashes, admin exposure', () => {
  let redis: EmbeddedRedis;
  before(async () => {
    redis = await startEmbeddedRedis();
  });
  after(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('10x the concurrency budget: the excess gets 503 at once, memory stays bounded, all is well afterwards', async () => {
    const config = join(dir, 'overload.json');
    // the Redis timeouts only bound a failure: Redis's replies are held until the test releases them
    writeFileSync(
      config,
      JSON.stringify({
        scheduler: { concurrency: 20, backlog: 20 },
        test: { connectTimeout: '60s', readTimeout: '60s' },
      }),
    );
    const gate = await startGateProxy(redis.port);
    const server = await startServer(['--redis', `redis://127.0.0.1:${gate.port}`, '--config', config]);
    const base = `http://127.0.0.1:${server.port}`;
    try {
      await timedGet(`${base}/test`);
      const rssBefore = rssMb(servingPid(server.child.pid!));
      for (let round = 0; round < scale(2, 10); round++) {
        gate.hold();
        let answered = 0;
        const pending = Array.from({ length: 200 }, () =>
          timedGet(`${base}/test`, {}, 60_000).then((a) => {
            answered++;
            return a;
          }),
        );
        // 20 running + 20 waiting: the other 160 are answered while Redis holds every reply
        const refusedWhileHeld = await settle(
          () => answered,
          (n) => n >= 160,
          30_000,
        );
        const answeredWhileHeld = refusedWhileHeld.value;
        gate.release();
        const answers = await Promise.all(pending);
        const refused = answers.filter((a) => a.status === 503);
        const served = answers.filter((a) => a.status === 200);
        assert.equal(
          refused.length + served.length,
          200,
          `other statuses: ${[...new Set(answers.map((a) => a.status))].join(',')}`,
        );
        assert.ok(
          served.length <= 40 && served.length >= 20,
          `${served.length} served: the budget is 20 running + 20 waiting`,
        );
        assert.ok(
          answeredWhileHeld >= refused.length,
          `${answeredWhileHeld} answered while Redis was stalled, ${refused.length} refused: a refusal waited for Redis`,
        );
      }
      const grown = rssMb(servingPid(server.child.pid!)) - rssBefore;
      assert.ok(grown < 100, `RSS grew ${grown.toFixed(0)} MB over the overload rounds`);
      const idle = await settle(
        () => status(server.port),
        (s) => s.scheduler.live <= 1 && s.scheduler.queued === 0,
        30_000,
      );
      assert.ok(idle.ok, `left behind: ${JSON.stringify(idle.value.scheduler)}`);
      assert.equal((await timedGet(`${base}/test`)).status, 200);
    } finally {
      gate.release();
      await server.stop();
      await gate.close();
    }
  });

  it('SIGTERM under load: requests in flight finish, new connections are refused, exit 0', async () => {
    const config = join(dir, 'sigterm.json');
    // a grace longer than the test can take: on a busy machine the refusal below can take seconds to see,
    // and the requests in flight must not be cut by the grace meanwhile
    writeFileSync(
      config,
      JSON.stringify({ test: { connectTimeout: '60s', readTimeout: '60s' }, shutdown: { grace: '60s' } }),
    );
    const gate = await startGateProxy(redis.port);
    const server = await startServer(['--redis', `redis://127.0.0.1:${gate.port}`, '--config', config]);
    const port = server.port;
    try {
      gate.hold();
      const inFlight = Array.from({ length: 20 }, () =>
        timedGet(`http://127.0.0.1:${port}/test`, { connection: 'close' }, 60_000),
      );
      const running = await settle(
        () => status(port),
        (s) => s.scheduler.live >= 20,
        30_000,
      );
      assert.ok(running.ok, `the 20 requests never all ran: ${JSON.stringify(running.value.scheduler)}`);
      const exit = server.stop('SIGTERM');
      // while the 20 still wait for Redis, a new request is turned away (once the signal has been handled)
      const lateRequest = (): Promise<string> =>
        new Promise<string>((resolve) => {
          const req = httpRequest({ host: '127.0.0.1', port, path: '/status', agent: false }, (res) => {
            res.resume();
            resolve(`status ${res.statusCode}`);
          });
          req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
          req.end();
        });
      const late = await settle(lateRequest, (answer) => answer !== 'status 200', 30_000);
      assert.match(late.value, /ECONNREFUSED|ECONNRESET|status 503/, `a new request after SIGTERM: ${late.value}`);
      gate.release();
      const done = await Promise.all(inFlight);
      assert.deepEqual(
        [...new Set(done.map((d) => `${d.status} ${d.text}`))],
        ['200 hello12345'],
        'every request in flight finishes',
      );
      assert.equal(await exit, 0);
    } finally {
      gate.release();
      await gate.close();
    }
  });

  it('kill -9 between dyups changes, again and again: every acknowledged change is there after restart', async () => {
    const state = join(dir, 'crash.conf');
    const adminPort = await deadPort();
    const args = ['--redis', redis.url, '--admin-port', String(adminPort), '--state-file', state];
    const expected = new Map<string, number>();
    for (let round = 0; round < scale(3, 20); round++) {
      const server = await startServer(args);
      const admin = `http://127.0.0.1:${adminPort}`;
      await settle(
        () => timedGet(`${admin}/list`),
        (r) => r.status === 200 || r.status === 204,
        5_000,
      );
      const detail = await (await fetch(`${admin}/detail`)).text();
      for (const [name, port] of expected)
        assert.ok(detail.includes(`${name}\nserver 127.0.0.1:${port} `), `round ${round}: ${name} (port ${port}) lost`);
      // changes acknowledged right up to the kill, some still in flight when it lands
      const pending: Array<Promise<unknown>> = [];
      for (let i = 0; i < 10; i++) {
        const name = `g${(round * 7 + i) % 13}.local`;
        const port = 1000 + round * 10 + i;
        const res = await fetch(`${admin}/upstream/${name}`, { method: 'POST', body: `server 127.0.0.1:${port};` });
        if ((await res.text()) === 'success') expected.set(name, port);
      }
      pending.push(
        fetch(`${admin}/upstream/never-acknowledged.local`, { method: 'POST', body: 'server 127.0.0.1:9;' }).catch(
          () => null,
        ),
      );
      assert.equal(await server.stop('SIGKILL'), null);
      await Promise.all(pending);
    }
    const last = await startServer(args);
    try {
      const detail = await (await fetch(`http://127.0.0.1:${adminPort}/detail`)).text();
      for (const [name, port] of expected)
        assert.ok(detail.includes(`${name}\nserver 127.0.0.1:${port} `), `${name} lost after the last kill`);
    } finally {
      await last.stop();
    }
  });

  it('the admin interface refuses non-loopback clients by default and requires the token when set', async (t) => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
    const config = join(dir, 'admin.json');
    writeFileSync(config, JSON.stringify({ dyups: { adminHost: '0.0.0.0' } }));
    const adminPort = await deadPort();
    const open = await startServer(['--redis', redis.url, '--config', config, '--admin-port', String(adminPort)]);
    try {
      assert.notEqual((await timedGet(`http://127.0.0.1:${adminPort}/list`)).status, 403);
      if (external === undefined)
        t.diagnostic('no non-loopback IPv4 address on this machine: the remote-client half is not exercised');
      else assert.equal((await timedGet(`http://${external}:${adminPort}/list`)).status, 403);
    } finally {
      await open.stop();
    }
    writeFileSync(config, JSON.stringify({ dyups: { token: 's3cret' } }));
    const locked = await startServer(['--redis', redis.url, '--config', config, '--admin-port', String(adminPort)]);
    try {
      assert.equal((await timedGet(`http://127.0.0.1:${adminPort}/list`)).status, 401);
      assert.equal(
        (await timedGet(`http://127.0.0.1:${adminPort}/list`, { authorization: 'Bearer wrong!' })).status,
        401,
      );
      const ok = await timedGet(`http://127.0.0.1:${adminPort}/list`, { authorization: 'Bearer s3cret' });
      assert.ok(ok.status === 200 || ok.status === 204);
    } finally {
      await locked.stop();
    }
  });

  it('slowloris: a request head trickling in is cut at limits.headerTimeout with 408, and others are served meanwhile', async () => {
    const config = join(dir, 'slowloris.json');
    writeFileSync(config, JSON.stringify({ limits: { headerTimeout: '1s' } }));
    const server = await startServer(['--redis', redis.url, '--config', config]);
    const { connect } = await import('node:net');
    try {
      const trickles = Array.from(
        { length: scale(50, 500) },
        () =>
          new Promise<{ answer: string; ms: number }>((resolve) => {
            const started = Date.now();
            let answer = '';
            const socket = connect(server.port, '127.0.0.1', () => socket.write('GET /test HTTP/1.1\r\nHost: x\r\n'));
            const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 200);
            socket.on('data', (d: Buffer) => (answer += d.toString()));
            socket.on('error', () => {});
            socket.on('close', () => {
              clearInterval(drip);
              resolve({ answer, ms: Date.now() - started });
            });
          }),
      );
      let cut = 0;
      for (const trickle of trickles) void trickle.then(() => cut++);
      const meanwhile = await timedGet(`http://127.0.0.1:${server.port}/test`);
      assert.equal(meanwhile.status, 200);
      assert.ok(cut < trickles.length, 'the normal request was answered only after every slow head had been cut');
      for (const t of await Promise.all(trickles)) {
        assert.match(t.answer, /^HTTP\/1\.1 408/);
        // cut by headerTimeout (1 s), not by Node's own 60 s headers timeout
        assert.ok(t.ms >= 950 && t.ms < 30_000, `a trickling head was cut after ${t.ms} ms (limit 1 s)`);
      }
    } finally {
      await server.stop();
    }
  });
});
