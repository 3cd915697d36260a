import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools } from '../../src/index.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { HealthChecker } from '../../src/dyups/health-check.js';
import { parseUpstream } from '../../src/dyups/parse.js';
import { errorPage } from '../../src/dyups/front/index.js';
import type { FrontServer } from '../../src/dyups/front/index.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import { StateFileError, loadState } from '../../src/dyups/state-file.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { RateLimitedLog } from '../../src/server/rate-limited-log.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestPki } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/net.js';
import { deadPort } from '../helpers/tcp-server.js';

interface Answer {
  status: number;
  text: string;
}

function send(port: number, host: string, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: '/p', headers: { host }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A TLS server answering its name, the method and the body it got. */
async function tlsEcho(name: string, cert: { cert: string; key: string }): Promise<Server> {
  const server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => res.end(`${name} ${req.method} ${body}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (server: Server | TcpServer): number => (server.address() as { port: number }).port;

describe('dyups over TLS: failed handshakes and trusted certificate files that go bad', () => {
  let pki: TestPki;
  let dir: string;
  let good: Server;
  let untrusted: Server;
  /** accepts TCP and closes at once: the handshake fails with nothing sent */
  let hangUp: TcpServer;
  let proxy: FrontServer;
  let proxyPort = 0;
  const logged: string[] = [];
  const errors = new RateLimitedLog((line) => logged.push(line));
  const table = new UpstreamTable({ stateFile: null });
  const balancers = new Balancers();
  table.onChange((name, group) => balancers.set(group, name));

  before(async () => {
    pki = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), 'cosocket-tls-failures-'));
    good = await tlsEcho('good', pki.issue(['app.test', 'gone.test', 'post.test', 'hangup.test']));
    untrusted = await tlsEcho('untrusted', pki.selfSigned(['post.test']));
    hangUp = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
    proxy = buildProxyServer(table, balancers, {
      scheduler: new Scheduler({ name: 'tls-failures' }),
      connectTimeout: 2_000,
      readTimeout: 10_000,
      bodyLimit: 1024 * 1024,
      errorLog: (line) => logged.push(line),
      // as cosocket serve wires it: one line per group a second, the rest counted
      upstreamErrorLog: (target, line) => errors.error(target, line),
    });
    await proxy.listen({ host: '127.0.0.1', port: 0 });
    proxyPort = (proxy.address() as { port: number }).port;
  });
  after(async () => {
    await proxy.close();
    await pools.drain(500);
    for (const server of [good, untrusted]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await new Promise<void>((resolve) => hangUp.close(() => resolve()));
    pki.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a POST to the next server when the TLS handshake with the first fails (nothing was sent)', async () => {
    const ca = pki.ca.certFile;
    // max_fails=0 keeps the failing server first in turn: round robin alternates, every other POST meets it
    for (const [name, bad] of [
      ['post.test', portOf(untrusted)], // its certificate does not verify
      ['hangup.test', portOf(hangUp)], // closes during the handshake
    ] as const) {
      const result = table.update(
        name,
        `server 127.0.0.1:${bad} max_fails=0; server 127.0.0.1:${portOf(good)}; proxy_ssl on; proxy_ssl_trusted_certificate ${ca};`,
      );
      assert.equal(result.status, 200, result.message);
      for (let i = 0; i < 4; i++) {
        const answer = await send(proxyPort, name, 'POST', `order=${i}`);
        assert.deepEqual(answer, { status: 200, text: `good POST order=${i}` }, name);
      }
    }
  });

  it('sends a POST to the next server when the connection is refused', async () => {
    const dead = await deadPort();
    const result = table.update(
      'app.test',
      `server 127.0.0.1:${dead} max_fails=0; server 127.0.0.1:${portOf(good)}; proxy_ssl on; proxy_ssl_trusted_certificate ${pki.ca.certFile};`,
    );
    assert.equal(result.status, 200, result.message);
    for (let i = 0; i < 2; i++)
      assert.deepEqual(await send(proxyPort, 'app.test', 'POST', 'x'), { status: 200, text: 'good POST x' });
  });

  it('refuses a group whose trusted certificate file is missing, not PEM or holds a broken certificate (400 naming it)', () => {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n');
    const text = join(dir, 'text.pem');
    writeFileSync(text, 'not a certificate\n');
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'missing.pem'), /cannot read it \(ENOENT\)/],
      [text, /holds no PEM certificate/],
      [garbage, /certificate #1 does not parse/],
      [dir, /cannot read it \(EISDIR\)/],
    ];
    for (const [file, problem] of cases) {
      const result = table.update(
        'bad.test',
        `server 127.0.0.1:1; proxy_ssl on; proxy_ssl_trusted_certificate ${file};`,
      );
      assert.equal(result.status, 400, file);
      assert.ok(result.message.includes(`proxy_ssl_trusted_certificate ${file}: `), result.message);
      assert.match(result.message, problem);
    }
    assert.equal(table.get('bad.test'), undefined);
  });

  it('answers the generic 502 when the file went away after the group was stored, logging why once a second at most', async () => {
    const file = join(dir, 'gone-ca.pem');
    copyFileSync(pki.ca.certFile, file);
    const result = table.update(
      'gone.test',
      `server 127.0.0.1:${portOf(good)}; proxy_ssl on; proxy_ssl_trusted_certificate ${file};`,
    );
    assert.equal(result.status, 200, result.message);
    unlinkSync(file);
    logged.length = 0;
    const started = Date.now();
    const requests = 20;
    for (let i = 0; i < requests; i++) {
      const answer = await send(proxyPort, 'gone.test');
      assert.deepEqual(answer, { status: 502, text: errorPage(502) });
    }
    const elapsed = Date.now() - started;
    const lines = logged.filter((line) => line.includes(`upstream 'gone.test': proxy_ssl_trusted_certificate ${file}`));
    assert.ok(
      logged.every((line) => line.includes(`upstream 'gone.test'`)),
      logged.join('\n'),
    );
    assert.ok(lines.length >= 1, 'the reason is logged');
    assert.ok(lines.length <= Math.floor(elapsed / 1_000) + 1, `${lines.length} lines in ${elapsed} ms`);
    assert.match(lines[0]!, /cannot read it \(ENOENT\)/);
    assert.ok(!lines[0]!.includes('\n    at '), 'no stack');
    // not PEM now: posting the group again is refused, and the stored version still answers 502
    writeFileSync(file, 'not a certificate\n');
    const again = table.update(
      'gone.test',
      `server 127.0.0.1:${portOf(good)}; proxy_ssl on; proxy_ssl_trusted_certificate ${file};`,
    );
    assert.equal(again.status, 400);
    assert.match(again.message, /holds no PEM certificate/);
    assert.equal((await send(proxyPort, 'gone.test')).status, 502);
    // the file back: the next request reads it, and the server is still up
    copyFileSync(pki.ca.certFile, file);
    assert.deepEqual(await send(proxyPort, 'gone.test'), { status: 200, text: 'good GET ' });
  });

  it('fails the health probes of a group whose file went away before its checks started (the server marked down)', async () => {
    const file = join(dir, 'check-ca.pem');
    copyFileSync(pki.ca.certFile, file);
    const address = `127.0.0.1:${portOf(good)}`;
    const body = `server ${address}; check interval=100ms rise=1 fall=1 timeout=1s type=tcp default_down=false; proxy_ssl on; proxy_ssl_name app.test; proxy_ssl_trusted_certificate ${file};`;
    const checkBalancers = new Balancers();
    const checker = new HealthChecker(checkBalancers);
    const health = (name: string): string | null | undefined => checkBalancers.health(name).get(address)?.check;
    try {
      // the same server, with its file in place: up
      const kept = parseUpstream('kept.test', body);
      checkBalancers.set(kept, 'kept.test');
      checker.set(kept, 'kept.test');
      assert.ok(await waitFor(() => health('kept.test') === 'up', 5_000), 'never passed with its file');
      const lost = parseUpstream('lost.test', body);
      unlinkSync(file);
      checkBalancers.set(lost, 'lost.test');
      checker.set(lost, 'lost.test');
      assert.ok(await waitFor(() => health('lost.test') === 'down', 5_000), 'a group without its file never went down');
    } finally {
      await checker.close();
    }
  });

  it('brings the probed server back up on its own once the trusted certificate file is back (no change to the group)', async () => {
    const file = join(dir, 'back-ca.pem');
    const address = `127.0.0.1:${portOf(good)}`;
    const body = `server ${address}; check interval=100ms rise=1 fall=1 timeout=1s type=tcp default_down=false; proxy_ssl on; proxy_ssl_name app.test; proxy_ssl_trusted_certificate ${file};`;
    copyFileSync(pki.ca.certFile, file);
    const group = parseUpstream('back.test', body);
    unlinkSync(file);
    const checkBalancers = new Balancers();
    const checker = new HealthChecker(checkBalancers);
    const health = (): string | null | undefined => checkBalancers.health('back.test').get(address)?.check;
    try {
      checkBalancers.set(group, 'back.test');
      checker.set(group, 'back.test');
      assert.ok(await waitFor(() => health() === 'down', 5_000), 'never went down without its file');
      copyFileSync(pki.ca.certFile, file);
      assert.ok(await waitFor(() => health() === 'up', 5_000), 'stayed down with its file back');
    } finally {
      await checker.close();
    }
  });

  it('stops the start with an error naming the group and the file when the state file names a missing one', () => {
    const missing = join(dir, 'state-missing-ca.pem');
    const state = join(dir, 'state.conf');
    writeFileSync(
      state,
      `upstream ok.test {\n  server 127.0.0.1:1;\n}\nupstream tls.test {\n  server 127.0.0.1:1;\n  proxy_ssl on;\n  proxy_ssl_trusted_certificate ${missing};\n}\n`,
    );
    assert.throws(
      () => loadState(state),
      (err: unknown) =>
        err instanceof StateFileError &&
        err.message.includes(
          `state file ${state}, line 7: upstream 'tls.test': proxy_ssl_trusted_certificate ${missing}: cannot read it (ENOENT)`,
        ),
    );
  });
});
