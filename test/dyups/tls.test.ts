import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools } from '../../src/index.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { formatDetail, toJson, toNginx } from '../../src/dyups/format.js';
import { HealthChecker, probe } from '../../src/dyups/health-check.js';
import { parseUpstream } from '../../src/dyups/parse.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import type { FrontServer } from '../../src/dyups/front/index.js';
import { loadState, saveState } from '../../src/dyups/state-file.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { CHECK_DEFAULTS } from '../../src/dyups/upstream.js';
import { upstreamTlsOf } from '../../src/dyups/upstream-tls.js';
import { waitFor } from '../helpers/net.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestPki } from '../helpers/tls-certs.js';

function get(port: number, host: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/who', headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dyups groups over TLS (proxy_ssl)', () => {
  let pki: TestPki;
  let upstream: Server;
  let upstreamPort = 0;
  const seen: Array<string | false | null> = [];
  let proxy: FrontServer;
  let proxyPort = 0;
  const table = new UpstreamTable({ stateFile: null });
  const balancers = new Balancers();
  table.onChange((name, group) => balancers.set(group, name));

  before(async () => {
    pki = makeTestPki();
    const certificate = pki.issue(['app.test']);
    upstream = createServer({ cert: certificate.cert, key: certificate.key, keepAlive: true }, (req, res) => {
      seen.push((req.socket as TLSSocket).servername);
      res.end(`tls upstream ${req.url}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamPort = (upstream.address() as { port: number }).port;
    proxy = buildProxyServer(table, balancers, {
      scheduler: new Scheduler({ name: 'tls-proxy' }),
      connectTimeout: 1_000,
      readTimeout: 5_000,
      bodyLimit: 1024 * 1024,
    });
    await proxy.listen({ host: '127.0.0.1', port: 0 });
    proxyPort = (proxy.address() as { port: number }).port;
  });
  after(async () => {
    await proxy.close();
    await pools.drain(500);
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    pki.remove();
  });

  it('parses the proxy_ssl directives with clear errors', () => {
    const ca = pki.ca.certFile;
    const group = parseUpstream(
      'app.test',
      `server 127.0.0.1:1; proxy_ssl on; proxy_ssl_verify off; proxy_ssl_server_name off; proxy_ssl_name b.test; proxy_ssl_trusted_certificate ${ca};`,
    );
    assert.deepEqual(group.ssl, { verify: false, serverName: false, name: 'b.test', trustedCertificate: ca });
    assert.deepEqual(parseUpstream('x', 'server 127.0.0.1:1; proxy_ssl on;').ssl, {
      verify: true,
      serverName: true,
      name: null,
      trustedCertificate: null,
    });
    assert.equal(parseUpstream('x', 'server 127.0.0.1:1; proxy_ssl off;').ssl, undefined);
    const bad: Array<[string, RegExp]> = [
      ['proxy_ssl yes;', /proxy_ssl is on or off/],
      ['proxy_ssl on; proxy_ssl on;', /proxy_ssl given twice/],
      ['proxy_ssl_verify off;', /proxy_ssl_verify needs 'proxy_ssl on;'/],
      ['proxy_ssl on; proxy_ssl_name;', /proxy_ssl_name takes one value/],
      ['proxy_ssl on; proxy_ssl_name "a b";', /proxy_ssl_name is a host name/],
      ['proxy_ssl on; proxy_ssl_name a..b;', /proxy_ssl_name is a host name/],
      ['proxy_ssl on; proxy_ssl_name a.-b;', /proxy_ssl_name is a host name/],
      [`proxy_ssl on; proxy_ssl_name ${'a'.repeat(64)}.test;`, /proxy_ssl_name is a host name/],
      [`proxy_ssl on; proxy_ssl_name ${'a.'.repeat(127)}bc;`, /proxy_ssl_name is a host name/],
      ['proxy_ssl on; proxy_ssl_trusted_certificate ca.pem;', /needs an absolute path/],
      [
        'proxy_ssl on; proxy_ssl_trusted_certificate /nonexistent/ca.pem;',
        /proxy_ssl_trusted_certificate \/nonexistent\/ca\.pem: cannot read it \(ENOENT\)/,
      ],
      [`proxy_ssl on; proxy_ssl_trusted_certificate ${pki.ca.keyFile};`, /holds no PEM certificate/],
    ];
    for (const [body, problem] of bad)
      assert.throws(() => parseUpstream('x', `server 127.0.0.1:1; ${body}`), problem, body);
  });

  it('round-trips through the nginx text (state file, Redis), /detail and the JSON detail', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dyups-tls-state-'));
    try {
      const body = `server 127.0.0.1:1; proxy_ssl on; proxy_ssl_server_name off; proxy_ssl_name b.test; proxy_ssl_trusted_certificate "${pki.ca.certFile}";`;
      const group = parseUpstream('app.test', body);
      assert.deepEqual(parseUpstream('app.test', toNginx(group)), group);
      const file = join(dir, 'state.conf');
      saveState(file, [group, parseUpstream('plain.test', 'server 127.0.0.1:2;')]);
      const loaded = loadState(file);
      assert.deepEqual(
        loaded.find((g) => g.name === 'app.test'),
        group,
      );
      assert.equal(loaded.find((g) => g.name === 'plain.test')!.ssl, undefined);
      assert.match(
        formatDetail([group]),
        new RegExp(
          `^app\\.test\\nserver 127\\.0\\.0\\.1:1 .*\\nproxy_ssl on verify=1 server_name=0 name=b\\.test trusted_certificate=${pki.ca.certFile.replace(/[.]/g, '\\.')}\\n\\n$`,
        ),
      );
      assert.deepEqual((toJson(group) as { ssl: unknown }).ssl, group.ssl);
      assert.equal((toJson(parseUpstream('p', 'server 127.0.0.1:2;')) as { ssl: unknown }).ssl, null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('proxies to an https upstream: verified against the trusted certificate, the group name as SNI', async () => {
    seen.length = 0;
    table.update(
      'app.test',
      `server 127.0.0.1:${upstreamPort}; proxy_ssl on; proxy_ssl_trusted_certificate ${pki.ca.certFile};`,
    );
    for (let i = 0; i < 3; i++) {
      const res = await get(proxyPort, 'app.test');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, 'tls upstream /who');
    }
    assert.deepEqual(seen, ['app.test', 'app.test', 'app.test']);
    const tlsPools = pools.stats().filter((p) => p.name.startsWith(`dyups:127.0.0.1:${upstreamPort}|tls:`));
    assert.equal(tlsPools.length, 1);
    assert.equal(tlsPools[0]!.created, 1, 'kept alive: one TLS connection for the three requests');
  });

  it('refuses an upstream certificate it cannot verify (502), unless proxy_ssl_verify off', async () => {
    table.update(
      'other.test',
      `server 127.0.0.1:${upstreamPort}; proxy_ssl on; proxy_ssl_trusted_certificate ${pki.ca.certFile};`,
    );
    const refused = await get(proxyPort, 'other.test'); // the certificate is for app.test
    assert.equal(refused.status, 502);
    table.update('other.test', `server 127.0.0.1:${upstreamPort}; proxy_ssl on; proxy_ssl_verify off;`);
    const allowed = await get(proxyPort, 'other.test');
    assert.equal(allowed.status, 200, allowed.text);
    // proxy_ssl_name: the name sent and verified instead of the group name
    seen.length = 0;
    table.update(
      'other.test',
      `server 127.0.0.1:${upstreamPort}; proxy_ssl on; proxy_ssl_name app.test; proxy_ssl_trusted_certificate ${pki.ca.certFile};`,
    );
    assert.equal((await get(proxyPort, 'other.test')).status, 200);
    assert.deepEqual(seen, ['app.test']);
    // proxy_ssl_server_name off: no SNI, the certificate still verified against the name
    seen.length = 0;
    table.update(
      'other.test',
      `server 127.0.0.1:${upstreamPort}; proxy_ssl on; proxy_ssl_server_name off; proxy_ssl_name app.test; proxy_ssl_trusted_certificate ${pki.ca.certFile};`,
    );
    assert.equal((await get(proxyPort, 'other.test')).status, 200);
    assert.deepEqual(seen, [false]);
  });

  it('health checks speak TLS to a proxy_ssl group, verified like the proxy', async () => {
    const check = { ...CHECK_DEFAULTS, type: 'http' as const, timeout: 2_000, httpSend: 'GET / HTTP/1.0\r\n\r\n' };
    const good = upstreamTlsOf(
      parseUpstream('app.test', `server 127.0.0.1:1; proxy_ssl on; proxy_ssl_trusted_certificate ${pki.ca.certFile};`),
    );
    const untrusted = upstreamTlsOf(parseUpstream('app.test', 'server 127.0.0.1:1; proxy_ssl on;'));
    assert.equal(await probe(`127.0.0.1:${upstreamPort}`, check, good), true);
    assert.equal(await probe(`127.0.0.1:${upstreamPort}`, { ...check, type: 'tcp' }, good), true);
    assert.equal(await probe(`127.0.0.1:${upstreamPort}`, check, untrusted), false);
    assert.equal(await probe(`127.0.0.1:${upstreamPort}`, check), false, 'plain HTTP to a TLS port fails');

    const checkTable = new UpstreamTable({ stateFile: null });
    const checkBalancers = new Balancers();
    const checker = new HealthChecker(checkBalancers);
    checkTable.onChange((name, group) => {
      checkBalancers.set(group, name);
      checker.set(group, name);
    });
    try {
      checkTable.update(
        'app.test',
        `server 127.0.0.1:${upstreamPort}; check interval=100ms rise=1 fall=1 timeout=1s type=http; proxy_ssl on; proxy_ssl_trusted_certificate ${pki.ca.certFile};`,
      );
      const health = (): string | null | undefined =>
        checkBalancers.health('app.test').get(`127.0.0.1:${upstreamPort}`)?.check;
      assert.ok(await waitFor(() => health() === 'up', 3_000), 'a TLS server never passed its check');
    } finally {
      await checker.close();
    }
  });
});
