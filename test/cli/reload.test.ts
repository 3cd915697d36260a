import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, get } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { exitCodeOf, outputLines, runCli, startServer } from '../helpers/cli.js';
import { canConnect, waitFor } from '../helpers/net.js';
import { startGateProxy } from '../helpers/gate-proxy.js';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { deadPort } from '../helpers/tcp-server.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-reload-'));

interface Status {
  /** the server's: the primary's */
  pid: number;
  /** the workers that answer it */
  workers: number[];
  scheduler: { live: number; limits: { concurrency: number } };
}

async function status(port: number): Promise<Status> {
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status;
}

describe('cosocket reload', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps serving the previous configuration on a bad one and logs the key', async () => {
    const config = join(dir, 'bad.json');
    writeFileSync(config, JSON.stringify({ scheduler: { concurrency: 77 } }));
    const server = await startServer(['--config', config]);
    try {
      const worker = (await status(server.port)).workers.join(',');
      writeFileSync(config, JSON.stringify({ scheduler: { concurrency: 78, queueTimeout: 'soon' } }));
      server.child.kill('SIGHUP');
      assert.ok(await waitFor(() => /reload failed/.test(server.output()), 20_000));
      assert.match(
        server.output(),
        /cosocket: reload failed, the previous configuration still serves: config file .*bad\.json: 'scheduler\.queueTimeout' must be/,
      );
      const after = await status(server.port);
      assert.equal(after.workers.join(','), worker);
      assert.equal(after.scheduler.limits.concurrency, 77);
      // a setting the primary holds cannot change on reload
      writeFileSync(config, JSON.stringify({ dyups: { adminPort: await deadPort() } }));
      server.child.kill('SIGHUP');
      assert.ok(await waitFor(() => /'dyups\.adminPort' cannot change on reload/.test(server.output()), 20_000));
      assert.equal((await status(server.port)).workers.join(','), worker);
      // and a good one then reloads
      writeFileSync(config, JSON.stringify({ scheduler: { concurrency: 79 } }));
      server.child.kill('SIGHUP');
      assert.ok(
        await waitFor(async () => (await status(server.port)).scheduler.limits.concurrency === 79, 20_000),
        server.output(),
      );
    } finally {
      await server.stop();
    }
  });

  it('keeps the dyups table across a reload: a group added over the admin API still answers', async () => {
    const upstream = createServer((_req, res) => res.end('from upstream'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const server = await startServer(['--admin-port', String(adminPort), '--proxy-port', String(proxyPort)]);
    try {
      const added = await fetch(`http://127.0.0.1:${adminPort}/upstream/app.local`, {
        method: 'POST',
        body: `server 127.0.0.1:${upstreamPort};`,
      });
      assert.equal(await added.text(), 'success');
      const viaProxy = (): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          get(
            { host: '127.0.0.1', port: proxyPort, path: '/', headers: { host: 'app.local' }, agent: false },
            (res) => {
              let body = '';
              res.on('data', (d: Buffer) => (body += d.toString()));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            },
          ).on('error', reject);
        });
      assert.deepEqual(await viaProxy(), { status: 200, body: 'from upstream' });
      const worker = (await status(server.port)).workers.join(',');
      server.child.kill('SIGHUP');
      assert.ok(await waitFor(() => outputLines(server, /^cosocket reloaded: /) === 1, 20_000), server.output());
      assert.ok(await waitFor(async () => (await status(server.port)).workers.join(',') !== worker, 20_000));
      assert.deepEqual(await viaProxy(), { status: 200, body: 'from upstream' });
      assert.match(await (await fetch(`http://127.0.0.1:${adminPort}/upstream/app.local`)).text(), /127\.0\.0\.1:/);
    } finally {
      await server.stop();
      upstream.close();
    }
  });

  it('reload/stop/quit/reopen: --pid or -c, clear errors for a missing or stale pid file', async () => {
    const pidFile = join(dir, 'cmd.pid');
    const missing = await runCli(['reload', '--pid', pidFile]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^cosocket: pid file .*cmd\.pid: does not exist/);
    const none = await runCli(['stop']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give --pid FILE or -c CONFIG/);
    // a stale file (a process that is gone) is named as such, and overwritten by a start
    writeFileSync(pidFile, '999999999\n');
    const stale = await runCli(['quit', '--pid', pidFile]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /names process 999999999, which is not running \(a stale pid file\)/);
    const config = join(dir, 'cmd.json');
    writeFileSync(config, JSON.stringify({ pid: pidFile }));
    const server = await startServer(['--config', config]);
    try {
      assert.equal(readFileSync(pidFile, 'utf8').trim(), String(server.child.pid));
      // a second server on the same pid file refuses to start
      const second = await runCli(['serve', '--port', '0', '--pid', pidFile, '--redis', 'redis://127.0.0.1:1']);
      assert.equal(second.code, 2);
      assert.match(second.stderr, /pid file .*cmd\.pid: names process \d+, a cosocket server that is running/);
      assert.equal(readFileSync(pidFile, 'utf8').trim(), String(server.child.pid));
      // reopen (SIGUSR2) does not stop the server
      assert.equal((await runCli(['reopen', '-c', config])).code, 0);
      assert.equal((await runCli(['reload', '-c', config])).code, 0);
      assert.ok(await waitFor(() => outputLines(server, /^cosocket reloaded: /) === 1, 20_000), server.output());
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/status`)).status, 200);
      const stop = await runCli(['stop', '-c', config]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(await exitCodeOf(server), 0);
      assert.equal(existsSync(pidFile), false);
    } finally {
      if (server.child.exitCode === null) await server.stop();
    }
  });
  it('quit: new connections refused, requests in flight answered (Connection: close), exit 0', async () => {
    const redis = await startEmbeddedRedis();
    const gate = await startGateProxy(Number(new URL(redis.url).port));
    const pidFile = join(dir, 'quit.pid');
    const server = await startServer(['--redis', `redis://127.0.0.1:${gate.port}`, '--pid', pidFile]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const held = (a: Agent | false): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> =>
      new Promise((resolve, reject) => {
        get({ host: '127.0.0.1', port: server.port, path: '/test/keepalive', agent: a }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        }).on('error', reject);
      });
    try {
      assert.equal((await held(agent)).status, 200); // the kept-alive connection exists
      gate.hold();
      const inFlight = [held(agent), held(false), held(false)];
      assert.ok(await waitFor(async () => (await status(server.port)).scheduler.live >= 3, 20_000));
      assert.equal((await runCli(['quit', '--pid', pidFile])).code, 0);
      assert.ok(await waitFor(async () => !(await canConnect(server.port)), 20_000), 'still accepting');
      gate.release();
      const answers = await Promise.all(inFlight);
      assert.deepEqual(
        answers.map((a) => `${a.status} ${a.body}`),
        ['200 hello12345', '200 hello12345', '200 hello12345'],
      );
      assert.equal(answers[0]!.headers.connection, 'close');
      assert.equal(await exitCodeOf(server), 0);
      assert.equal(existsSync(pidFile), false);
    } finally {
      gate.release();
      agent.destroy();
      if (server.child.exitCode === null) await server.stop();
      await gate.close();
      await redis.stop();
    }
  });
});
