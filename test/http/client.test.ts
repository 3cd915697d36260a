import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CancelledError, HttpProtocolError, Scheduler, http, pools } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { startTcpServer } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'http-tests' });
let server: Server;
let port = 0;
let connections = 0;

function route(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/hello') {
    res.setHeader('content-type', 'text/plain');
    res.end('hello world');
  } else if (url.pathname === '/echo') {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () =>
      res.end(`${req.method} ${req.headers['content-length'] ?? '-'} ${Buffer.concat(parts).toString()}`),
    );
  } else if (url.pathname === '/chunks') {
    // 2,000 tiny chunks of chunked encoding, written as fast as possible
    const n = Number(url.searchParams.get('n') ?? 2000);
    res.setHeader('transfer-encoding', 'chunked');
    for (let i = 0; i < n; i++) res.write(`line ${i}\n`);
    res.end();
  } else if (url.pathname === '/close') {
    res.setHeader('connection', 'close');
    res.end('bye');
  } else if (url.pathname === '/trailers') {
    res.writeHead(200, { trailer: 'x-checksum', 'transfer-encoding': 'chunked' });
    res.write('abc');
    res.addTrailers({ 'x-checksum': '42' });
    res.end();
  } else if (url.pathname === '/nothing') {
    res.statusCode = 204;
    res.end();
  } else if (url.pathname === '/slow') {
    res.setHeader('content-length', '10');
    res.write('12345');
    setTimeout(() => res.end('67890'), 5_000).unref();
  } else {
    res.statusCode = 404;
    res.end('no');
  }
}

