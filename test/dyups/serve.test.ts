import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, startServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import { waitFor } from '../helpers/net.js';
import { startTestRedis } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-dyups-serve-'));

describe('cosocket serve with dyups', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged change across kill -9 and restart', async () => {
    const state = join(dir, 'state.conf');
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const args = ['--admin-port', String(adminPort), '--proxy-port', String(proxyPort), '--state-file', state];
    const first = await startServer(args);
    const admin = `http://127.0.0.1:${adminPort}`;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${admin}/upstream/g${i}.local`, {
        method: 'POST',
        body: `server 127.0.0.1:${1000 + i} weight=${(i % 5) + 1};`,
      });
      assert.equal(await res.text(), 'success');
      if (i % 4 === 3)
        assert.equal(await (await fetch(`${admin}/upstream/g${i - 1}.local`, { method: 'DELETE' })).text(), 'success');
    }
    const acknowledged = await (await fetch(`${admin}/detail`)).text();
    assert.equal(await first.stop('SIGKILL'), null);
    const second = await startServer(args);
    try {
      // the dyups banner is written just after the "listening" line the helper waits for
      for (let i = 0; i < 100 && !/upstream group\(s\)/.test(second.output()); i++)
        await new Promise((r) => setTimeout(r, 20));
      assert.match(second.output(), /15 upstream group\(s\) from/);
      assert.equal(await (await fetch(`${admin}/detail`)).text(), acknowledged);
    } finally {
      await second.stop();
    }
  });

  it('refuses to start on a state file that does not parse, naming file, line and reason, and keeps the file', async () => {
    const state = join(dir, 'bad.conf');
    const text =
      'upstream ok {\n    server 127.0.0.1:1;\n}\nupstream broken {\n    server 127.0.0.1:1 weight=heavy;\n}\n';
    writeFileSync(state, text);
    const result = await runCli([
      'serve',
      '--port',
      '0',
      '--proxy-port',
      String(await deadPort()),
      '--state-file',
      state,
      '--redis',
      'redis://127.0.0.1:1',
    ]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      new RegExp(
        `state file ${state.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, line 5: upstream 'broken': expected a whole number .* at 'heavy'`,
      ),
    );
    assert.equal(readFileSync(state, 'utf8'), text);
  });

  it('two servers with --dyups-sync redis (their shared --redis) share their upstreams; an unreachable sync Redis stops the start', async () => {
    const redis = await startTestRedis();
    const ports = await Promise.all([deadPort(), deadPort()]);
    const servers = await Promise.all(
      ports.map((port) => startServer(['--admin-port', String(port), '--redis', redis.url, '--dyups-sync', 'redis'])),
    );
    try {
      const res = await fetch(`http://127.0.0.1:${ports[0]}/upstream/app.local`, {
        method: 'POST',
        body: 'server 127.0.0.1:8081;',
      });
      assert.equal(await res.text(), 'success');
      const seen = await waitFor(
        async () =>
          (await (await fetch(`http://127.0.0.1:${ports[1]}/upstream/app.local`)).text()) === 'server 127.0.0.1:8081\n',
        5_000,
      );
      assert.ok(seen, 'the second server never saw the change made on the first');
      assert.match(servers[0]!.output(), /synced through redis:\/\/127\.0\.0\.1/);
    } finally {
      for (const server of servers) await server.stop();
      await redis.stop();
    }
    const refused = await runCli([
      'serve',
      '--port',
      '0',
      '--admin-port',
      String(await deadPort()),
      '--dyups-sync',
      `redis://127.0.0.1:${await deadPort()}`,
      '--redis',
      'redis://127.0.0.1:1',
    ]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /dyups sync: cannot load the upstreams from redis:\/\/127\.0\.0\.1:\d+/);
    const bad = await runCli(['serve', '--dyups-sync', 'http://x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--dyups-sync must use redis:\/\//);
  });
});

