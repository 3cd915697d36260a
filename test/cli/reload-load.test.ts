import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { exitCodeOf, outputLines, runCli, startServer } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { deadPort } from '../helpers/tcp-server.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-reload-'));

interface Status {
  /** the server's: the primary's */
  pid: number;
  /** the workers that answer it */
  workers: number[];
  scheduler: { limits: { concurrency: number } };
}

/** GET over `agent`: the status code and body, or the error's code. */
function request(
  port: number,
  path: string,
  agent: Agent,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function status(port: number): Promise<Status> {
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status;
}

/** Clients firing requests back to back until stopped, counting answers, non-2xx and failures. */
function load(port: number, path: string, agent: Agent, clients: number, headers: Record<string, string> = {}) {
  let running = true;
  const counts = { ok: 0, non2xx: [] as number[], failed: [] as string[] };
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const { status: code } = await request(port, path, agent, headers);
        if (code >= 200 && code < 300) counts.ok++;
        else counts.non2xx.push(code);
      } catch (err) {
        counts.failed.push(`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
      }
    }
  });
  return {
    counts,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return counts;
    },
  };
}

describe('cosocket reload under load', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces the workers 10 times under load, app and proxy, with and without keepalive: 0 failed, 0 non-2xx', async () => {
    const config = join(dir, 'load.json');
    const pidFile = join(dir, 'load.pid');
    const write = (concurrency: number): void =>
      writeFileSync(config, JSON.stringify({ scheduler: { concurrency }, pid: pidFile }));
    write(1000);
    const upstream = createServer((_req, res) => res.end('from upstream'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const server = await startServer([
      '--config',
      config,
      '--admin-port',
      String(adminPort),
      '--proxy-port',
      String(proxyPort),
    ]);
    try {
      const added = await fetch(`http://127.0.0.1:${adminPort}/upstream/app.local`, {
        method: 'POST',
        body: `server 127.0.0.1:${(upstream.address() as AddressInfo).port};`,
      });
      assert.equal(await added.text(), 'success');
      assert.equal(readFileSync(pidFile, 'utf8').trim(), String(server.child.pid));
      const firstWorker = (await status(server.port)).workers.join(',');
      assert.ok(!firstWorker.split(',').includes(String(server.child.pid)), 'a worker answers, under the primary');
      const keepAlive = load(server.port, '/test', new Agent({ keepAlive: true, maxSockets: 4 }), 4);
      const fresh = load(server.port, '/status', new Agent({ keepAlive: false }), 2);
      const proxied = load(proxyPort, '/', new Agent({ keepAlive: true, maxSockets: 2 }), 2, { host: 'app.local' });
      for (let i = 1; i <= 10; i++) {
        write(1000 + i);
        const before = keepAlive.counts.ok + fresh.counts.ok + proxied.counts.ok;
        // the command once (its own tests are below), then the signal it sends
        if (i === 1) {
          const sent = await runCli(['reload', '--pid', pidFile]);
          assert.equal(sent.code, 0, sent.stderr);
        } else server.child.kill('SIGHUP');
        assert.ok(
          await waitFor(() => outputLines(server, /^cosocket reloaded: /) === i, 20_000),
          `reload ${i} did not finish:\n${server.output()}`,
        );
        // the load ran across this reload
        assert.ok(await waitFor(() => keepAlive.counts.ok + fresh.counts.ok + proxied.counts.ok > before, 20_000));
      }
      assert.ok(
        await waitFor(async () => (await status(server.port)).scheduler.limits.concurrency === 1010, 20_000),
        'the last configuration does not serve',
      );
      const kept = await keepAlive.stop();
      const single = await fresh.stop();
      const viaProxy = await proxied.stop();
      assert.deepEqual(viaProxy.failed, []);
      assert.deepEqual(viaProxy.non2xx, []);
      assert.ok(viaProxy.ok > 0);
      assert.deepEqual(kept.failed, []);
      assert.deepEqual(kept.non2xx, []);
      assert.deepEqual(single.failed, []);
      assert.deepEqual(single.non2xx, []);
      assert.notEqual((await status(server.port)).workers.join(','), firstWorker);
      assert.doesNotMatch(server.output(), /reload failed|exited \(/);
      const quit = await runCli(['quit', '--pid', pidFile]);
      assert.equal(quit.code, 0, quit.stderr);
      assert.equal(await exitCodeOf(server), 0);
      assert.equal(existsSync(pidFile), false, 'the pid file is removed on exit');
    } finally {
      if (server.child.exitCode === null) await server.stop();
      upstream.close();
    }
  });
});