describe('http client', () => {
  before(async () => {
    server = createServer(route);
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    await pools.drain();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('requests, reads the body, and reuses the connection for the next request', async () => {
    const before = connections;
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const out: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const conn = yield* http.connect('127.0.0.1', port, { pool: 'http-reuse' });
        const res = yield* conn.request({ path: '/hello' });
        out.push([res.status, res.header('Content-Type'), (yield* res.readBody()).toString(), conn.getreusedtimes()]);
        assert.equal(conn.setkeepalive(), true);
      }
      return out;
    });
    assert.deepEqual(got, [
      [200, 'text/plain', 'hello world', 0],
      [200, 'text/plain', 'hello world', 1],
      [200, 'text/plain', 'hello world', 2],
    ]);
    assert.equal(connections - before, 1);
  });

  it('sends a body with its length and several requests on one connection', async () => {
    const got = await scheduler.go(function* (): Operation<string[]> {
      const conn = yield* http.connect('127.0.0.1', port);
      const a = yield* conn.request({ method: 'POST', path: '/echo', body: 'payload' });
      const first = (yield* a.readBody()).toString();
      const b = yield* conn.request({ method: 'PUT', path: '/echo', body: Buffer.from('two') });
      const second = (yield* b.readBody()).toString();
      conn.setkeepalive();
      return [first, second];
    });
    assert.deepEqual(got, ['POST 7 payload', 'PUT 3 two']);
  });

  it('reads a body of 2,000 tiny chunks byte-identical, in far fewer and larger pieces', async () => {
    const expected = createHash('sha256');
    for (let i = 0; i < 2000; i++) expected.update(`line ${i}\n`);
    const got = await scheduler.go(function* (): Operation<{ hash: string; pieces: number; biggest: number }> {
      const conn = yield* http.connect('127.0.0.1', port);
      const res = yield* conn.request({ path: '/chunks?n=2000' });
      const hash = createHash('sha256');
      let pieces = 0;
      let biggest = 0;
      const reader = res.bodyReader(16 * 1024);
      for (;;) {
        const piece = yield* reader.read();
        if (piece === null) break;
        assert.ok(piece.length <= 16 * 1024);
        pieces++;
        biggest = Math.max(biggest, piece.length);
        hash.update(piece);
      }
      assert.equal(conn.setkeepalive(), true);
      return { hash: hash.digest('hex'), pieces, biggest };
    });
    assert.equal(got.hash, expected.digest('hex'));
    assert.ok(got.pieces < 200, `${got.pieces} pieces for 2,000 chunks`);
    assert.ok(got.biggest > 1_000);
  });

  it('does not reuse a connection the upstream closes, nor one whose body was not read', async () => {
    const before = connections;
    await scheduler.go(function* () {
      const conn = yield* http.connect('127.0.0.1', port, { pool: 'no-reuse' });
      const res = yield* conn.request({ path: '/close' });
      assert.equal(res.keepalive, false);
      yield* res.readBody();
      assert.equal(conn.setkeepalive(), false);
      const conn2 = yield* http.connect('127.0.0.1', port, { pool: 'no-reuse' });
      assert.equal(conn2.getreusedtimes(), 0);
      yield* conn2.request({ path: '/hello' });
      assert.equal(conn2.setkeepalive(), false, 'unread body must not be pooled');
    });
    assert.equal(connections - before, 2);
    assert.equal(pools.stats().find((p) => p.name === 'no-reuse')!.idle, 0);
  });

  it('handles bodiless responses, trailers, and reads until close for HTTP/1.0 bodies', async () => {
    const legacy = await startTcpServer((s) => {
      s.once('data', () => s.end('HTTP/1.0 200 OK\r\nX-Old: yes\r\n\r\nuntil the end'));
    });
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const conn = yield* http.connect('127.0.0.1', port);
      const none = yield* conn.request({ path: '/nothing' });
      const head = yield* conn.request({ method: 'HEAD', path: '/hello' });
      const trailers = yield* conn.request({ path: '/trailers' });
      const trailerBody = (yield* trailers.readBody()).toString();
      conn.setkeepalive();
      const old = yield* http.connect('127.0.0.1', legacy.port);
      const oldRes = yield* old.request({ path: '/' });
      const oldBody = (yield* oldRes.readBody()).toString();
      const reused = old.setkeepalive();
      return [
        none.status,
        none.body.done,
        head.body.done,
        trailerBody,
        trailers.body.trailers['x-checksum'],
        oldRes.keepalive,
        oldBody,
        reused,
      ];
    });
    assert.deepEqual(got, [204, true, true, 'abc', '42', false, 'until the end', false]);
    await legacy.close();
  });

  it('skips interim 1xx responses', async () => {
    const upstream = await startTcpServer((s) => {
      s.once('data', () => s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    });
    const body = await scheduler.go(function* (): Operation<string> {
      const conn = yield* http.connect('127.0.0.1', upstream.port);
      const res = yield* conn.request({ path: '/' });
      const b = (yield* res.readBody()).toString();
      conn.close();
      return `${res.status} ${b}`;
    });
    assert.equal(body, '200 ok');
    await upstream.close();
  });

  it('de-chunks a body whose frames are cut across reads at every kind of place', async () => {
    // chunk lines in both hex cases, with extensions and whitespace, sizes from 1 byte to 20 KB,
    // sent in writes of random length (1 byte up to 3 KB) with a pause between them
    let seed = 7;
    const random = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const data: Buffer[] = [];
    const frames: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const size = i % 50 === 0 ? 1 + random(20_000) : 1 + random(300);
      const chunk = Buffer.alloc(size, String.fromCharCode(97 + (i % 26)));
      data.push(chunk);
      const hex = i % 2 === 0 ? size.toString(16) : size.toString(16).toUpperCase();
      const line = i % 7 === 0 ? `${hex};name=value\r\n` : i % 11 === 0 ? `${hex} \r\n` : `${hex}\r\n`;
      frames.push(Buffer.from(line), chunk, Buffer.from('\r\n'));
    }
    frames.push(Buffer.from('0\r\nX-Sum: 1\r\n\r\n'));
    const wire = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), ...frames]);
    const upstream = await startTcpServer((s) => {
      s.setNoDelay(true);
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- a failure fails the test as an unhandled rejection
      s.once('data', async () => {
        for (let at = 0; at < wire.length;) {
          const cut = at + 1 + (random(4) === 0 ? random(3) : random(3_000));
          s.write(wire.subarray(at, cut));
          at = cut;
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    try {
      const got = await scheduler.go(function* (): Operation<{ body: Buffer; trailer: string | string[] | undefined }> {
        const conn = yield* http.connect('127.0.0.1', upstream.port);
        const res = yield* conn.request({ path: '/' });
        const reader = res.bodyReader(4096);
        const pieces: Buffer[] = [];
        for (;;) {
          const piece = yield* reader.read();
          if (piece === null) break;
          assert.ok(piece.length <= 4096);
          pieces.push(Buffer.from(piece));
        }
        assert.equal(conn.setkeepalive(), true);
        return { body: Buffer.concat(pieces), trailer: res.body.trailers['x-sum'] };
      });
      assert.ok(got.body.equals(Buffer.concat(data)), 'body differs from what was sent');
      assert.equal(got.trailer, '1');
    } finally {
      await upstream.close();
    }
  });

  it('rejects broken upstream responses with HttpProtocolError and closes the connection', async () => {
    const cases: Array<[string, RegExp]> = [
      ['garbage\r\n\r\n', /invalid status line/],
      ['HTTP/1.1 200 OK\r\nbad header line\r\n\r\n', /invalid header line/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', /invalid Content-Length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /invalid chunk size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n', /not followed by CRLF/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abc\r\n', /invalid chunk size/],
      [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;${'e'.repeat(5_000)}`, /chunk size line too long/],
      [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, /larger than|line longer/],
    ];
    for (const [reply, pattern] of cases) {
      const upstream = await startTcpServer((s) => s.once('data', () => s.write(reply)));
      await assert.rejects(
        scheduler.go(function* () {
          const conn = yield* http.connect('127.0.0.1', upstream.port);
          const res = yield* conn.request({ path: '/' });
          yield* res.readBody();
        }),
        (err: unknown) =>
          (err instanceof HttpProtocolError || (err as { code?: string }).code === 'COSOCKET_ERR_LINE_TOO_LONG') &&
          pattern.test((err as Error).message),
      );
      await upstream.waitClosed(1);
      await upstream.close();
    }
  });

  it('refuses requests that would inject headers or break the request line', async () => {
    const requests: http.HttpRequest[] = [
      { path: '/x y' },
      { path: '/x', headers: { 'x-a': 'one\r\nx-injected: two' } },
      { path: '/x', headers: { 'bad name': 'v' } },
      { method: 'GE T', path: '/' },
    ];
    for (const request of requests) {
      await assert.rejects(
        scheduler.go(function* () {
          const conn = yield* http.connect('127.0.0.1', port);
          yield* conn.request(request);
        }),
        /invalid|CR, LF or NUL/,
      );
    }
  });

  it('closes the connection when the coroutine is cancelled mid-body', async () => {
    let closed = 0;
    const task = scheduler.go(function* () {
      const conn = yield* http.connect('127.0.0.1', port, { pool: 'cancel-body' });
      conn.socket.setoption('keepalive', true);
      const res = yield* conn.request({ path: '/slow' });
      yield* res.readBody();
    });
    server.once('connection', (socket) => socket.once('close', () => closed++));
    await new Promise((r) => setTimeout(r, 100));
    task.cancel();
    await assert.rejects(task, CancelledError);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, 1);
    assert.equal(pools.stats().find((p) => p.name === 'cancel-body')!.open, 0);
  });

  it('fetches a URL in one call', async () => {
    const res = await scheduler.go(function* () {
      return yield* http.request(`http://127.0.0.1:${port}/echo?q=1`, { method: 'POST', body: 'x' });
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'POST 1 x');
    await assert.rejects(
      scheduler.go(function* () {
        yield* http.request('ftp://example.com/');
      }),
      /only http:\/\/ and https:\/\/ URLs/,
    );
  });
});
