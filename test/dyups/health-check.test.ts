import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Balancers } from '../../src/dyups/balancer.js';
import { HealthChecker, probe } from '../../src/dyups/health-check.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { CHECK_DEFAULTS } from '../../src/dyups/upstream.js';
import { waitFor } from '../helpers/net.js';
import { deadPort } from '../helpers/tcp-server.js';

/** An HTTP server whose answer can be switched between 200 and 500 while it runs. */
function switchable(): { server: Server; status: { code: number }; probes: { count: number } } {
  const status = { code: 200 };
  const probes = { count: 0 };
  const server = createHttpServer((_req, res) => {
    probes.count++;
    res.writeHead(status.code).end();
  });
  return { server, status, probes };
}

const listen = (server: Server | ReturnType<typeof createTcpServer>): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));

describe('dyups active health checks', () => {
  const a = switchable();
  const b = switchable();
  const silent = createTcpServer(() => {}); // accepts and never answers
  let portA = 0;
  let portB = 0;
  let silentPort = 0;
  before(async () => {
    [portA, portB, silentPort] = await Promise.all([listen(a.server), listen(b.server), listen(silent)]);
  });
  after(() => {
    for (const s of [a.server, b.server]) {
      s.closeAllConnections();
      s.close();
    }
    silent.close();
  });

  it('probe: tcp connects, http reads the status line against check_http_expect_alive, silence times out', async () => {
    const tcp = { ...CHECK_DEFAULTS, type: 'tcp' as const, timeout: 300 };
    const http = { ...CHECK_DEFAULTS, type: 'http' as const, timeout: 300 };
    assert.equal(await probe(`127.0.0.1:${portA}`, tcp), true);
    assert.equal(await probe(`127.0.0.1:${await deadPort()}`, tcp), false);
    assert.equal(await probe(`127.0.0.1:${portA}`, http), true);
    b.status.code = 500;
    assert.equal(await probe(`127.0.0.1:${portB}`, http), false);
    assert.equal(await probe(`127.0.0.1:${portB}`, { ...http, httpExpectAlive: ['http_5xx'] }), true);
    b.status.code = 200;
    const started = Date.now();
    assert.equal(await probe(`127.0.0.1:${silentPort}`, http), false);
    assert.ok(Date.now() - started >= 250, 'a silent server must fail by the check timeout');
    // check port=N probes another port than the one requests go to
    assert.equal(await probe(`127.0.0.1:${await deadPort()}`, { ...tcp, port: portA }), true);
  });

  it('marks a failing server down after `fall` probes and up after `rise`, and the balancer follows', async () => {
    const table = new UpstreamTable({ stateFile: null });
    const balancers = new Balancers();
    const checker = new HealthChecker(balancers);
    table.onChange((name, group) => {
      balancers.set(group, name);
      checker.set(group, name);
    });
    try {
      table.update(
        'app',
        `server 127.0.0.1:${portA}; server 127.0.0.1:${portB}; check interval=100ms rise=2 fall=2 timeout=500ms type=http;`,
      );
      const health = (port: number): string | null | undefined =>
        balancers.health('app').get(`127.0.0.1:${port}`)?.check;
      assert.equal(health(portA), 'down', 'default_down: a server starts down until it passes `rise` probes');
      assert.ok(await waitFor(() => health(portA) === 'up' && health(portB) === 'up', 3_000), 'never came up');
      b.status.code = 500;
      const probesBefore = b.probes.count;
      assert.ok(await waitFor(() => health(portB) === 'down', 3_000), 'a failing server was never marked down');
      assert.ok(b.probes.count - probesBefore >= 2, 'down after fewer probes than `fall`');
      const picks = Array.from(
        { length: 20 },
        () => balancers.get('app')!.pick({ clientIp: '1.1.1.1', hashKey: '/' }, new Set())!.address,
      );
      assert.deepEqual([...new Set(picks)], [`127.0.0.1:${portA}`]);
      b.status.code = 200;
      assert.ok(await waitFor(() => health(portB) === 'up', 3_000), 'a recovered server was never marked up');
      // removing the check line stops probing and forgets the verdict
      table.update('app', `server 127.0.0.1:${portA}; server 127.0.0.1:${portB};`);
      assert.equal(health(portB), null);
      const count = b.probes.count;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(b.probes.count, count, 'still probing after the check line was removed');
    } finally {
      b.status.code = 200;
      await checker.close();
    }
  });
});
