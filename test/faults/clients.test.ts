import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';
import { parseChunked } from '../helpers/chunked.js';
import { startServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import type { RunningServer } from '../helpers/cli.js';
import { openFds, servingPid, scale, settle, status, timeBudget, timedGet } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-clients-'));
const root = join(dir, 'root');
mkdirSync(root);

/** Extra descriptors tolerated over the baseline: the test's own keep-alive connections, a file watch. */
const FD_MARGIN = 5;

interface Baseline {
  fds: number;
  live: number;
}

async function baseline(server: RunningServer): Promise<Baseline> {
  // warm up: the Redis pool connection and the test's keep-alive connection exist before counting
  assert.equal((await timedGet(`http://127.0.0.1:${server.port}/test`)).status, 200);
  const idle = await settle(
    () => status(server.port),
    (s) => s.scheduler.live === 0,
    5_000,
  );
  return { fds: openFds(servingPid(server.child.pid!)), live: idle.value.scheduler.live };
}

/** Waits until the server's descriptors and live coroutines are back at the baseline; says what it saw if not. */
async function backToBaseline(server: RunningServer, base: Baseline, what: string, ms = 10_000): Promise<number> {
  const started = Date.now();
  const back = await settle(
    async () => ({ fds: openFds(servingPid(server.child.pid!)), live: (await status(server.port)).scheduler.live }),
    (v) => v.fds <= base.fds + FD_MARGIN && v.live <= base.live,
    ms,
  );
  assert.ok(
    back.ok,
    `${what}: after ${ms} ms the server still has ${back.value.fds} fds (baseline ${base.fds}) and ${back.value.live} live coroutines (baseline ${base.live})`,
  );
  return Date.now() - started;
}

interface AbortResult {
  head: string;
  received: number;
  /** read `want` bytes and hung up itself */
  aborted: boolean;
}

/**
 * GET `path` over a raw socket, read at least `want` bytes of the response (head included), then hang up
 * mid-response: with a FIN (destroy) or, when `reset`, with an RST.
 */
function abortAfter(port: number, path: string, want: number, reset: boolean, limitMs = 15_000): Promise<AbortResult> {
  return new Promise((resolve) => {
    const result: AbortResult = { head: '', received: 0, aborted: false };
    let first: Buffer | null = null;
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: faults\r\n\r\n`));
    const timer = setTimeout(() => socket.destroy(), limitMs);
    const done = (): void => {
      clearTimeout(timer);
      if (first !== null) result.head = first.subarray(0, Math.max(0, first.indexOf('\r\n'))).toString('latin1');
      resolve(result);
    };
    socket.on('data', (data: Buffer) => {
      if (first === null) first = data;
      result.received += data.length;
      if (result.received >= want && !result.aborted) {
        result.aborted = true;
        if (reset) socket.resetAndDestroy();
        else socket.destroy();
        done();
      }
    });
    socket.on('error', () => {});
    socket.on('close', done);
  });
}

interface Slowloris {
  started: number;
  /** first line of every answer the server sent */
  answers: string[];
  /** ms after `started` at which each connection closed */
  closedAt: number[];
  stop(): void;
}

/** `count` connections that send `head` (no blank line), then one more header line per second, forever. */
async function slowloris(port: number, count: number, head: string): Promise<Slowloris> {
  const sockets: Socket[] = [];
  const result: Slowloris = {
    started: Date.now(),
    answers: [],
    closedAt: [],
    stop: () => {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    },
  };
  let line = 0;
  const trickle = setInterval(() => {
    line++;
    for (const s of sockets) if (!s.destroyed && s.writable) s.write(`X-Slow-${line}: ${'y'.repeat(16)}\r\n`);
  }, 1_000);
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.write(head);
            resolve();
          });
          socket.on('data', (d: Buffer) => result.answers.push(d.toString('latin1').split('\r\n')[0]!));
          socket.on('error', () => resolve());
          socket.on('close', () => result.closedAt.push(Date.now() - result.started));
          sockets.push(socket);
        }),
    ),
  );
  return result;
}

timeBudget('faults/clients.test', { fast: 45_000, full: 300_000 });

describe('faults: misbehaving clients (aborts, slowloris, clients that never read)', () => {
  let redis: EmbeddedRedis;
  before(async () => {
    redis = await startEmbeddedRedis();
  });
  after(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('default output settings', () => {
    let server: RunningServer;
    let proxyPort: number;
    before(async () => {
      // a file still being written, never renamed: every response streams until the client goes away
      writeFileSync(join(root, 'big.tmp'), Buffer.alloc(1024 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n'));
      const config = join(dir, 'streaming.json');
      writeFileSync(config, JSON.stringify({ send: { root, timeout: '120s' }, limits: { headerTimeout: '4s' } }));
      proxyPort = await deadPort();
      server = await startServer(['--redis', redis.url, '--config', config, '--proxy-port', String(proxyPort)]);
    });
    after(async () => {
      await server.stop('SIGKILL');
    });

    it(`${scale(1000, 10000)} clients abort a streaming response mid-way (FIN and RST): no descriptor or coroutine is left behind`, async () => {
      const base = await baseline(server);
      const total = scale(1000, 10000);
      const batch = 200;
      // hang up right after the head, inside the first chunk, and deep into the stream
      const wants = [1, 300, 20_000, 100_000, 400_000];
      const failed: string[] = [];
      let maxLive = 0;
      for (let start = 0; start < total; start += batch) {
        const results = await Promise.all(
          Array.from({ length: Math.min(batch, total - start) }, (_, k) =>
            abortAfter(server.port, '/send/big', wants[(start + k) % wants.length]!, (start + k) % 2 === 1),
          ),
        );
        for (const r of results) {
          if (!r.aborted || r.head !== 'HTTP/1.1 200 OK')
            failed.push(`${r.head || '(no head)'} after ${r.received} bytes`);
        }
        maxLive = Math.max(maxLive, (await status(server.port)).scheduler.live);
      }
      assert.deepEqual(
        failed.slice(0, 5),
        [],
        `${failed.length} of ${total} clients did not get the stream they hung up on`,
      );
      const ms = await backToBaseline(server, base, `${total} aborted streams`);
      assert.equal((await status(server.port)).scheduler.queued, 0);
      assert.equal((await timedGet(`http://127.0.0.1:${server.port}/test`)).status, 200, 'GET /test after the aborts');
      const again = await abortAfter(server.port, '/send/big', 50_000, false);
      assert.ok(again.aborted && again.head === 'HTTP/1.1 200 OK', 'the growing file still streams to a new client');
      await backToBaseline(server, base, 'one more stream');
      console.log(
        `${total} aborted streams: back to baseline ${ms} ms after the last batch; at most ${maxLive} coroutines live between batches`,
      );
    });

    it(`slowloris: ${scale(200, 1000)} heads trickling one header line per second hold one socket each and no coroutine, normal requests stay prompt, and limits.headerTimeout (4 s) cuts them all with 408`, async () => {
      const base = await baseline(server);
      const count = scale(200, 1000);
      const clients = await slowloris(server.port, count, 'GET /test HTTP/1.1\r\nHost: faults\r\n');
      try {
        // each half-sent request holds one socket on the server, nothing more
        const held = await settle(
          () => openFds(servingPid(server.child.pid!)),
          (fds) => fds >= base.fds + count * 0.9,
          5_000,
        );
        assert.ok(held.ok, `the server holds ${held.value - base.fds} extra fds for ${count} slowloris connections`);
        const probes: number[] = [];
        // probe while they hang: the first are cut at 4 s after they connected
        while (Date.now() - clients.started < 3_000 && probes.length < 100) {
          const res = await timedGet(`http://127.0.0.1:${server.port}/test`, {}, 5_000);
          assert.equal(res.status, 200, 'GET /test while slowloris connections hang');
          probes.push(res.ms);
          const s = await status(server.port);
          assert.ok(
            s.scheduler.live <= base.live + 1,
            `a slowloris connection holds a coroutine: ${s.scheduler.live} live`,
          );
          await new Promise((r) => setTimeout(r, 200));
        }
        const during = openFds(servingPid(server.child.pid!));
        assert.ok(
          during <= base.fds + count + FD_MARGIN,
          `${during - base.fds} extra fds for ${count} connections: more than one socket each`,
        );
        assert.ok(probes.length >= 1, `only ${probes.length} probes while the slowloris connections hung`);
        const slowest = Math.max(...probes);
        assert.ok(slowest < 2_000, `GET /test took ${Math.round(slowest)} ms while the slowloris connections hung`);
        // the server cuts every one itself: headerTimeout 4 s, checked every second
        const cut = await settle(
          () => clients.closedAt.length,
          (n) => n === count,
          20_000,
        );
        assert.ok(cut.ok, `only ${cut.value} of ${count} slowloris connections were closed by the server within 20 s`);
        const answers = [...new Set(clients.answers)];
        assert.deepEqual(answers, ['HTTP/1.1 408 Request Timeout'], `${clients.answers.length} answers`);
        assert.equal(clients.answers.length, count);
        const first = Math.min(...clients.closedAt);
        const last = Math.max(...clients.closedAt);
        assert.ok(
          first >= 3_500 && last < 12_000,
          `cut between ${first} and ${last} ms after connecting (headerTimeout 4 s)`,
        );
        await backToBaseline(server, base, 'slowloris connections cut by the server');
        console.log(
          `slowloris: ${count} connections held ${held.value - base.fds} fds and no coroutine; /test answered in at most ${Math.round(slowest)} ms; all cut with 408 ${first}..${last} ms after connecting`,
        );
      } finally {
        clients.stop();
      }
      await backToBaseline(server, base, 'after the slowloris clients closed');
    });

    it('slowloris on the dyups proxy listener is cut at limits.headerTimeout too', async () => {
      const base = await baseline(server);
      const clients = await slowloris(proxyPort, 20, 'GET / HTTP/1.1\r\nHost: app.local\r\n');
      try {
        const cut = await settle(
          () => clients.closedAt.length,
          (n) => n === 20,
          8_000,
        );
        assert.ok(
          cut.ok,
          `${20 - cut.value} of 20 trickling heads on the proxy listener were still held 8 s after connecting (limits.headerTimeout 4 s)`,
        );
        assert.deepEqual([...new Set(clients.answers)], ['HTTP/1.1 408 Request Timeout']);
      } finally {
        clients.stop();
      }
      await backToBaseline(server, base, 'after the proxy slowloris clients closed');
    });
  });

  describe('output.sendTimeout 1s', () => {
    let server: RunningServer;
    const streamSize = 16 * 1024 * 1024;
    before(async () => {
      writeFileSync(join(root, 'stream.tmp'), Buffer.alloc(streamSize, 'x'));
      writeFileSync(join(root, 'huge'), '');
      truncateSync(join(root, 'huge'), 50 * 1024 * 1024); // finished, 50 MB (sparse)
      const config = join(dir, 'send-timeout.json');
      writeFileSync(config, JSON.stringify({ output: { sendTimeout: '1s' }, send: { root, timeout: '120s' } }));
      server = await startServer(['--redis', redis.url, '--config', config]);
    });
    after(async () => {
      await server.stop('SIGKILL');
    });

    /** Clients that send GET `path` and never read a byte (the socket is paused before anything arrives). */
    async function neverReading(path: string, count: number): Promise<Socket[]> {
      const sockets = await Promise.all(
        Array.from(
          { length: count },
          () =>
            new Promise<Socket>((resolve) => {
              const socket = connect(server.port, '127.0.0.1', () => {
                socket.write(`GET ${path} HTTP/1.1\r\nHost: faults\r\n\r\n`);
                resolve(socket);
              });
              socket.pause();
              socket.on('error', () => {});
            }),
        ),
      );
      return sockets;
    }

    it('clients that never read a growing file: the server gives up on each after the send timeout and frees everything', async () => {
      const base = await baseline(server);
      const count = scale(20, 200);
      const asked = Date.now();
      const sockets = await neverReading('/send/stream', count);
      try {
        // while the server waits on them, each holds a socket, a file and a coroutine
        let held = 0;
        await settle(
          () => status(server.port),
          (s) => {
            held = Math.max(held, s.scheduler.live);
            return held >= count;
          },
          3_000,
        );
        assert.ok(held > 0, 'the server never held a coroutine for the non-reading clients');
        await backToBaseline(server, base, `${count} clients that never read a growing file`, 15_000);
        const freedAfter = Date.now() - asked;
        assert.ok(
          sockets.every((s) => !s.destroyed),
          'the clients themselves never hung up',
        );
        // the client, reading at last, finds the response cut: no last chunk, so it cannot take it for complete
        const one = sockets[0]!;
        const bytes: Buffer[] = [];
        one.on('data', (d: Buffer) => bytes.push(d));
        const ended = new Promise<boolean>((resolve) => {
          one.once('close', () => resolve(true));
          setTimeout(() => resolve(false), 15_000);
        });
        one.resume();
        assert.ok(await ended, 'the client, once reading, never saw the connection end');
        const response = parseChunked(Buffer.concat(bytes));
        assert.match(response.head, /^HTTP\/1\.1 200 OK/);
        assert.equal(response.complete, false, 'a response cut by the send timeout must not end with the last chunk');
        assert.ok(response.body.length < streamSize, `${response.body.length} of ${streamSize} bytes went out`);
        console.log(
          `never-reading clients of a growing file: at most ${held} coroutines waited at once; all freed ${freedAfter} ms after the requests (sendTimeout 1 s); one client got ${response.body.length} bytes, then the cut`,
        );
      } finally {
        for (const s of sockets) s.destroy();
      }
      await backToBaseline(server, base, 'after the clients closed');
      assert.equal((await timedGet(`http://127.0.0.1:${server.port}/test`)).status, 200);
    });

    it('clients that never read a finished 50 MB file: the server gives up on each after the send timeout and frees its socket and file', async () => {
      const base = await baseline(server);
      const count = scale(20, 200);
      const sockets = await neverReading('/send/huge', count);
      try {
        // they are accepted and the files opened; the coroutines themselves end at once (they return the stream)
        await settle(
          () => openFds(servingPid(server.child.pid!)),
          (fds) => fds >= base.fds + count,
          5_000,
        );
        await backToBaseline(
          server,
          base,
          `${count} clients that never read a finished 50 MB file (sendTimeout 1 s)`,
          8_000,
        );
      } finally {
        for (const s of sockets) s.destroy();
      }
      await backToBaseline(server, base, 'after the clients closed');
      assert.equal((await timedGet(`http://127.0.0.1:${server.port}/test`)).status, 200);
    });
  });
});
