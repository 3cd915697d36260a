import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { sleep } from '../../adapters/sleep.js';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import type { HandlerContext } from '../../src/fastify/plugin.js';
import type { Operation } from '../../src/runtime/effect.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { parseChunked } from '../helpers/chunked.js';
import { deadPort } from '../helpers/tcp-server.js';
import { waitForAdmin } from './harness.js';

/**
 * Issue 12, finding 6 and the SIGTERM item of 12: streams that keep making progress outlive the
 * overall handler deadline (an idle timeout takes over once the head is sent), streams that stall are
 * cut, and on SIGTERM every open stream is cut once shutdown.grace ran out, so the process exits.
 * Every duration here is a configured value made small; the tests assert bytes and framing only.
 */

const CHUNK_EVERY = 300;
const CHUNKS = 17; // ~5 s of a chunk every 300 ms: more than twice the 2 s overall deadline
const BOUND = 30_000; // bounds a failure only

interface Upstream {
  port: number;
  close(): Promise<void>;
}

/** A raw upstream: on each request head, a chunked 200 head, then `feed` writes the body its own way. */
async function chunkedUpstream(feed: (socket: Socket) => void): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
      feed(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

/** Writes chunk i every CHUNK_EVERY ms; `count` chunks then the last chunk, or forever when count is Infinity. */
function tick(socket: Socket, count: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) {
      clearInterval(timer);
      return;
    }
    if (i < count) socket.write(chunk(`piece ${i++}\n`));
    else {
      clearInterval(timer);
      socket.write('0\r\n\r\n');
    }
  }, CHUNK_EVERY);
  socket.once('close', () => clearInterval(timer));
}

interface RawAnswer {
  bytes: Buffer;
  /** the server closed the connection (not the BOUND running out) */
  closedByServer: boolean;
}

/** A GET over a raw socket with Connection: close; every byte until the server closes. `onData` sees them as they come. */
function rawGet(port: number, host: string, path = '/', onData?: (all: Buffer) => void): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let timedOut = false;
    const socket = netConnect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (d: Buffer) => {
      parts.push(d);
      onData?.(Buffer.concat(parts));
    });
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, BOUND);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(parts), closedByServer: !timedOut });
    });
  });
}

const expectedBody = (count: number): string => Array.from({ length: count }, (_, i) => `piece ${i}\n`).join('');

