import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, SocketTimeoutError, co, cosocketPlugin, pools, proxyPass, sleep, tcp } from '../../src/index.js';
import type { HandlerContext, Operation, ProxyStats } from '../../src/index.js';
import { parseChunked, rawGet } from '../helpers/chunked.js';

const N = 100_000;
const chunks: Buffer[] = [];
let seed = 7;
const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
for (let i = 0; i < N; i++) chunks.push(Buffer.from(`${i} ${'x'.repeat(200 + Math.floor(random() * 300))}\n`));
const expectedHash = createHash('sha256');
for (const c of chunks) expectedHash.update(c);
const EXPECTED = expectedHash.digest('hex');
const TOTAL = chunks.reduce((n, c) => n + c.length, 0);

let upstream: Server;
let upstreamPort = 0;
/** bytes the upstream managed to hand to its socket, per response */
const upstreamProgress: number[] = [];
const upstreamClosed: boolean[] = [];
let app: FastifyInstance;
let port = 0;
/** a second app whose send timeout is short, for the client that never reads */
let impatient: FastifyInstance;
let impatientPort = 0;
let lastStats: ProxyStats | null = null;
const events: string[] = [];
const scheduler = new Scheduler({ name: 'stream-tests' });

function sendChunks(res: ServerResponse, extraHeaders: Record<string, string> = {}, sized = false): void {
  const index = upstreamProgress.push(0) - 1;
  upstreamClosed.push(false);
  res.on('close', () => (upstreamClosed[index] = true));
  res.writeHead(200, {
    'content-type': 'text/plain',
    connection: 'keep-alive, x-hop',
    'x-hop': 'drop me',
    ...(sized ? { 'content-length': String(TOTAL) } : {}),
    ...extraHeaders,
  });
  let i = 0;
  const pump = (): void => {
    while (i < N) {
      upstreamProgress[index]! += chunks[i]!.length;
      if (!res.write(chunks[i++]!)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

describe('streaming output', () => {
  before(async () => {
    upstream = createServer((req, res) => {
      if (req.url === '/no-buffering') sendChunks(res, { 'x-accel-buffering': 'no' });
      else if (req.url?.startsWith('/sized')) sendChunks(res, {}, true);
      else sendChunks(res);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamPort = (upstream.address() as { port: number }).port;
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler, output: { bufferSize: 1024, sendTimeout: 10_000 } });
    const proxyRoute = (buffering: boolean, limits = {}) =>
      co(function* (ctx: HandlerContext): Operation<void> {
        lastStats = yield* proxyPass(ctx, '127.0.0.1', upstreamPort, {
          path: ctx.request.url.replace(/^\/[a-z-]+/, '') || '/',
          buffering: { buffering, ...limits },
        });
      });
    app.get('/off/*', proxyRoute(false));
    app.get('/on/*', proxyRoute(true));
    app.get('/tight/*', proxyRoute(true, { buffers: { count: 4, size: 8192 }, maxTempFileSize: 256 * 1024 }));
    app.get(
      '/fill',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.print('a'.repeat(600));
        ctx.print('b'.repeat(600)); // passes bufferSize (1024): goes out now
        yield* sleep(300);
        ctx.print('tail');
      }),
    );
    impatient = Fastify({ logger: false });
    await impatient.register(cosocketPlugin, { scheduler, output: { bufferSize: 1024, sendTimeout: 300 } });
    impatient.get(
      '/stalled',
      co(function* (ctx: HandlerContext): Operation<void> {
        try {
          for (let i = 0; i < 200; i++) {
            ctx.print(Buffer.alloc(256 * 1024, 120));
            yield* ctx.flush(true);
          }
          events.push('all flushed');
        } catch (err) {
          events.push(err instanceof SocketTimeoutError ? `timeout ${err.op}` : `other ${String(err)}`);
          throw err;
        }
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    await impatient.listen({ host: '127.0.0.1', port: 0 });
    impatientPort = (impatient.server.address() as { port: number }).port;
  });
  after(async () => {
    await app.close();
    await impatient.close();
    await pools.drain();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('sends the buffer once it passes bufferSize, before the handler ends', async () => {
    const started = Date.now();
    const arrivals: number[] = [];
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('GET /fill HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      socket.on('data', () => arrivals.push(Date.now() - started));
      socket.on('close', () => resolve());
    });
    assert.ok(arrivals[0]! < 200, `first bytes after ${arrivals[0]} ms: a full buffer must go out at once`);
    assert.ok(arrivals[arrivals.length - 1]! >= 250);
  });

  it('flush(true) waits for the client; a client that does not read makes it time out and abort', async () => {
    events.length = 0;
    const socket = connect(impatientPort, '127.0.0.1', () => socket.write('GET /stalled HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.pause(); // never reads
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(events, ['timeout send']);
    socket.resume();
    await closed; // the response was aborted: the server closed the connection
  });

  for (const mode of ['off', 'on'] as const) {
    it(`proxies a 100,000-chunk body byte-identical in far fewer chunks (buffering ${mode})`, async () => {
      const raw = await rawGet(port, `/${mode}/body`);
      const parsed = parseChunked(raw);
      assert.equal(parsed.complete, true, 'missing the terminating chunk');
      assert.equal(parsed.body.length, TOTAL);
      assert.equal(createHash('sha256').update(parsed.body).digest('hex'), EXPECTED);
      assert.ok(parsed.chunks.length < N / 10, `${parsed.chunks.length} downstream chunks for ${N} upstream chunks`);
      assert.doesNotMatch(parsed.head, /x-hop/i, 'hop-by-hop headers named by Connection must be dropped');
      assert.equal(lastStats!.buffering, mode === 'on');
    });
  }

  it('reuses read buffers across concurrent proxied bodies without mixing up their bytes', async () => {
    // both modes, chunked and sized upstream bodies at once, one client reading in fits and starts: reused buffers go from one download
    // to another, so a buffer handed back while still in use would corrupt some body
    const before = tcp.readBufferStats();
    const stalling = (path: string): Promise<Buffer> =>
      new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = [];
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
        );
        let received = 0;
        socket.on('data', (d: Buffer) => {
          parts.push(d);
          received += d.length;
          if (received > 2 * 1024 * 1024) {
            received = 0;
            socket.pause();
            setTimeout(() => socket.resume(), 50);
          }
        });
        socket.on('end', () => resolve(Buffer.concat(parts)));
        socket.on('error', reject);
      });
    const raws = await Promise.all([
      rawGet(port, '/off/a'),
      rawGet(port, '/on/b'),
      stalling('/off/sized-stalling'),
      stalling('/tight/sized-stalling'),
      stalling('/tight/stalling'),
    ]);
    for (const [i, raw] of raws.entries()) {
      const parsed = parseChunked(raw);
      assert.equal(parsed.complete, true);
      if (i === 2 || i === 3)
        assert.match(
          parsed.head,
          new RegExp(`\r\ncontent-length: ${TOTAL}`, 'i'),
          'a sized upstream body keeps its length',
        );
      assert.equal(createHash('sha256').update(parsed.body).digest('hex'), EXPECTED, `download ${i}`);
    }
    const after = tcp.readBufferStats();
    assert.ok(
      after.reused - before.reused > 100,
      `only ${after.reused - before.reused} reads went into reused buffers`,
    );
  });

  it('honours X-Accel-Buffering: no from the upstream', async () => {
    const raw = await rawGet(port, '/on/no-buffering');
    assert.equal(parseChunked(raw).body.length, TOTAL);
    assert.equal(lastStats!.buffering, false);
    assert.doesNotMatch(parseChunked(raw).head, /x-accel-buffering/i);
  });

  for (const mode of ['off', 'tight'] as const) {
    it(`a slow client holds back the upstream and keeps memory bounded (${mode === 'off' ? 'buffering off' : 'buffering on, small buffers'})`, async () => {
      const index = upstreamProgress.length;
      const socket = connect(port, '127.0.0.1', () =>
        socket.write(`GET /${mode}/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      socket.pause();
      await new Promise((r) => setTimeout(r, 800));
      const sent = upstreamProgress[index]!;
      // kernel socket buffers on both hops take a few MB; the rest of the 35 MB body must wait upstream
      assert.ok(sent < TOTAL / 2, `the upstream wrote ${sent} of ${TOTAL} bytes to a client that reads nothing`);
      let received = 0;
      socket.on('data', (d: Buffer) => (received += d.length));
      socket.resume();
      await new Promise<void>((resolve) => socket.on('close', () => resolve()));
      assert.ok(received > TOTAL, 'the whole body arrives once the client reads');
      if (mode === 'tight') {
        assert.ok(lastStats!.peakMemory <= 4 * 8192 + 8192, `peak memory ${lastStats!.peakMemory}`);
        assert.ok(
          lastStats!.peakTempFile <= 256 * 1024 + 8192,
          `temp file held ${lastStats!.peakTempFile} bytes at once`,
        );
        assert.ok(
          lastStats!.tempFileBytes > 0,
          'a client that reads nothing should make the proxy spill to its temp file',
        );
      }
    });
  }

  it('a client that goes away cancels the upstream read (the upstream connection closes)', async () => {
    const index = upstreamProgress.length;
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /off/abort HTTP/1.1\r\nHost: x\r\n\r\n'));
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.destroy();
    const deadline = Date.now() + 3_000;
    while (!upstreamClosed[index] && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(upstreamClosed[index], true, 'the upstream response was not closed after the client left');
    assert.ok(upstreamProgress[index]! < TOTAL);
  });
});
