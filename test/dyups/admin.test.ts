import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp, isLoopback } from '../../src/dyups/admin.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { UpstreamTable } from '../../src/dyups/table.js';

let app: FastifyInstance;
let secured: FastifyInstance;
let base = '';
let securedBase = '';

async function call(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; type: string | null; length: string | null }> {
  const res = await fetch(`${base}${path}`, { method, ...(body !== undefined ? { body } : {}), headers });
  return {
    status: res.status,
    text: await res.text(),
    type: res.headers.get('content-type'),
    length: res.headers.get('content-length'),
  };
}

describe('dyups admin interface', () => {
  before(async () => {
    app = await buildAdminApp(new UpstreamTable({ stateFile: null }), { token: null, allowRemote: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    secured = await buildAdminApp(new UpstreamTable({ stateFile: null }), { token: 's3cret', allowRemote: false });
    await secured.listen({ host: '127.0.0.1', port: 0 });
    securedBase = `http://127.0.0.1:${(secured.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await app.close();
    await secured.close();
  });

  it('answers 204 with no body for /list and /detail when there is no upstream', async () => {
    const raw = await new Promise<string>((resolve) => {
      let out = '';
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () =>
        socket.write(`GET /list HTTP/1.1\r\nHost: ${new URL(base).host}\r\nConnection: close\r\n\r\n`),
      );
      socket.on('data', (d: Buffer) => (out += d.toString()));
      socket.on('close', () => resolve(out));
    });
    assert.match(raw, /^HTTP\/1\.1 204/);
    assert.ok(raw.endsWith('\r\n\r\n'), 'a 204 must not carry a body');
    assert.equal((await call('GET', '/detail')).status, 204);
  });

  it('creates with POST (curl -d style), lists, details and shows an upstream', async () => {
    const created = await call(
      'POST',
      '/upstream/app',
      'server 127.0.0.1:8088; server 127.0.0.1:8089 weight=3 max_fails=2 fail_timeout=10s; server 10.0.0.1:80 backup;',
      { 'content-type': 'application/x-www-form-urlencoded' },
    );
    assert.deepEqual([created.status, created.text], [200, 'success']);
    await call('POST', '/upstream/api', 'server 10.0.0.2:80;');
    const list = await call('GET', '/list');
    assert.deepEqual([list.status, list.text], [200, 'api\napp\n']);
    assert.match(list.type ?? '', /text\/plain/);
    const detail = await call('GET', '/detail');
    assert.equal(
      detail.text,
      'api\nserver 10.0.0.2:80 weight=1 max_conns=0 max_fails=1 fail_timeout=10 backup=0 down=0\n\n' +
        'app\nserver 127.0.0.1:8088 weight=1 max_conns=0 max_fails=1 fail_timeout=10 backup=0 down=0\n' +
        'server 127.0.0.1:8089 weight=3 max_conns=0 max_fails=2 fail_timeout=10 backup=0 down=0\n' +
        'server 10.0.0.1:80 weight=1 max_conns=0 max_fails=1 fail_timeout=10 backup=1 down=0\n\n',
    );
    const one = await call('GET', '/upstream/app');
    assert.equal(one.text, 'server 127.0.0.1:8088\nserver 127.0.0.1:8089\nserver 10.0.0.1:80\n');
    const json = JSON.parse((await call('GET', '/upstream/app?format=json')).text) as {
      servers: Array<{ weight: number }>;
    };
    assert.equal(json.servers[1]!.weight, 3);
    assert.equal((await call('GET', '/upstream/nope')).status, 404);
  });

  it('refuses a bad body with 400 naming the token, and leaves the live upstream as it was', async () => {
    const before = (await call('GET', '/upstream/app')).text;
    const bad = await call('POST', '/upstream/app', 'server 127.0.0.1:8088 weight=abc;');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /at 'abc' \(line 1, column 30, offset 29\)/);
    assert.equal((await call('POST', '/upstream/app', '')).status, 400);
    assert.equal((await call('GET', '/upstream/app')).text, before);
  });

  it('changes one server at a time and keeps everything else', async () => {
    assert.deepEqual(
      Object.values(await call('POST', '/upstream/app/servers', 'server 127.0.0.1:9000 weight=2')).slice(0, 2),
      [200, 'success'],
    );
    assert.equal(
      (await call('PATCH', '/upstream/app/servers/127.0.0.1:8088', JSON.stringify({ weight: 5, down: true }))).status,
      200,
    );
    const detail = (await call('GET', '/detail')).text;
    assert.match(detail, /server 127\.0\.0\.1:8088 weight=5 max_conns=0 max_fails=1 fail_timeout=10 backup=0 down=1\n/);
    assert.match(detail, /server 127\.0\.0\.1:8089 weight=3 .*max_fails=2/);
    assert.match(detail, /server 127\.0\.0\.1:9000 weight=2 /);
    const badPatch = await call('PATCH', '/upstream/app/servers/127.0.0.1:8088', JSON.stringify({ weight: 0 }));
    assert.equal(badPatch.status, 400);
    assert.match(badPatch.text, /'weight' must be a whole number >= 1/);
    assert.equal((await call('PATCH', '/upstream/app/servers/1.2.3.4:1', '{}')).status, 404);
    assert.equal((await call('PATCH', '/upstream/app/servers/127.0.0.1:8088', 'not json')).status, 400);
    assert.equal((await call('DELETE', '/upstream/app/servers/127.0.0.1:9000')).status, 200);
    assert.doesNotMatch((await call('GET', '/upstream/app')).text, /9000/);
  });

  it('deletes an upstream; 404 when unknown', async () => {
    assert.deepEqual(Object.values(await call('DELETE', '/upstream/api')).slice(0, 2), [200, 'success']);
    assert.equal((await call('DELETE', '/upstream/api')).status, 404);
    assert.equal((await call('GET', '/list')).text, 'app\n');
  });

  it('requires the token when one is set, and answers loopback clients only by default', async () => {
    assert.equal((await fetch(`${securedBase}/list`)).status, 401);
    assert.equal((await fetch(`${securedBase}/list`, { headers: { authorization: 'Bearer wrong!' } })).status, 401);
    assert.equal((await fetch(`${securedBase}/list`, { headers: { authorization: 'Bearer s3cret' } })).status, 204);
    assert.equal(isLoopback('127.0.0.1'), true);
    assert.equal(isLoopback('::ffff:127.0.0.5'), true);
    assert.equal(isLoopback('::1'), true);
    assert.equal(isLoopback('10.0.0.1'), false);
    assert.equal(isLoopback('::ffff:192.168.1.9'), false);
  });
});

describe('dyups admin interface: trylock and live health', () => {
  it('with trylock a change that meets another in progress answers 409 and changes nothing; without, both succeed', async () => {
    for (const trylock of [true, false]) {
      const table = new UpstreamTable({ stateFile: null });
      let open = (): void => {};
      let gate: Promise<void> | null = new Promise<void>((resolve) => (open = resolve));
      // afterChange stands for the wait until every worker applied the change
      const admin = await buildAdminApp(table, {
        token: null,
        allowRemote: false,
        trylock,
        afterChange: async () => gate ?? undefined,
      });
      await admin.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(admin.server.address() as { port: number }).port}`;
      try {
        const first = fetch(`${url}/upstream/a`, { method: 'POST', body: 'server 127.0.0.1:1;' });
        for (let i = 0; i < 100 && table.get('a') === undefined; i++) await new Promise((r) => setTimeout(r, 10));
        const second = fetch(`${url}/upstream/b`, { method: 'POST', body: 'server 127.0.0.1:2;' });
        if (trylock) {
          const refused = await second;
          assert.equal(refused.status, 409);
          assert.match(await refused.text(), /another change is in progress/);
          assert.equal(table.get('b'), undefined);
        }
        open();
        gate = null;
        assert.equal(await (await first).text(), 'success');
        if (!trylock) assert.equal(await (await second).text(), 'success');
        assert.equal(
          await (await fetch(`${url}/upstream/c`, { method: 'POST', body: 'server 127.0.0.1:3;' })).text(),
          'success',
        );
      } finally {
        await admin.close();
      }
    }
  });

  it('GET /upstream/NAME?format=json carries each server\u2019s live state where this process balances', async () => {
    const table = new UpstreamTable({ stateFile: null });
    const balancers = new Balancers();
    table.onChange((name, group) => balancers.set(group, name));
    const admin = await buildAdminApp(table, {
      token: null,
      allowRemote: false,
      health: (name) => balancers.health(name),
    });
    await admin.listen({ host: '127.0.0.1', port: 0 });
    try {
      table.update('app', 'server 127.0.0.1:1 max_fails=1; server 127.0.0.1:2 drain;');
      balancers.get('app')!.primaries[0]!.failed(Date.now());
      const json = (await (
        await fetch(`http://127.0.0.1:${(admin.server.address() as { port: number }).port}/upstream/app?format=json`)
      ).json()) as {
        servers: Array<{
          address: string;
          drain: boolean;
          health: {
            available: boolean;
            active: number;
            requests: number;
            failures: number;
            fails: number;
            check: string | null;
          };
        }>;
      };
      assert.deepEqual(
        json.servers.map((s) => [s.address, s.drain, s.health]),
        [
          [
            '127.0.0.1:1',
            false,
            {
              available: false,
              active: 0,
              requests: 0,
              failures: 1,
              fails: 1,
              check: null,
              openTunnels: 0,
              tunnels: 0,
            },
          ],
          [
            '127.0.0.1:2',
            true,
            {
              available: false,
              active: 0,
              requests: 0,
              failures: 0,
              fails: 0,
              check: null,
              openTunnels: 0,
              tunnels: 0,
            },
          ],
        ],
      );
    } finally {
      await admin.close();
    }
  });
});
