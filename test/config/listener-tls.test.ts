import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../../src/config/server-config.js';
import { InvalidArgumentError } from '../../src/errors/index.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestCertificate, TestPki } from '../helpers/tls-certs.js';

describe('listener TLS settings', () => {
  let pki: TestPki;
  let one: TestCertificate;
  let other: TestCertificate;
  let configs = 0;

  before(() => {
    pki = makeTestPki();
    one = pki.issue(['one.test']);
    other = pki.issue(['other.test']);
  });

  after(() => pki.remove());

  function fromFile(settings: unknown): Promise<unknown> {
    const path = join(pki.ca.certFile, '..', `settings-${++configs}.json`);
    writeFileSync(path, JSON.stringify(settings));
    return resolveConfig({ file: path, env: {} });
  }

  async function refused(settings: unknown, message: RegExp): Promise<void> {
    await assert.rejects(fromFile(settings), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.match(err.message, message);
      return true;
    });
  }

  it('keeps the file names given, as absolute paths', async () => {
    const config = await resolveConfig({
      env: {},
      flags: new Map([
        ['proxy-tls-cert', one.certFile],
        ['proxy-tls-key', one.keyFile],
      ]),
    });
    assert.deepEqual(config.tls.proxy, { cert: one.certFile, key: one.keyFile, sni: {} });
    assert.deepEqual(config.tls.app, { cert: null, key: null, sni: {} });
  });

  it('refuses a key that is not the certificate’s, naming both settings', async () => {
    await refused(
      { tls: { app: { cert: one.certFile, key: other.keyFile } } },
      /'tls\.app\.key' does not match the certificate of 'tls\.app\.cert'/,
    );
    await assert.rejects(
      resolveConfig({
        env: {},
        flags: new Map([
          ['admin-tls-cert', one.certFile],
          ['admin-tls-key', other.keyFile],
        ]),
      }),
      /'tls\.admin\.key' does not match the certificate of 'tls\.admin\.cert'/,
    );
    await refused(
      {
        tls: {
          proxy: {
            cert: one.certFile,
            key: one.keyFile,
            sni: { 'other.test': { cert: other.certFile, key: one.keyFile } },
          },
        },
      },
      /'tls\.proxy\.sni\['other\.test'\]\.key' does not match/,
    );
  });

  it('refuses an unreadable file, naming the setting and the file', async () => {
    await refused(
      { tls: { app: { cert: '/nonexistent/app.crt', key: one.keyFile } } },
      /'tls\.app\.cert' cannot be read: '\/nonexistent\/app\.crt' \(ENOENT\)/,
    );
    await assert.rejects(
      resolveConfig({ env: {}, flags: new Map([['tls-key', '/nonexistent/k.pem']]) }),
      /--tls-key cannot be read: '\/nonexistent\/k\.pem' \(ENOENT\)/,
    );
  });

  it('refuses a file that is not a certificate or not a key', async () => {
    await refused(
      { tls: { app: { cert: one.keyFile, key: one.keyFile } } },
      /'tls\.app\.cert' is not a PEM certificate/,
    );
    await refused(
      { tls: { app: { cert: one.certFile, key: one.certFile } } },
      /'tls\.app\.key' is not an unencrypted PEM private key/,
    );
  });

  it('refuses half a pair, SNI without a default certificate, and bad server names', async () => {
    await refused({ tls: { proxy: { cert: one.certFile } } }, /'tls\.proxy\.cert' is set without 'tls\.proxy\.key'/);
    await refused({ tls: { admin: { key: one.keyFile } } }, /'tls\.admin\.key' is set without 'tls\.admin\.cert'/);
    await refused(
      { tls: { app: { sni: { 'one.test': { cert: one.certFile, key: one.keyFile } } } } },
      /'tls\.app\.sni' needs a default certificate/,
    );
    await refused(
      {
        tls: {
          app: { cert: one.certFile, key: one.keyFile, sni: { 'bad name': { cert: one.certFile, key: one.keyFile } } },
        },
      },
      /'bad name' is not a server name/,
    );
    await refused(
      { tls: { app: { cert: one.certFile, key: one.keyFile, sni: { 'one.test': { cert: one.certFile } } } } },
      /'tls\.app\.sni', server name 'one\.test': key must be a file name, got undefined/,
    );
    await refused({ tls: { app: { certificate: one.certFile } } }, /unknown key 'tls\.app\.certificate'/);
  });
});
