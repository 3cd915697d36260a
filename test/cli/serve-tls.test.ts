import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { runCli, startServer } from '../helpers/cli.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestCertificate, TestPki } from '../helpers/tls-certs.js';

function getStatus(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, ca, servername: 'localhost', path: '/status', agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('cosocket serve with TLS on its listeners', () => {
  let pki: TestPki;
  let one: TestCertificate;
  let other: TestCertificate;

  before(() => {
    pki = makeTestPki();
    one = pki.issue(['localhost', '127.0.0.1']);
    other = pki.issue(['other.test']);
  });

  after(() => pki.remove());

  it('serves https with --tls-cert and --tls-key, and says so', async () => {
    const server = await startServer([
      '--redis',
      'redis://127.0.0.1:1',
      '--tls-cert',
      one.certFile,
      '--tls-key',
      one.keyFile,
    ]);
    try {
      assert.match(server.banner, /listening on https:\/\/127\.0\.0\.1:\d+/);
      assert.equal(await getStatus(server.port, pki.ca.cert), 200);
    } finally {
      await server.stop();
    }
  });

  it('refuses a key that does not match its certificate with one line, exit 2, before listening', async () => {
    const result = await runCli([
      'serve',
      '--proxy-port',
      '0',
      '--proxy-tls-cert',
      one.certFile,
      '--proxy-tls-key',
      other.keyFile,
    ]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^cosocket serve: 'tls\.proxy\.key' does not match the certificate of 'tls\.proxy\.cert': '.*\.key' is not the key of '.*\.crt'\n$/,
    );
  });
});
