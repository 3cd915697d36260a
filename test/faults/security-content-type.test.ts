import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort, startTcpServer } from '../helpers/tcp-server.js';
import type { TestServer } from '../helpers/tcp-server.js';
import { timeBudget, waitForAdmin } from './harness.js';

/**
 * Issue 12, item 12: an upstream response without a Content-Type reaches the client without one (nginx's
 * proxy_pass adds none), over raw sockets against a real `cosocket serve`. Asserts heads and bytes only.
 */

/** Bounds a failure only: a correct run never waits this long. */
const LIMIT = 30_000;

let srv: RunningServer;
let adminPort: number;
let proxyPort: number;
const upstreams: TestServer[] = [];
const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-security-content-type-'));

/** A raw upstream answering every request head it receives with `reply`. */
async function rawUpstream(reply: string): Promise<TestServer> {
  const server = await startTcpServer((socket: Socket) => {
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        socket.write(reply);
      }
    });
  });
  upstreams.push(server);
  return server;
}

/** Points group `name` at a new raw upstream that answers `reply`. */
async function groupAnswering(name: string, reply: string): Promise<void> {
  const upstream = await rawUpstream(reply);
  const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}`, {
    method: 'POST',
    body: `server 127.0.0.1:${upstream.port};`,
  });
  assert.equal(res.status, 200, `POST /upstream/${name} answered ${res.status} ${await res.text()}`);
}

interface Answer {
  status: number;
  headers: Map<string, string[]>;
  body: string;
}

/** Sends one request for group `name` (Connection: close) on a fresh connection; the answer, split into head and body. */
function proxiedRequest(name: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(proxyPort, '127.0.0.1');
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `the proxy never closed the connection; it sent ${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`,
        ),
      );
    }, LIMIT);
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(parts).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        reject(new Error(`no complete response head: ${JSON.stringify(text)}`));
        return;
      }
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers = new Map<string, string[]>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        const field = line.slice(0, colon).trim().toLowerCase();
        headers.set(field, [...(headers.get(field) ?? []), line.slice(colon + 1).trim()]);
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1] ?? 0),
        headers,
        body: text.slice(end + 4),
      });
    });
    socket.write(`${method} /file HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`);
  });
}

/** A chunked body's data, checking its framing on the way. */
function dechunk(body: string): string {
  let data = '';
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    assert.ok(lineEnd > at, `chunk size line missing at ${at} in ${JSON.stringify(body)}`);
    const size = parseInt(body.slice(at, lineEnd), 16);
    assert.ok(Number.isInteger(size), `bad chunk size in ${JSON.stringify(body)}`);
    at = lineEnd + 2;
    if (size === 0) {
      assert.equal(body.slice(at), '\r\n', 'the chunked body ends with an empty trailer section');
      return data;
    }
    data += body.slice(at, at + size);
    assert.equal(body.slice(at + size, at + size + 2), '\r\n', 'chunk data ends with CRLF');
    at += size + 2;
  }
}

/** The body as framed by its head: Content-Length or chunked. */
function bodyOf(answer: Answer): string {
  const length = answer.headers.get('content-length');
  if (answer.headers.get('transfer-encoding')?.[0]?.toLowerCase() === 'chunked') return dechunk(answer.body);
  if (length !== undefined) {
    assert.equal(answer.body.length, Number(length[0]), 'the body is as long as its Content-Length');
    return answer.body;
  }
  return answer.body;
}

timeBudget('faults/security-content-type.test', { fast: 20_000, full: 20_000 });

describe(
  'faults: the proxy adds no Content-Type an upstream did not send (issue 12, item 12)',
  { timeout: 120_000 },
  () => {
    before(async () => {
      adminPort = await deadPort();
      proxyPort = await deadPort();
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ dyups: { connectTimeout: '2s', readTimeout: '20s' } }));
      srv = await startServer([
        '--config',
        config,
        '--admin-port',
        String(adminPort),
        '--proxy-port',
        String(proxyPort),
      ]);
      await waitForAdmin(adminPort, () => srv.output(), LIMIT);
    });

    after(async () => {
      try {
        for (const upstream of upstreams) await upstream.close();
        if (srv !== undefined && srv.child.exitCode === null) await srv.stop('SIGTERM');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a body framed by Content-Length comes back without a Content-Type', async () => {
      await groupAnswering('ct-length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
      const answer = await proxiedRequest('ct-length');
      assert.equal(answer.status, 200);
      assert.equal(
        answer.headers.get('content-type'),
        undefined,
        `content-type added: ${String(answer.headers.get('content-type'))}`,
      );
      assert.equal(bodyOf(answer), 'hello');
    });

    it('a chunked body comes back without a Content-Type', async () => {
      await groupAnswering(
        'ct-chunked',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
      );
      const answer = await proxiedRequest('ct-chunked');
      assert.equal(answer.status, 200);
      assert.equal(
        answer.headers.get('content-type'),
        undefined,
        `content-type added: ${String(answer.headers.get('content-type'))}`,
      );
      assert.equal(bodyOf(answer), 'hello world');
    });

    it('an empty body (Content-Length: 0, and an empty chunked one) comes back without a Content-Type', async () => {
      await groupAnswering('ct-empty', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      await groupAnswering('ct-empty-chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
      for (const name of ['ct-empty', 'ct-empty-chunked']) {
        const answer = await proxiedRequest(name);
        assert.equal(answer.status, 200, name);
        assert.equal(
          answer.headers.get('content-type'),
          undefined,
          `${name}: content-type added: ${String(answer.headers.get('content-type'))}`,
        );
        assert.equal(bodyOf(answer), '', name);
      }
    });

    it('204 and 304 come back without a Content-Type and without a body', async () => {
      await groupAnswering('ct-204', 'HTTP/1.1 204 No Content\r\n\r\n');
      await groupAnswering('ct-304', 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n');
      for (const [name, status] of [
        ['ct-204', 204],
        ['ct-304', 304],
      ] as const) {
        const answer = await proxiedRequest(name);
        assert.equal(answer.status, status, name);
        assert.equal(
          answer.headers.get('content-type'),
          undefined,
          `${name}: content-type added: ${String(answer.headers.get('content-type'))}`,
        );
        assert.equal(answer.headers.get('transfer-encoding'), undefined, `${name}: a bodiless status is not chunked`);
        assert.equal(answer.body, '', `${name}: no body bytes`);
      }
    });

    it('a HEAD answer without a Content-Type keeps its Content-Length and gets no Content-Type', async () => {
      await groupAnswering('ct-head', 'HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n');
      const answer = await proxiedRequest('ct-head', 'HEAD');
      assert.equal(answer.status, 200);
      assert.equal(
        answer.headers.get('content-type'),
        undefined,
        `content-type added: ${String(answer.headers.get('content-type'))}`,
      );
      assert.deepEqual(answer.headers.get('content-length'), ['42']);
      assert.equal(answer.body, '');
    });

    it("an upstream's own Content-Type is passed on unchanged, once", async () => {
      await groupAnswering(
        'ct-typed',
        'HTTP/1.1 200 OK\r\nContent-Type: application/x-custom\r\nContent-Length: 2\r\n\r\nok',
      );
      await groupAnswering('ct-typed-empty', 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 0\r\n\r\n');
      const typed = await proxiedRequest('ct-typed');
      assert.deepEqual(typed.headers.get('content-type'), ['application/x-custom']);
      assert.equal(bodyOf(typed), 'ok');
      const empty = await proxiedRequest('ct-typed-empty');
      assert.deepEqual(empty.headers.get('content-type'), ['image/png']);
      assert.equal(bodyOf(empty), '');
    });
  },
);
