import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import { waitForAdmin } from './harness.js';

/**
 * Issue 12, finding 12: past ~1,000 request headers Node dropped the rest silently and the request
 * was served on a partial head. Every listener (app, dyups proxy, dyups admin) answers 431 and closes.
 * Over raw sockets against a real `cosocket serve`; asserts status codes and framing, never timing.
 */

/** Bounds a failure only: a correct run never waits this long. */
const LIMIT = 30_000;

let srv: RunningServer;
let adminPort: number;
let proxyPort: number;
let upstream: HttpServer;
const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-security-headers-'));

/** A keep-alive request whose head carries `count` tiny headers after Host (8 bytes each). */
function manyHeaders(path: string, host: string, count: number): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${'X-A: 1\r\n'.repeat(count - 1)}\r\n`;
}

interface Answer {
  status: number;
  head: string;
  closed: boolean;
}

/** Sends raw bytes on a fresh connection; resolves with the first response head and whether the server then closed. */
function exchange(port: number, request: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let received = '';
    let answer: Answer | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      if (answer !== undefined) resolve(answer);
      else reject(new Error(`no response head within the bound; got ${JSON.stringify(received)}`));
    }, LIMIT);
    const finish = (result: Answer): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end < 0 || answer !== undefined) return;
      const head = received.slice(0, end);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      answer = { status: match === null ? 0 : Number(match[1]), head, closed: false };
      // a keep-alive answer (200) leaves the connection open: no need to wait for a close that never comes
      if (!/\r\nconnection: *close/i.test(head)) finish(answer);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (answer !== undefined) finish({ ...answer, closed: true });
      else {
        clearTimeout(timer);
        reject(new Error(`closed without a response head; got ${JSON.stringify(received)}`));
      }
    });
    socket.write(request);
  });
}

describe('faults: too many request headers get 431 on every listener (issue 12)', { timeout: 120_000 }, () => {
  before(async () => {
    upstream = createHttpServer((_req, res) => res.end('upstream'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
    adminPort = await deadPort();
    proxyPort = await deadPort();
    const config = join(dir, 'config.json');
    // 1,200 headers of 8 bytes fit in the default 16 KB head on every listener; the app's limit is raised to be sure
    writeFileSync(config, JSON.stringify({ limits: { headerSize: 32_768 } }));
    srv = await startServer(['--config', config, '--admin-port', String(adminPort), '--proxy-port', String(proxyPort)]);
    await waitForAdmin(adminPort, () => srv.output(), LIMIT);
    const port = (upstream.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/headers.local`, {
      method: 'POST',
      body: `server 127.0.0.1:${port};`,
    });
    assert.equal(res.status, 200, `could not set the group: ${await res.text()}`);
  });

  after(async () => {
    try {
      if (srv !== undefined && srv.child.exitCode === null) await srv.stop('SIGTERM');
      await new Promise<void>((resolve) => (upstream === undefined ? resolve() : upstream.close(() => resolve())));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const listeners: Array<[string, () => number, string, () => string]> = [
    ['app', () => srv.port, '/status', () => 'localhost'],
    ['dyups proxy', () => proxyPort, '/', () => 'headers.local'],
    ['dyups admin', () => adminPort, '/detail', () => `127.0.0.1:${adminPort}`],
  ];

  for (const [name, port, path, host] of listeners) {
    it(`${name}: 1,200 headers get 431 with Connection: close and the connection closed`, async () => {
      const answer = await exchange(port(), manyHeaders(path, host(), 1200));
      assert.equal(answer.status, 431, `answered ${answer.head}`);
      assert.match(answer.head, /\r\nconnection: *close/i);
      assert.ok(answer.closed, 'the connection stayed open after the 431');
    });

    it(`${name}: 1,000 headers (the limit) are served`, async () => {
      const answer = await exchange(port(), manyHeaders(path, host(), 1000));
      assert.equal(answer.status, 200, `answered ${answer.head}`);
    });
  }
});