describe('cosocket serve with dyups and --workers', () => {
  it("takes the proxy's buffering from the config (dyups.buffers, maxTempFileSize) and refuses bad values by name", async () => {
    const own = mkdtempSync(join(tmpdir(), 'cosocket-dyups-buffering-'));
    const bad = join(own, 'bad-buffers.json');
    writeFileSync(bad, JSON.stringify({ dyups: { buffers: '8' } }));
    const refused = await runCli(['serve', '--config', bad]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /'dyups\.buffers' must be a count and a size like "8 8k"/);
    writeFileSync(bad, JSON.stringify({ dyups: { bufferSize: 0 } }));
    assert.match((await runCli(['serve', '--config', bad])).stderr, /'dyups\.bufferSize' must be at least 1 byte/);

    // 64 MB to a client that reads nothing: with the defaults (1024m temp file) the proxy would take it
    // all; with two 8k buffers and no temp file it must leave most of it with the upstream (the kernel's
    // loopback buffers of the two connections hold several MB of it: tcp_rmem's maximum is 32 MB here)
    const { createServer } = await import('node:http');
    let written = 0;
    const piece = Buffer.alloc(64 * 1024, 97);
    const upstream = createServer((_req, res) => {
      const pump = (): void => {
        while (written < 64 * 1024 * 1024) {
          written += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const config = join(own, 'tight.json');
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    writeFileSync(
      config,
      JSON.stringify({ dyups: { adminPort, proxyPort, buffering: 'on', buffers: '2 8k', maxTempFileSize: 0 } }),
    );
    const srv = await startServer(['--config', config]);
    const client = connect(proxyPort, '127.0.0.1');
    try {
      assert.equal(
        await (
          await fetch(`http://127.0.0.1:${adminPort}/upstream/big.local`, {
            method: 'POST',
            body: `server 127.0.0.1:${upstreamPort};`,
          })
        ).text(),
        'success',
      );
      client.pause();
      client.write('GET / HTTP/1.1\r\nHost: big.local\r\n\r\n');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok(
        written < 32 * 1024 * 1024,
        `the upstream got to write ${written} bytes for a client that reads nothing`,
      );
    } finally {
      client.destroy();
      await srv.stop();
      upstream.closeAllConnections();
      upstream.close();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('makes a change visible on every worker before the POST returns', async () => {
    const { createServer } = await import('node:http');
    const upstreams = await Promise.all(
      ['one', 'two'].map(
        (label) =>
          new Promise<{ close(): void; port: number }>((resolve) => {
            const server = createServer((_req, res) => res.end(label));
            server.listen(0, '127.0.0.1', () =>
              resolve({ close: () => server.close(), port: (server.address() as { port: number }).port }),
            );
          }),
      ),
    );
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const srv = await startServer([
      '--workers',
      '2',
      '--admin-port',
      String(adminPort),
      '--proxy-port',
      String(proxyPort),
    ]);
    const via = async (): Promise<{ status: number; text: string }> => {
      const { request } = await import('node:http');
      return new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: proxyPort, path: '/', headers: { host: 'app.local', connection: 'close' } },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    };
    try {
      for (const [i, target] of [upstreams[0]!, upstreams[1]!, upstreams[0]!].entries()) {
        const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/app.local`, {
          method: 'POST',
          body: `server 127.0.0.1:${target.port};`,
        });
        assert.equal(await res.text(), 'success');
        // new connections are spread over both workers: every one must already see this change
        const answers = await Promise.all(Array.from({ length: 20 }, () => via()));
        const expected = target === upstreams[0] ? 'one' : 'two';
        assert.deepEqual([...new Set(answers.map((a) => `${a.status} ${a.text}`))], [`200 ${expected}`], `change ${i}`);
      }
      // live state comes from the workers, which do the balancing: the 20 requests since the last change, summed
      const json = (await (await fetch(`http://127.0.0.1:${adminPort}/upstream/app.local?format=json`)).json()) as {
        servers: Array<{ health?: object }>;
        tunnels: object;
      };
      assert.deepEqual(json.servers[0]!.health, {
        available: true,
        active: 0,
        requests: 20,
        failures: 0,
        fails: 0,
        check: null,
        openTunnels: 0,
        tunnels: 0,
      });
      assert.deepEqual(json.tunnels, { open: 0, total: 0 });
    } finally {
      assert.equal(await srv.stop('SIGTERM'), 0);
      for (const u of upstreams) u.close();
    }
  });
});
