import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildAdminApp } from '../../src/dyups/admin.js';
import { defineBalancer, undefineBalancer } from '../../src/dyups/balancer-registry.js';
import { formatDetail, toJson, toNginx } from '../../src/dyups/format.js';
import { parseUpstream } from '../../src/dyups/parse.js';
import { RedisSync } from '../../src/dyups/redis-sync.js';
import { loadState } from '../../src/dyups/state-file.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/net.js';
import { runCli, startServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';

/** One group body per balancer (and the other balancing lines), each as a user would write it. */
const BODIES: Record<string, string> = {
  random: 'random; server 10.0.0.1:80 weight=2; server 10.0.0.2:80;',
  'random-two': 'random two; server 10.0.0.1:80; server 10.0.0.2:80;',
  'random-two-time': 'random two least_time=last_byte; server 10.0.0.1:80; server 10.0.0.2:80;',
  'least-time': 'least_time last_byte inflight; server 10.0.0.1:80; server 10.0.0.2:80 backup;',
  'least-time-decay': 'least_time header decay=2s; server 10.0.0.1:80;',
  ewma: 'ewma; server 10.0.0.1:80; server 10.0.0.2:80;',
  'sticky-cookie':
    'sticky cookie srv_id expires=1h domain=.example.com path=/ httponly secure; least_conn; server 10.0.0.1:80; server 10.0.0.2:80;',
  'sticky-max': 'sticky cookie s expires=max; server 10.0.0.1:80;',
  'sticky-route': 'sticky route $cookie_route $arg_route; server 10.0.0.1:80 route=a; server 10.0.0.2:80 route=b;',
  split: 'split $http_x_canary=1 -> canary.local; split 12.5% -> canary.local; server 10.0.0.1:80;',
  coroutine: 'balancer roundtrip-pick; balancer_timeout 20ms; ewma; server 10.0.0.1:80; server 10.0.0.2:80;',
};

describe('dyups balancing lines round-trip', () => {
  before(() => {
    defineBalancer('roundtrip-pick', function* (ctx) {
      return ctx.peers[0]!;
    });
  });
  after(() => {
    undefineBalancer('roundtrip-pick');
  });

  it('parse → toNginx → parse gives the same group, for every balancer', () => {
    for (const [name, body] of Object.entries(BODIES)) {
      const group = parseUpstream(name, body);
      assert.deepEqual(parseUpstream(name, toNginx(group)), group, name);
    }
    assert.deepEqual(parseUpstream('x', BODIES['random-two']!).balancer, { kind: 'random', two: 'least_conn' });
    assert.match(toNginx(parseUpstream('x', BODIES.split!)), /split \$http_x_canary=1 -> canary\.local;/);
  });

  it('/detail shows the balancing lines after the servers; JSON detail carries them', () => {
    const group = parseUpstream('c', BODIES.coroutine!);
    assert.equal(
      formatDetail([group]),
      'c\nserver 10.0.0.1:80 weight=1 max_conns=0 max_fails=1 fail_timeout=10 backup=0 down=0\n' +
        'server 10.0.0.2:80 weight=1 max_conns=0 max_fails=1 fail_timeout=10 backup=0 down=0\n' +
        'ewma;\nbalancer roundtrip-pick;\nbalancer_timeout 20ms;\n\n',
    );
    const json = toJson(parseUpstream('s', BODIES['sticky-route']!)) as Record<string, unknown>;
    assert.deepEqual(json.sticky, { kind: 'route', variables: ['cookie_route', 'arg_route'] });
    assert.equal((json.servers as Array<{ route: string }>)[1]!.route, 'b');
    const plain = toJson(parseUpstream('p', 'server 10.0.0.1:80;')) as Record<string, unknown>;
    assert.equal('sticky' in plain || 'splits' in plain || 'coroutine' in plain, false, 'plain groups unchanged');
  });

  it('refuses bad lines with a 400 naming the token', () => {
    const table = new UpstreamTable({ stateFile: null });
    const refused: Array<[string, RegExp]> = [
      ['random three; server 10.0.0.1:80;', /expected 'two'.*at 'three'/],
      ['random two least_time=body; server 10.0.0.1:80;', /at 'least_time=body'/],
      ['random; server 10.0.0.1:80; server 10.0.0.2:80 backup;', /random does not support backup/],
      ['least_time; server 10.0.0.1:80;', /least_time takes header or last_byte/],
      ['ewma; least_conn; server 10.0.0.1:80;', /already set by 'ewma'/],
      ['sticky cookie; server 10.0.0.1:80;', /needs a cookie name/],
      ['sticky cookie s expires=forever; server 10.0.0.1:80;', /expires is max or a time/],
      ['sticky route $r; server 10.0.0.1:80;', /needs servers with route=NAME/],
      ['split 10 -> other; server 10.0.0.1:80;', /expected \$VARIABLE=VALUE .* at '10'/],
      ['split 10% -> g; server 10.0.0.1:80;', /cannot split to itself/],
      ['split 0% -> other; server 10.0.0.1:80;', /more than 0%/],
      ['balancer nosuch; server 10.0.0.1:80;', /unknown balancer 'nosuch' \(defined: .*roundtrip-pick/],
      ['balancer_timeout 10ms; server 10.0.0.1:80;', /balancer_timeout needs a 'balancer NAME;' line/],
    ];
    for (const [body, problem] of refused) {
      const result = table.update('g', body);
      assert.equal(result.status, 400, body);
      assert.match(result.message, problem, body);
    }
    assert.equal(table.all().length, 0);
  });

  it('every balancer survives a state-file restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-balancing-state-'));
    try {
      const file = join(dir, 'upstreams.conf');
      const table = new UpstreamTable({ stateFile: file });
      for (const [name, body] of Object.entries(BODIES)) assert.equal(table.update(name, body).message, 'success');
      const restarted = new UpstreamTable({ stateFile: file }, loadState(file));
      assert.equal(formatDetail(restarted.all()), formatDetail(table.all()));
      for (const group of table.all()) assert.deepEqual(restarted.get(group.name), group);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('through Redis', () => {
    let red: TestRedis;
    before(async () => {
      red = await startTestRedis();
    });
    after(async () => {
      await red.stop();
    });

    it('every balancer reaches a Redis-synced second instance; an unknown balancer is refused on each', async () => {
      const one = new UpstreamTable({ stateFile: null });
      const two = new UpstreamTable({ stateFile: null });
      const syncOne = new RedisSync(one, { url: red.url, prefix: 'bal' });
      const syncTwo = new RedisSync(two, { url: red.url, prefix: 'bal' });
      await syncOne.start();
      await syncTwo.start();
      const admin = await buildAdminApp(two, { token: null, allowRemote: false, change: (c) => syncTwo.change(c) });
      try {
        for (const [name, body] of Object.entries(BODIES))
          assert.equal((await syncOne.change({ op: 'update', name, body })).message, 'success', name);
        assert.ok(await waitFor(() => two.all().length === Object.keys(BODIES).length, 5_000));
        for (const group of one.all()) assert.deepEqual(two.get(group.name), group);
        await admin.listen({ host: '127.0.0.1', port: 0 });
        const refused = await fetch(
          `http://127.0.0.1:${(admin.server.address() as { port: number }).port}/upstream/bad.local`,
          { method: 'POST', body: 'balancer nosuch; server 10.0.0.1:80;' },
        );
        assert.equal(refused.status, 400);
        assert.match(await refused.text(), /unknown balancer 'nosuch'/);
        assert.equal(await red.admin.hexists('bal:groups', 'bad.local'), 0);

        // a group written by an instance that knows a balancer this one does not: skipped with its reason
        await red.admin.hset('other:groups', 'picked.local', 'balancer elsewhere; server 10.0.0.1:80;');
        await red.admin.hset('other:groups', 'plain.local', 'server 10.0.0.1:80;');
        await red.admin.set('other:version', '2');
        const reports: string[] = [];
        const three = new UpstreamTable({ stateFile: null });
        const syncThree = new RedisSync(three, { url: red.url, prefix: 'other', report: (m) => reports.push(m) });
        await syncThree.start();
        await syncThree.close();
        assert.deepEqual(
          three.all().map((g) => g.name),
          ['plain.local'],
        );
        assert.match(reports.join('\n'), /group 'picked\.local' from Redis skipped: .*unknown balancer 'elsewhere'/);
      } finally {
        await admin.close();
        await syncOne.close();
        await syncTwo.close();
      }
    });
  });
});

describe('dyups.balancers in the config', () => {
  it('every worker loads the module; a group uses it by name; an unknown name is a 400', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-balancer-module-'));
    const labels = ['one', 'two'];
    const servers = labels.map((label) => createServer((_req, res) => res.end(label)));
    const ports = await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve) =>
            s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)),
          ),
      ),
    );
    // picks the server the X-Pick header names (by its position), else lets the built-in balancer decide
    writeFileSync(
      join(dir, 'pick.mjs'),
      'export default function* (ctx) { const i = Number(ctx.request.headers["x-pick"]); return Number.isInteger(i) ? ctx.peers[i] : null; }\n',
    );
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    // the state file names the balancer: the primary must know it before it loads the file
    writeFileSync(
      join(dir, 'upstreams.conf'),
      `upstream picked.local {\n    balancer header_pick;\n    server 127.0.0.1:${ports[0]};\n    server 127.0.0.1:${ports[1]};\n}\n`,
    );
    const settings = (balancers: Record<string, string>): string =>
      JSON.stringify({
        workers: 2,
        dyups: { adminPort, proxyPort, stateFile: join(dir, 'upstreams.conf'), balancers },
      });
    writeFileSync(join(dir, 'missing.json'), settings({ header_pick: './nowhere.mjs' }));
    const missing = await runCli(['serve', '--port', '0', '--config', join(dir, 'missing.json')]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /dyups\.balancers\.header_pick: cannot load .*nowhere\.mjs/);
    writeFileSync(join(dir, 'config.json'), settings({ header_pick: './pick.mjs' }));
    const srv = await startServer(['--config', join(dir, 'config.json')]);
    const via = (pick: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: proxyPort,
            path: '/',
            headers: { host: 'picked.local', 'x-pick': pick, connection: 'close' },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      const post = (body: string): Promise<Response> =>
        fetch(`http://127.0.0.1:${adminPort}/upstream/picked.local`, { method: 'POST', body });
      // new connections land on both workers: each must have loaded the module
      for (let i = 0; i < 20; i++) {
        assert.equal(await via('1'), 'two');
        assert.equal(await via('0'), 'one');
      }
      const unknown = await post(`balancer other; server 127.0.0.1:${ports[0]};`);
      assert.equal(unknown.status, 400);
      assert.match(await unknown.text(), /unknown balancer 'other' \(defined: header_pick\)/);
      const ok = await post(`balancer header_pick; server 127.0.0.1:${ports[1]}; server 127.0.0.1:${ports[0]};`);
      assert.equal(await ok.text(), 'success');
      for (let i = 0; i < 10; i++) assert.equal(await via('0'), 'two');
    } finally {
      await srv.stop();
      for (const s of servers) s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
