import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools } from '../../src/index.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import type { FrontServer } from '../../src/dyups/front/index.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { deadPort } from '../helpers/tcp-server.js';

const upstreams: Server[] = [];
const ports: number[] = [];
let proxy: FrontServer;
let proxyPort = 0;
const table = new UpstreamTable({ stateFile: null });
const balancers = new Balancers();
table.onChange((name, group) => balancers.set(group, name));
const agent = new Agent({ keepAlive: true, maxSockets: 20 });
/** the proxy's error log */
const logged: string[] = [];

function send(host: string, method = 'GET', body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: proxyPort, method, path: '/who', headers: { host }, agent },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('dyups proxy', () => {
  before(async () => {
    for (let i = 0; i < 3; i++) {
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () =>
          res.end(`upstream-${i} ${req.method} ${body} xff=${String(req.headers['x-forwarded-for'])}`),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      upstreams.push(server);
      ports.push((server.address() as { port: number }).port);
    }
    proxy = buildProxyServer(table, balancers, {
      scheduler: new Scheduler({ name: 'proxy' }),
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
    for (const server of upstreams) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('routes by Host to the group, adding X-Forwarded-For and passing bodies', async () => {
    table.update('app.local', `server 127.0.0.1:${ports[0]};`);
    const res = await send('app.local:8080', 'POST', 'hello');
    assert.equal(res.status, 200);
    assert.equal(res.text, 'upstream-0 POST hello xff=127.0.0.1');
  });

  it("answers 502 with nginx's generic page for a Host that names no group, the reason in the log", async () => {
    const res = await send('nowhere.local');
    assert.equal(res.status, 502);
    assert.match(res.text, /^<html>\r\n<head><title>502 Bad Gateway<\/title><\/head>/);
    assert.doesNotMatch(res.text, /nowhere/);
    assert.match(
      logged.at(-1)!,
      /no upstream group named 'nowhere\.local'.*client: 127\.0\.0\.1, request: "GET \/who"/,
    );
  });

  it('splits 1,000 requests 3:1 by weight (75% +- 5%)', async () => {
    table.update('weighted.local', `server 127.0.0.1:${ports[0]} weight=3; server 127.0.0.1:${ports[1]};`);
    let heavy = 0;
    for (let i = 0; i < 1_000; i++) if ((await send('weighted.local')).text.startsWith('upstream-0')) heavy++;
    assert.ok(Math.abs(heavy - 750) <= 50, `${heavy} of 1,000`);
  });

  it('retries the next server when one refuses, marks it failed, and uses backups only when primaries are gone', async () => {
    const dead = await deadPort();
    table.update(
      'failover.local',
      `server 127.0.0.1:${dead} max_fails=1 fail_timeout=30s; server 127.0.0.1:${ports[1]}; server 127.0.0.1:${ports[2]} backup;`,
    );
    for (let i = 0; i < 10; i++) {
      const res = await send('failover.local');
      assert.equal(res.status, 200);
      assert.ok(res.text.startsWith('upstream-1'), res.text);
    }
    const deadPeer = balancers.get('failover.local')!.primaries[0]!;
    assert.equal(deadPeer.fails, 1, 'a refused connect counts as a failure');
    table.update('failover.local', `server 127.0.0.1:${dead}; server 127.0.0.1:${ports[2]} backup;`);
    const viaBackup = await send('failover.local');
    assert.equal(viaBackup.status, 200);
    assert.ok(viaBackup.text.startsWith('upstream-2'), 'the backup serves when every primary failed');
  });

  it('retries a POST elsewhere only when nothing was sent, and says why when no server is left', async () => {
    const dead = await deadPort();
    table.update('post.local', `server 127.0.0.1:${dead}; server 127.0.0.1:${ports[0]};`);
    // a refused connect sent nothing: the POST goes to the next server (proxy-settings.test has the sent case)
    const results = await Promise.all([send('post.local', 'POST', 'x'), send('post.local', 'POST', 'y')]);
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200],
      JSON.stringify(results),
    );
    table.update('post-alone.local', `server 127.0.0.1:${dead};`);
    const alone = await send('post-alone.local', 'POST', 'z');
    assert.equal(alone.status, 502);
    assert.match(alone.text, /502 Bad Gateway/);
    assert.match(logged.at(-1)!, /upstream 'post-alone\.local': .*connect .*connection refused/);
    const allDead = await deadPort();
    table.update('gone.local', `server 127.0.0.1:${allDead};`);
    const gone = await send('gone.local');
    assert.equal(gone.status, 502);
    assert.doesNotMatch(gone.text, /127\.0\.0\.1|refused/, 'no internal detail reaches the client');
    assert.match(logged.at(-1)!, /upstream 'gone\.local': .*connection refused/);
  });

  it('loses no request while the group is changed under load', async () => {
    table.update('live.local', `server 127.0.0.1:${ports[0]};`);
    let stop = false;
    const statuses: number[] = [];
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) statuses.push((await send('live.local')).status);
      }),
    );
    for (let i = 0; i < 30; i++) {
      table.update('live.local', `server 127.0.0.1:${ports[i % 3]}; server 127.0.0.1:${ports[(i + 1) % 3]} weight=2;`);
      await new Promise((r) => setTimeout(r, 10));
    }
    stop = true;
    await load;
    assert.ok(statuses.length > 50);
    assert.deepEqual([...new Set(statuses)], [200]);
  });

  it('a draining server takes no new requests while the one in flight finishes; health shows it', async () => {
    let release = (): void => {};
    const slow = createServer((_req, res) => {
      release = () => res.end('slow');
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowAddress = `127.0.0.1:${(slow.address() as { port: number }).port}`;
    try {
      table.update('drain.local', `server ${slowAddress}; server 127.0.0.1:${ports[0]};`);
      const inFlight = send('drain.local'); // smooth round robin picks the first server first
      for (let i = 0; i < 100 && balancers.health('drain.local').get(slowAddress)?.active !== 1; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(balancers.health('drain.local').get(slowAddress)?.active, 1);
      assert.deepEqual(table.patchServer('drain.local', slowAddress, { drain: true }), {
        status: 200,
        message: 'success',
      });
      const during = await Promise.all(Array.from({ length: 10 }, () => send('drain.local')));
      assert.deepEqual([...new Set(during.map((r) => r.text.split(' ')[0]))], ['upstream-0']);
      assert.equal(balancers.health('drain.local').get(slowAddress)?.available, false);
      release();
      assert.deepEqual(await inFlight, { status: 200, text: 'slow' });
      assert.equal(balancers.health('drain.local').get(slowAddress)?.active, 0, 'drained: safe to remove now');
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('streams a request body to the upstream while the client is still sending it, and refuses one over the limit with 413', async () => {
    let received = 0;
    let firstPiece: () => void = () => {};
    const gotFirst = new Promise<void>((resolve) => (firstPiece = resolve));
    let requests = 0;
    const sink = createServer((req, res) => {
      requests++;
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (d: Buffer) => {
        size += d.length;
        received += d.length;
        hash.update(d);
        firstPiece();
      });
      req.on('end', () =>
        res.end(
          `${size} ${hash.digest('hex')} ${String(req.headers['transfer-encoding'] ?? req.headers['content-length'])}`,
        ),
      );
      req.on('error', () => {});
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    table.update('upload.local', `server 127.0.0.1:${(sink.address() as { port: number }).port};`);
    const upload = (
      headers: Record<string, string>,
      pieces: Buffer[],
      between?: () => Promise<void>,
    ): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: proxyPort,
            method: 'PUT',
            path: '/up',
            headers: { host: 'upload.local', ...headers },
            agent: false,
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        void (async () => {
          req.write(pieces[0]);
          await between?.();
          for (const piece of pieces.slice(1)) req.write(piece);
          req.end();
        })();
      });
    try {
      const pieces = Array.from({ length: 8 }, (_, i) => Buffer.alloc(100 * 1024, i + 1));
      const whole = createHash('sha256').update(Buffer.concat(pieces)).digest('hex');
      // the client holds back the rest until the upstream has the first piece: a proxy that buffered the
      // whole body first would never pass it on, and this request would hang
      const chunked = await upload({}, pieces, () => gotFirst);
      assert.deepEqual(chunked, { status: 200, text: `${800 * 1024} ${whole} chunked` });
      const sized = await upload({ 'content-length': String(800 * 1024) }, pieces);
      assert.deepEqual(sized, { status: 200, text: `${800 * 1024} ${whole} ${800 * 1024}` });
      // Content-Length over the limit (1 MB here): 413 before any upstream is asked
      const before = requests;
      const big = Array.from({ length: 12 }, () => Buffer.alloc(100 * 1024, 7));
      const declared = await upload({ 'content-length': String(1200 * 1024) }, big).catch(() => ({
        status: 413,
        text: '(connection closed after the answer)',
      }));
      assert.equal(declared.status, 413);
      assert.equal(requests, before);
      // a chunked body that grows past the limit is cut off: 413 to the client, the upstream never gets more than the limit
      received = 0;
      const grown = await upload({}, big).catch(() => ({ status: 413, text: '(connection closed after the answer)' }));
      assert.equal(grown.status, 413);
      assert.ok(received <= 1024 * 1024, `the upstream got ${received} bytes, more than the limit`);
      assert.equal((await send('upload.local', 'POST', 'small')).status, 200, 'the proxy still works');
    } finally {
      sink.closeAllConnections();
      sink.close();
    }
  });

  it('proxies to a unix-socket server (server unix:/path)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-dyups-unix-'));
    const path = join(dir, 'app.sock');
    const server = createServer((req, res) => res.end(`unix ${req.method} ${String(req.headers.host)}`));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      assert.deepEqual(table.update('unix.local', `server unix:${path};`), { status: 200, message: 'success' });
      // Host: the group's name ($proxy_host), as for any group
      assert.deepEqual(await send('unix.local'), { status: 200, text: 'unix GET unix.local' });
      assert.deepEqual(await send('unix.local'), { status: 200, text: 'unix GET unix.local' });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