async function setGroup(adminPort: number, name: string, port: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}`, {
    method: 'POST',
    body: `server 127.0.0.1:${port} max_fails=0;`,
  });
  assert.equal(res.status, 200, `POST /upstream/${name}: ${res.status} ${await res.text()}`);
}

describe(
  'security: a proxied stream that keeps making progress outlives the overall deadline (finding 6)',
  { timeout: 120_000 },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-sec-streaming-'));
    let srv: RunningServer;
    let adminPort: number;
    let proxyPort: number;
    let steady: Upstream;
    let stalling: Upstream;

    before(async () => {
      adminPort = await deadPort();
      proxyPort = await deadPort();
      const config = join(dir, 'config.json');
      // the overall handler deadline is 2 s; proxy_read_timeout 1 s bounds each read from the upstream
      writeFileSync(
        config,
        JSON.stringify({ scheduler: { deadline: '2s' }, dyups: { readTimeout: '1s', buffering: 'off' } }),
      );
      srv = await startServer([
        '--config',
        config,
        '--admin-port',
        String(adminPort),
        '--proxy-port',
        String(proxyPort),
      ]);
      await waitForAdmin(adminPort, () => srv.output(), BOUND);
      steady = await chunkedUpstream((socket) => tick(socket, CHUNKS));
      // two chunks, then nothing: longer than proxy_read_timeout
      stalling = await chunkedUpstream((socket) => socket.write(chunk('piece 0\n') + chunk('piece 1\n')));
      await setGroup(adminPort, 'steady.local', steady.port);
      await setGroup(adminPort, 'stalling.local', stalling.port);
    });

    after(async () => {
      try {
        if (srv !== undefined && srv.child.exitCode === null) assert.equal(await srv.stop('SIGTERM'), 0, srv.output());
      } finally {
        await steady?.close();
        await stalling?.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a chunk every 300 ms for ~5 s: every chunk and the last chunk arrive, past the 2 s deadline', async () => {
      const answer = await rawGet(proxyPort, 'steady.local');
      assert.ok(answer.closedByServer, 'the response ended');
      const parsed = parseChunked(answer.bytes);
      assert.match(parsed.head, /^HTTP\/1\.1 200 /);
      assert.equal(parsed.body.toString(), expectedBody(CHUNKS), 'every chunk arrived');
      assert.ok(parsed.complete, 'the terminating chunk arrived');
    });

    it('an upstream that stalls longer than proxy_read_timeout is cut without the last chunk', async () => {
      const answer = await rawGet(proxyPort, 'stalling.local');
      assert.ok(answer.closedByServer, 'the proxy cut the stream');
      const parsed = parseChunked(answer.bytes);
      assert.match(parsed.head, /^HTTP\/1\.1 200 /);
      assert.equal(parsed.body.toString(), expectedBody(2));
      assert.equal(parsed.complete, false, 'no terminating chunk: the client cannot take it for complete');
    });
  },
);

describe(
  'security: a streaming handler outlives the overall deadline while it makes progress (finding 6)',
  { timeout: 120_000 },
  () => {
    let app: FastifyInstance;
    let port: number;
    let patientApp: FastifyInstance;
    let patientPort: number;

    before(async () => {
      // overall deadline 1 s; once the head is sent, 1 s without progress cuts the stream
      const scheduler = new Scheduler({ name: 'streaming-test', deadline: 1_000 });
      app = Fastify({ logger: false });
      await app.register(cosocketPlugin, { scheduler, output: { idleTimeout: 1_000 } });
      app.get(
        '/steady',
        co(function* steady(ctx: HandlerContext): Operation<void> {
          for (let i = 0; i < CHUNKS; i++) {
            yield* ctx.write(Buffer.from(`piece ${i}\n`));
            yield* sleep(CHUNK_EVERY);
          }
        }),
      );
      app.get(
        '/stalls',
        co(function* stalls(ctx: HandlerContext): Operation<void> {
          yield* ctx.write(Buffer.from('piece 0\n'));
          yield* sleep(3_600_000);
        }),
      );
      await app.listen({ host: '127.0.0.1', port: 0 });
      port = (app.server.address() as AddressInfo).port;
      // a longer overall deadline and a shorter idle timeout: the hand-over never cuts before the deadline would
      const patient = new Scheduler({ name: 'patient-test', deadline: 30_000 });
      patientApp = Fastify({ logger: false });
      await patientApp.register(cosocketPlugin, { scheduler: patient, output: { idleTimeout: 200 } });
      patientApp.get(
        '/pause',
        co(function* pause(ctx: HandlerContext): Operation<void> {
          yield* ctx.write(Buffer.from('piece 0\n'));
          yield* sleep(1_500);
          yield* ctx.write(Buffer.from('piece 1\n'));
        }),
      );
      await patientApp.listen({ host: '127.0.0.1', port: 0 });
      patientPort = (patientApp.server.address() as AddressInfo).port;
    });

    after(async () => {
      for (const server of [app, patientApp]) {
        server.server.closeAllConnections();
        await server.close();
      }
    });

    it('a chunk every 300 ms for ~5 s: every chunk and the last chunk arrive, past the 1 s deadline', async () => {
      const answer = await rawGet(port, 'test', '/steady');
      assert.ok(answer.closedByServer);
      const parsed = parseChunked(answer.bytes);
      assert.match(parsed.head, /^HTTP\/1\.1 200 /);
      assert.equal(parsed.body.toString(), expectedBody(CHUNKS), 'every chunk arrived');
      assert.ok(parsed.complete, 'the terminating chunk arrived');
    });

    it('a pause longer than the idle timeout, within the overall deadline, is not cut', async () => {
      const answer = await rawGet(patientPort, 'test', '/pause');
      const parsed = parseChunked(answer.bytes);
      assert.equal(parsed.body.toString(), expectedBody(2));
      assert.ok(parsed.complete, 'the terminating chunk arrived');
    });

    it('a handler that stops making progress after the head is cut', async () => {
      const answer = await rawGet(port, 'test', '/stalls');
      assert.ok(answer.closedByServer, 'the stream was cut');
      const parsed = parseChunked(answer.bytes);
      assert.equal(parsed.body.toString(), 'piece 0\n');
      assert.equal(parsed.complete, false, 'no terminating chunk');
    });
  },
);

describe(
  'security: a /send/ follower outlives the overall deadline while the file grows (finding 6)',
  { timeout: 120_000 },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-sec-send-'));
    const root = join(dir, 'root');
    let srv: RunningServer;

    before(async () => {
      mkdirSync(root);
      const config = join(dir, 'config.json');
      // overall deadline 1 s; the follower ends by itself after 5 s without growth
      writeFileSync(
        config,
        JSON.stringify({ scheduler: { deadline: '1s' }, output: { idleTimeout: '1s' }, send: { root, timeout: '5s' } }),
      );
      srv = await startServer(['--config', config]);
    });

    after(async () => {
      try {
        if (srv !== undefined && srv.child.exitCode === null) assert.equal(await srv.stop('SIGTERM'), 0, srv.output());
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a file growing every 300 ms for ~5 s: every byte and the complete trailer arrive', async () => {
      const growing = join(root, 'grow.txt.tmp');
      writeFileSync(growing, 'piece 0\n');
      let i = 1;
      const timer = setInterval(() => {
        if (i < CHUNKS) appendFileSync(growing, `piece ${i++}\n`);
        else {
          clearInterval(timer);
          renameSync(growing, join(root, 'grow.txt'));
        }
      }, CHUNK_EVERY);
      try {
        const answer = await rawGet(srv.port, 'test', '/send/grow.txt');
        assert.ok(answer.closedByServer);
        const parsed = parseChunked(answer.bytes);
        assert.match(parsed.head, /^HTTP\/1\.1 200 /);
        assert.equal(parsed.body.toString(), expectedBody(CHUNKS), 'every byte arrived');
        assert.ok(parsed.complete, 'the terminating chunk arrived');
        assert.match(answer.bytes.toString('latin1'), /\r\nX-Send-Status: complete\r\n/i);
      } finally {
        clearInterval(timer);
      }
    });
  },
);

describe(
  'security: SIGTERM cuts every open stream once shutdown.grace ran out (issue 12, SIGTERM)',
  { timeout: 120_000 },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-sec-shutdown-'));
    let endless: Upstream;

    before(async () => {
      endless = await chunkedUpstream((socket) => tick(socket, Infinity));
    });

    after(async () => {
      await endless?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a never-ending proxied stream: the process exits and the stream is cut', async () => {
      const adminPort = await deadPort();
      const proxyPort = await deadPort();
      const config = join(dir, 'config.json');
      // no overall deadline, a long idle timeout: only the shutdown can end this stream
      writeFileSync(
        config,
        JSON.stringify({ shutdown: { grace: '1s' }, scheduler: { deadline: 0 }, dyups: { buffering: 'off' } }),
      );
      const srv = await startServer([
        '--config',
        config,
        '--admin-port',
        String(adminPort),
        '--proxy-port',
        String(proxyPort),
      ]);
      try {
        await waitForAdmin(adminPort, () => srv.output(), BOUND);
        await setGroup(adminPort, 'endless.local', endless.port);
        let streaming!: () => void;
        const twoChunksIn = new Promise<void>((resolve) => (streaming = resolve));
        const answer = rawGet(proxyPort, 'endless.local', '/', (all) => {
          if (parseChunked(all).chunks.length >= 2) streaming();
        });
        await twoChunksIn;
        const exited = new Promise<number | null>((resolve) => srv.child.once('exit', (code) => resolve(code)));
        srv.child.kill('SIGTERM');
        const bounded = await Promise.race([
          exited.then((code) => ({ code })),
          new Promise<null>((r) => setTimeout(r, BOUND, null).unref()),
        ]);
        assert.notEqual(bounded, null, `the process did not exit within ${BOUND} ms of SIGTERM:\n${srv.output()}`);
        assert.equal(bounded!.code, 0, srv.output());
        const got = await answer;
        assert.ok(got.closedByServer, 'the stream was cut');
        assert.equal(parseChunked(got.bytes).complete, false, 'no terminating chunk');
      } finally {
        if (srv.child.exitCode === null && srv.child.signalCode === null) srv.child.kill('SIGKILL');
      }
    });
  },
);
