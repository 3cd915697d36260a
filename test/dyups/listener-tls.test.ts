import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:tls';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../../src/config/server-config.js';
import type { ServerConfig } from '../../src/config/server-config.js';
import { startDyups } from '../../src/dyups/listeners.js';
import type { DyupsListeners } from '../../src/dyups/listeners.js';
import { buildApp } from '../../src/server/app.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { deadPort } from '../helpers/tcp-server.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestCertificate, TestPki } from '../helpers/tls-certs.js';

interface Answer {
  status: number;
  body: string;
}

/** An https request verified against `ca` (servername: the name the certificate must carry). */
function get(
  port: number,
  ca: string,
  options: { path?: string; method?: string; host?: string; body?: string; servername?: string; origin?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        ca,
        servername: options.servername ?? 'localhost',
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: {
          ...(options.host ? { host: options.host } : {}),
          ...(options.origin ? { origin: options.origin } : {}),
          connection: 'close',
        },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The certificate a TLS client is shown for `servername`, verified against `ca`. */
function certificateFor(port: number, ca: string, servername: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername }, () => {
      const cert = new X509Certificate(socket.getPeerCertificate().raw);
      socket.end();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

function fingerprint(cert: TestCertificate): string {
  return new X509Certificate(cert.cert).fingerprint256;
}

describe('TLS on the listeners', () => {
  let pki: TestPki;
  let main: TestCertificate;
  let first: TestCertificate;
  let second: TestCertificate;
  let upstream: Server;
  let upstreamPort: number;
  let configs = 0;

  before(async () => {
    pki = makeTestPki();
    main = pki.issue(['localhost', '127.0.0.1']);
    first = pki.issue(['first.test']);
    second = pki.issue(['second.test', '*.second.test']);
    upstream = createServer((req, res) => res.end(`upstream saw ${req.url}`));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamPort = (upstream.address() as { port: number }).port;
  });

  after(() => {
    upstream.close();
    pki.remove();
  });

  function tlsOf(withSni: boolean): object {
    return {
      cert: main.certFile,
      key: main.keyFile,
      ...(withSni
        ? {
            sni: {
              'first.test': { cert: first.certFile, key: first.keyFile },
              '*.second.test': { cert: second.certFile, key: second.keyFile },
              'Second.Test': { cert: second.certFile, key: second.keyFile },
            },
          }
        : {}),
    };
  }

  async function configFor(settings: Record<string, unknown>): Promise<ServerConfig> {
    const path = join(dirname(pki.ca.certFile), `config-${++configs}.json`);
    writeFileSync(path, JSON.stringify(settings));
    return resolveConfig({ file: path, env: {} });
  }

  it('the app listener answers https verified against the CA, and SNI picks the certificate', async () => {
    const config = await configFor({ port: 0, tls: { app: tlsOf(true) } });
    const app = await buildApp({
      config,
      scheduler: new Scheduler({ name: 'http' }),
      redisUrl: `redis://127.0.0.1:${await deadPort()}`,
      redis: { url: 'redis://127.0.0.1:1', embedded: false },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const port = (app.server.address() as { port: number }).port;
      const status = await get(port, pki.ca.cert, { path: '/status' });
      assert.equal(status.status, 200);
      assert.match(status.body, /scheduler|redis/);
      assert.equal((await certificateFor(port, pki.ca.cert, 'first.test')).fingerprint256, fingerprint(first));
      assert.equal((await certificateFor(port, pki.ca.cert, 'a.second.test')).fingerprint256, fingerprint(second));
      assert.equal((await certificateFor(port, pki.ca.cert, 'SECOND.test')).fingerprint256, fingerprint(second));
      // a name with no certificate of its own gets the default one, like nginx's default server
      assert.equal((await certificateFor(port, pki.ca.cert, 'localhost')).fingerprint256, fingerprint(main));
      // plain HTTP is not answered on a TLS listener
      await assert.rejects(fetch(`http://127.0.0.1:${port}/status`));
    } finally {
      await app.close();
    }
  });

  it('the admin and proxy listeners answer https: a group added over https is proxied over https', async () => {
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const config = await configFor({
      dyups: { adminPort, proxyPort },
      tls: { admin: tlsOf(false), proxy: tlsOf(true) },
    });
    let dyups: DyupsListeners | null = null;
    try {
      dyups = await startDyups(config, new Scheduler({ name: 'http' }), 'single');
      assert.ok(dyups !== null);
      assert.match(dyups.banner, new RegExp(`dyups admin on https://127\\.0\\.0\\.1:${adminPort}`));
      assert.match(dyups.banner, new RegExp(`dyups proxy on https://127\\.0\\.0\\.1:${proxyPort}`));
      const added = await get(adminPort, pki.ca.cert, {
        path: '/upstream/backend',
        method: 'POST',
        host: 'localhost',
        body: `server 127.0.0.1:${upstreamPort};`,
      });
      assert.deepEqual(added, { status: 200, body: 'success' });
      // its own pages (the dashboard's buttons) send an https Origin: accepted; the same name over http is another origin
      const own = await get(adminPort, pki.ca.cert, {
        path: '/upstream/backend/servers/127.0.0.1:1',
        method: 'DELETE',
        host: `localhost:${adminPort}`,
        origin: `https://localhost:${adminPort}`,
      });
      assert.equal(own.status, 404, own.body);
      const plain = await get(adminPort, pki.ca.cert, {
        path: '/list',
        host: `localhost:${adminPort}`,
        origin: `http://localhost:${adminPort}`,
      });
      assert.equal(plain.status, 403);
      assert.match(plain.body, /Origin 'http:\/\/localhost:\d+' is not this listener's own/);
      const proxied = await get(proxyPort, pki.ca.cert, { path: '/hello', host: 'backend' });
      assert.deepEqual(proxied, { status: 200, body: 'upstream saw /hello' });
      // the proxy's certificate for an SNI name, and the request still routed by Host
      assert.equal((await certificateFor(proxyPort, pki.ca.cert, 'first.test')).fingerprint256, fingerprint(first));
      const viaSni = await get(proxyPort, pki.ca.cert, { path: '/sni', host: 'backend', servername: 'first.test' });
      assert.deepEqual(viaSni, { status: 200, body: 'upstream saw /sni' });
    } finally {
      await dyups?.close();
    }
  });

  it('a listener without TLS settings stays plain HTTP', async () => {
    const proxyPort = await deadPort();
    const config = await configFor({ dyups: { proxyPort }, tls: { app: tlsOf(false) } });
    const dyups = (await startDyups(config, new Scheduler({ name: 'http' }), 'single'))!;
    try {
      assert.match(dyups.banner, /dyups proxy on http:\/\//);
      const res = await fetch(`http://127.0.0.1:${proxyPort}/`, { headers: { host: 'nothing' } });
      await res.text();
      assert.ok(res.status >= 400);
    } finally {
      await dyups.close();
    }
  });
});
