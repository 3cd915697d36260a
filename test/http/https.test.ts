import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError, Scheduler, TlsVerifyError, http, pools } from '../../src/index.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestPki } from '../helpers/tls-certs.js';

const scheduler = new Scheduler({ name: 'https-tests' });

describe('http client over TLS', () => {
  let pki: TestPki;
  let server: Server;
  let port = 0;
  const seen: Array<{ host: string | undefined; servername: string | false | null; reused: boolean }> = [];

  before(async () => {
    pki = makeTestPki();
    const certificate = pki.issue(['localhost', '127.0.0.1']);
    server = createServer({ cert: certificate.cert, key: certificate.key, keepAlive: true }, (req, res) => {
      const socket = req.socket as TLSSocket;
      seen.push({ host: req.headers.host, servername: socket.servername, reused: socket.isSessionReused() });
      res.end(`hello ${req.method} ${req.url}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  after(async () => {
    await pools.drain();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    pki.remove();
  });

  it('http.request(https://...) verifies the name in the URL, sends it as SNI and Host, keeps the connection', async () => {
    seen.length = 0;
    const tls = { ca: pki.ca.cert };
    const bodies = await scheduler.go(function* () {
      const out: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = yield* http.request(`https://localhost:${port}/x?i=${i}`, { tls });
        out.push(`${res.status} ${res.body.toString()}`);
      }
      return out;
    });
    assert.deepEqual(bodies, ['200 hello GET /x?i=0', '200 hello GET /x?i=1', '200 hello GET /x?i=2']);
    assert.deepEqual(
      seen.map((s) => [s.host, s.servername]),
      Array(3).fill([`localhost:${port}`, 'localhost']),
    );
    const stats = pools.stats().filter((p) => p.name.startsWith(`localhost:${port}|tls:`));
    assert.equal(stats.length, 1);
    assert.equal(stats[0]!.created, 1, 'one TLS connection, kept alive and reused');
    assert.equal(stats[0]!.reused, 2);
  });

  it('refuses a certificate it cannot verify, with the clear error', async () => {
    const err = await scheduler
      .go(function* () {
        yield* http.request(`https://localhost:${port}/`); // our test CA is not in the default store
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof TlsVerifyError, String(err));
    assert.equal(err.reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(err.message, /certificate verify failed for 'localhost'/);
  });

  it('http.connect(host, port, { tls }) speaks HTTPS to an IP address with a servername', async () => {
    seen.length = 0;
    const res = await scheduler.go(function* () {
      const conn = yield* http.connect('127.0.0.1', port, { tls: { servername: 'localhost', ca: pki.ca.cert } });
      const response = yield* conn.request({ method: 'POST', path: '/c', body: 'x' });
      const body = yield* response.readBody();
      conn.setkeepalive();
      return `${response.status} ${body.toString()}`;
    });
    assert.equal(res, '200 hello POST /c');
    assert.deepEqual(seen[0], { host: `127.0.0.1:${port}`, servername: 'localhost', reused: seen[0]!.reused });
  });

  it('refuses tls options with an http:// URL (use https://) instead of connecting with TLS', async () => {
    seen.length = 0;
    const err = await scheduler
      .go(function* () {
        yield* http.request(`http://localhost:${port}/`, { tls: { ca: pki.ca.cert } });
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.match(err.message, /tls options given for the http:\/\/ URL .*: use https:\/\//);
    assert.deepEqual(seen, [], 'nothing was sent');
  });
});
