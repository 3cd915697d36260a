/**
 * The pieces of bench/dyups's https and WebSocket sections, run for a moment against real servers: the
 * certificate openssl makes, nginx serving over TLS with it, and the echo client counting round-trips
 * straight at the `ws` echo server and through cosocket's dyups proxy. Asserts what they count, never how fast.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { startDyupsServer, DYUPS_GROUP } from '../../bench/lib/dyups-server.js';
import { nginxPath, startNginxTlsConstant, startProcess, stopProc } from '../../bench/lib/processes.js';
import type { Proc } from '../../bench/lib/processes.js';
import { makeSelfSigned } from '../../bench/lib/self-signed.js';
import { runEchoClient } from '../../bench/dyups/websocket-echo.js';

const ECHO = fileURLToPath(new URL('../../bench/dyups/ws-echo.js', import.meta.url));

describe('bench/dyups https and WebSocket pieces', () => {
  const procs: Proc[] = [];
  after(async () => {
    for (const proc of procs.reverse()) await stopProc(proc);
  });

  it('makeSelfSigned: a certificate for the DNS name and the address, its own issuer', () => {
    const cert = makeSelfSigned([DYUPS_GROUP, '127.0.0.1']);
    try {
      const x509 = new X509Certificate(readFileSync(cert.certFile));
      assert.equal(x509.checkHost(DYUPS_GROUP), DYUPS_GROUP);
      assert.equal(x509.checkIP('127.0.0.1'), '127.0.0.1');
      assert.ok(x509.checkIssued(x509));
    } finally {
      cert.remove();
    }
  });

  it(
    'startNginxTlsConstant: the body over TLS, verified against the certificate',
    { skip: nginxPath() === null ? 'nginx is not installed' : false },
    async () => {
      const cert = makeSelfSigned([DYUPS_GROUP, '127.0.0.1']);
      const nginx = await startNginxTlsConstant('hello12345', cert);
      try {
        const body = await new Promise<string>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: nginx.port,
              path: '/',
              servername: DYUPS_GROUP,
              ca: readFileSync(cert.certFile),
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
        assert.equal(body, 'hello12345');
      } finally {
        await stopProc(nginx);
        cert.remove();
      }
    },
  );

  it('runEchoClient: echoes counted straight at the echo server and through the dyups proxy, none wrong', async () => {
    const echo = await startProcess(process.execPath, [ECHO], /listening (\d+)/);
    procs.push(echo);
    const straight = await runEchoClient(`ws://127.0.0.1:${echo.port}/`, 0.5, undefined, new Map(), 4, 1024);
    assert.ok(straight.count.messages > 0, `messages ${straight.count.messages}`);
    assert.equal(straight.count.mismatched, 0);
    assert.equal(straight.count.errors, 0);
    assert.ok(Number.isFinite(straight.cpu.client));

    const proxy = await startDyupsServer(echo.port);
    procs.push(proxy);
    const through = await runEchoClient(`ws://127.0.0.1:${proxy.port}/`, 0.5, DYUPS_GROUP, new Map(), 4, 1024);
    assert.ok(through.count.messages > 0, `messages ${through.count.messages}`);
    assert.equal(through.count.mismatched, 0);
    assert.equal(through.count.errors, 0);
  });
});
