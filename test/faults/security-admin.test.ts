import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { startTestRedis } from '../helpers/redis.js';
import { deadPort } from '../helpers/tcp-server.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-security-admin-'));

interface RawResponse {
  status: number;
  body: string;
}

/** One request written byte for byte on its own connection (Connection: close), as a browser or attacker sends it. */
function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
): Promise<RawResponse> {
  const head = [
    `${method} ${path} HTTP/1.1`,
    ...Object.entries({
      host: `127.0.0.1:${port}`,
      ...headers,
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    }).map(([k, v]) => `${k}: ${v}`),
  ];
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      if (status === null) return reject(new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(status[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  });
}

/** A browser on http://evil.example posting to the admin: the headers a no-cors fetch or a form carries. */
const CROSS_SITE = {
  origin: 'http://evil.example',
  'sec-fetch-site': 'cross-site',
  'sec-fetch-mode': 'no-cors',
  'sec-fetch-dest': 'empty',
};

async function startAdmin(extra: readonly string[] = []): Promise<{ server: RunningServer; port: number }> {
  const port = await deadPort();
  const server = await startServer(['--admin-port', String(port), ...extra]);
  // the dyups banner follows the "listening" line the helper waits for
  assert.ok(await waitFor(() => /dyups admin on/.test(server.output()), 30_000), server.output());
  return { server, port };
}

describe('security: the dyups admin (issue 12, findings 4, 11, 12)', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('finding 4: CSRF and DNS rebinding', () => {
    let admin: { server: RunningServer; port: number };
    before(async () => {
      admin = await startAdmin();
    });
    after(async () => {
      await admin.server.stop();
    });

    it('refuses cross-site writes (text/plain, form-encoded, Sec-Fetch-Site alone) and leaves the group as it was', async () => {
      const { port } = admin;
      assert.equal(
        (
          await raw(
            port,
            'POST',
            '/upstream/app',
            { 'content-type': 'application/x-www-form-urlencoded' },
            'server 127.0.0.1:8088;',
          )
        ).status,
        200,
      );
      const before = await raw(port, 'GET', '/upstream/app', {});
      assert.equal(before.status, 200);
      const attacks: Array<Record<string, string>> = [
        { ...CROSS_SITE, 'content-type': 'text/plain;charset=UTF-8' },
        { ...CROSS_SITE, 'content-type': 'application/x-www-form-urlencoded' },
        { origin: 'http://evil.example', 'content-type': 'text/plain' },
        { origin: 'null', 'content-type': 'text/plain' },
        { 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' },
        { 'sec-fetch-site': 'same-site', 'content-type': 'text/plain' },
      ];
      for (const headers of attacks) {
        const res = await raw(port, 'POST', '/upstream/app', headers, 'server 10.6.6.6:80;');
        assert.equal(res.status, 403, JSON.stringify(headers));
        assert.equal((await raw(port, 'DELETE', '/upstream/app', headers)).status, 403, JSON.stringify(headers));
      }
      assert.deepEqual(await raw(port, 'GET', '/upstream/app', {}), before);
    });

    it('refuses a Host that does not name the listener (DNS rebinding), for reads too', async () => {
      const { port } = admin;
      for (const host of [`rebind.evil.example:${port}`, 'rebind.evil.example', `127.0.0.1:${port + 1}`]) {
        const res = await raw(port, 'GET', '/detail', { host });
        assert.equal(res.status, 421, host);
        assert.equal(
          (await raw(port, 'POST', '/upstream/rebound', { host, 'content-type': 'text/plain' }, 'server 10.6.6.6:80;'))
            .status,
          421,
          host,
        );
      }
      assert.equal((await raw(port, 'GET', '/upstream/rebound', {})).status, 404);
    });

    it('keeps the dyups contract: curl -d without Origin, and the admin own pages (same-origin, localhost) work', async () => {
      const { port } = admin;
      // what `curl -d "server ..." http://127.0.0.1:PORT/upstream/NAME` sends
      const curl = await raw(
        port,
        'POST',
        '/upstream/curl',
        { 'user-agent': 'curl/8.5.0', accept: '*/*', 'content-type': 'application/x-www-form-urlencoded' },
        'server 127.0.0.1:8089 weight=3;',
      );
      assert.deepEqual(curl, { status: 200, body: 'success' });
      const own = { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin', 'content-type': 'text/plain' };
      assert.equal((await raw(port, 'POST', '/upstream/curl', own, 'server 127.0.0.1:8090;')).status, 200);
      assert.equal(
        (await raw(port, 'GET', '/list', { host: `localhost:${port}`, 'sec-fetch-site': 'none' })).status,
        200,
      );
      assert.equal(
        (await raw(port, 'GET', '/list', { host: `LOCALHOST:${port}`, origin: `http://localhost:${port}` })).status,
        200,
      );
    });

    it('answers 415 to a body type it does not document (multipart, as an HTML form can send)', async () => {
      const { port } = admin;
      const res = await raw(
        port,
        'POST',
        '/upstream/multi',
        { 'content-type': 'multipart/form-data; boundary=x' },
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nserver 10.6.6.6:80;\r\n--x--\r\n',
      );
      assert.equal(res.status, 415);
      assert.equal((await raw(port, 'GET', '/upstream/multi', {})).status, 404);
    });
  });

  describe('finding 12: admin names and server lines', () => {
    let admin: { server: RunningServer; port: number };
    before(async () => {
      admin = await startAdmin();
    });
    after(async () => {
      await admin.server.stop();
    });

    it('accepts names up to 253 characters (not 414 past 100) and refuses longer ones with 400', async () => {
      const { port } = admin;
      for (const length of [101, 200, 253]) {
        const name = `${'a'.repeat(length - 6)}.local`;
        assert.equal(name.length, length);
        const res = await raw(
          port,
          'POST',
          `/upstream/${name}`,
          { 'content-type': 'text/plain' },
          'server 127.0.0.1:8088;',
        );
        assert.deepEqual(res, { status: 200, body: 'success' }, `length ${length}`);
        assert.equal((await raw(port, 'GET', `/upstream/${name}`, {})).status, 200);
        assert.equal((await raw(port, 'DELETE', `/upstream/${name}`, {})).status, 200);
      }
      assert.equal(
        (
          await raw(
            port,
            'POST',
            `/upstream/${'b'.repeat(254)}`,
            { 'content-type': 'text/plain' },
            'server 127.0.0.1:8088;',
          )
        ).status,
        400,
      );
      assert.equal(
        (
          await raw(
            port,
            'POST',
            '/upstream/under_score-1.local',
            { 'content-type': 'text/plain' },
            'server 127.0.0.1:8088;',
          )
        ).status,
        200,
      );
    });

    it('POST /upstream/NAME/servers takes one server line only: a directive after it changes nothing', async () => {
      const { port } = admin;
      assert.equal(
        (await raw(port, 'POST', '/upstream/one', { 'content-type': 'text/plain' }, 'server 127.0.0.1:8088;')).status,
        200,
      );
      const before = await raw(port, 'GET', '/upstream/one?format=json', {});
      for (const line of [
        'server 127.0.0.1:8089; least_conn;',
        'server 127.0.0.1:8089; hash $request_uri consistent',
        'server 127.0.0.1:8089; server 127.0.0.1:8090;',
        'server 127.0.0.1:8089 } upstream x {',
        'server;',
        'least_conn; server 127.0.0.1:8089;',
      ]) {
        assert.equal(
          (await raw(port, 'POST', '/upstream/one/servers', { 'content-type': 'text/plain' }, line)).status,
          400,
          line,
        );
      }
      assert.deepEqual(await raw(port, 'GET', '/upstream/one?format=json', {}), before);
      assert.equal(
        (
          await raw(
            port,
            'POST',
            '/upstream/one/servers',
            { 'content-type': 'text/plain' },
            'server 127.0.0.1:8089 weight=2',
          )
        ).status,
        200,
      );
      assert.equal(
        (await raw(port, 'GET', '/upstream/one', {})).body.split('\n').filter((l) => l.startsWith('server')).length,
        2,
      );
    });
  });

  describe('finding 11: group names from Redis sync and the state file', () => {
    it('skips an invalid name published or stored in Redis: never applied, never persisted, and the server restarts', async () => {
      const redis = await startTestRedis();
      const state = join(dir, 'synced.conf');
      const groups = 'cosocket:dyups:groups';
      try {
        // written by something else (an older version, a hand edit): one good group, one with an invalid name
        // and one over the balancer limits (weight above 100): skipped too, and named in the log
        await redis.admin.hset(
          groups,
          'good',
          'server 127.0.0.1:8088;',
          'evil name/../x',
          'server 127.0.0.1:8666;',
          'heavy',
          'server 127.0.0.1:8090 weight=1000000;',
        );
        await redis.admin.set('cosocket:dyups:version', '1');
        const args = ['--dyups-sync', redis.url, '--state-file', state];
        const first = await startAdmin(args);
        let second: { server: RunningServer; port: number } | null = null;
        try {
          const list = (): Promise<RawResponse> => raw(first.port, 'GET', '/list', {});
          assert.ok(await waitFor(async () => (await list()).body.includes('good'), 30_000));
          // a published change with an invalid name, then a valid one: once the second is in, the first was handled
          await redis.admin.hset(groups, 'evil name/../y', 'server 127.0.0.1:8667;');
          await redis.admin.publish('cosocket:dyups:changes', '2\nevil name/../y\nserver 127.0.0.1:8667;');
          await redis.admin.hset(groups, 'after', 'server 127.0.0.1:8089;');
          await redis.admin.publish('cosocket:dyups:changes', '3\nafter\nserver 127.0.0.1:8089;');
          assert.ok(await waitFor(async () => (await list()).body.includes('after'), 30_000), (await list()).body);
          const listed = (await list()).body;
          assert.doesNotMatch(listed, /evil/);
          assert.doesNotMatch(listed, /heavy/);
          assert.ok(
            await waitFor(() => /dyups sync: group 'heavy' from Redis skipped/.test(first.server.output()), 30_000),
            first.server.output(),
          );
          assert.doesNotMatch(readFileSync(state, 'utf8'), /evil/);
          assert.equal(await first.server.stop('SIGKILL'), null);
          // Redis fixed: the server starts again from its state file
          await redis.admin.hdel(groups, 'evil name/../x', 'evil name/../y', 'heavy');
          second = await startAdmin(args);
          assert.equal((await raw(second.port, 'GET', '/upstream/after', {})).status, 200);
        } finally {
          await first.server.stop();
          await second?.server.stop();
        }
      } finally {
        await redis.stop();
      }
    });

    it('matches names case-insensitively, in the admin and in the proxy (Host is case-insensitive)', async () => {
      const upstream = createServer((_req, res) => res.end('from upstream'));
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
      const proxyPort = await deadPort();
      const admin = await startAdmin(['--proxy-port', String(proxyPort)]);
      try {
        const { port } = admin;
        const target = `server 127.0.0.1:${(upstream.address() as AddressInfo).port};`;
        assert.equal(
          (await raw(port, 'POST', '/upstream/App.Local', { 'content-type': 'text/plain' }, target)).status,
          200,
        );
        assert.equal((await raw(port, 'GET', '/upstream/app.local', {})).status, 200);
        assert.equal((await raw(port, 'GET', '/upstream/APP.LOCAL', {})).status, 200);
        const proxied = await raw(proxyPort, 'GET', '/', { host: 'App.Local' });
        assert.deepEqual(
          { status: proxied.status, body: proxied.body.endsWith('from upstream') },
          { status: 200, body: true },
        );
        // a second spelling is the same group: replaced, not added
        assert.equal(
          (await raw(port, 'POST', '/upstream/app.LOCAL', { 'content-type': 'text/plain' }, target)).status,
          200,
        );
        assert.equal((await raw(port, 'GET', '/list', {})).body.trim().split('\n').length, 1);
        assert.equal((await raw(port, 'DELETE', '/upstream/APP.local', {})).status, 200);
        assert.equal((await raw(port, 'GET', '/list', {})).status, 204);
      } finally {
        await admin.server.stop();
        await new Promise((r) => upstream.close(r));
      }
    });

    it('starts on a state file holding a block with an invalid name: the block is skipped and named in the log', async () => {
      const state = join(dir, 'old.conf');
      writeFileSync(
        state,
        'upstream good {\n    server 127.0.0.1:8088;\n}\nupstream evil name/../x {\n    server 127.0.0.1:8666;\n}\nupstream also_good {\n    server 127.0.0.1:8089;\n}\n',
      );
      const admin = await startAdmin(['--state-file', state]);
      try {
        const list = await raw(admin.port, 'GET', '/list', {});
        assert.equal(list.status, 200);
        assert.deepEqual(list.body.trim().split('\n').sort(), ['also_good', 'good']);
        assert.match(admin.server.output(), /line 4/);
      } finally {
        await admin.server.stop();
      }
    });
  });
});
