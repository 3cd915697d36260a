import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, cosocketPlugin } from '../../src/index.js';
import { sendRoutes } from '../../src/server/send-routes.js';
import { parseChunked } from '../helpers/chunked.js';

// Followers caught up with a growing file are parked: the shared refresh writes each change to their
// sockets itself. These check what that must keep: every byte once and in order for every follower,
// one chunk for appends made within one turn, a slow client holding up nobody and losing nothing,
// and the stream's idle timeout not taken for a stall while the refresh writes for the follower.

const root = mkdtempSync(join(tmpdir(), 'cosocket-send-push-'));
/** Long idle and send timeouts: a client may stop reading for a while. */
let app: FastifyInstance;
let port = 0;
/** Short ones: a stream the refresh writes for must still count as moving. */
let quickApp: FastifyInstance;
let quickPort = 0;

interface Client {
  socket: Socket;
  received: () => Buffer;
  /** the last bytes received, without joining everything */
  tail: () => string;
  done: Promise<Buffer>;
}

function follow(path: string, to = port): Client {
  const pieces: Buffer[] = [];
  let tail = '';
  const socket = connect(to, '127.0.0.1', () =>
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
  );
  socket.on('data', (d: Buffer) => {
    pieces.push(d);
    tail = (tail + d.subarray(-64).toString('latin1')).slice(-64);
  });
  socket.on('error', () => {});
  const done = new Promise<Buffer>((resolve) => socket.on('close', () => resolve(Buffer.concat(pieces))));
  return { socket, received: () => Buffer.concat(pieces), tail: () => tail, done };
}

/**
 * A listening server whose handlers have `deadline` ms (then their streams' idle timeout) and these output
 * timeouts, following files of `root` under `location` with this poll interval and growth timeout.
 */
async function listen(
  deadline: number,
  output: { idleTimeout: number; sendTimeout: number },
  location: string,
  timing: { interval: number; timeout: number },
): Promise<{ server: FastifyInstance; port: number }> {
  const server = Fastify({ logger: false });
  await server.register(cosocketPlugin, { scheduler: new Scheduler({ name: 'send-push', deadline }), output });
  await server.register(sendRoutes, { location, root, ...timing, suffix: '.tmp', maxDuration: 0 });
  await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, port: (server.server.address() as { port: number }).port };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean): Promise<void> {
  const by = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > by) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

const trailerOf = (raw: Buffer): string | undefined =>
  /\r\n0\r\nX-Send-Status: ([a-z-]+)\r\n\r\n$/i.exec(raw.toString('latin1'))?.[1];

/** The body bytes received so far (chunks complete or not), without the head and framing. */
function bodySoFar(raw: Buffer): string {
  return parseChunked(raw).body.toString('latin1');
}

describe('dynamic sendfile: followers written to by the shared refresh', () => {
  before(async () => {
    // a long poll: wake-ups come from file-system events
    ({ server: app, port } = await listen(60_000, { idleTimeout: 60_000, sendTimeout: 60_000 }, '/send/', {
      interval: 2_000,
      timeout: 60_000,
    }));
    // the handler's deadline (200 ms) hands over to the stream's idle timeout (400 ms), both far shorter
    // than the growth of the file below: only progress the stream makes keeps it
    ({ server: quickApp, port: quickPort } = await listen(200, { idleTimeout: 400, sendTimeout: 400 }, '/quick/', {
      interval: 50,
      timeout: 300,
    }));
  });
  after(async () => {
    await app.close();
    await quickApp.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('sends appends made within one turn once, in order, as one chunk, to every follower', async () => {
    const tmp = join(root, 'burst.log.tmp');
    writeFileSync(tmp, 'start\n');
    const clients = Array.from({ length: 20 }, () => follow('/send/burst.log'));
    await until('every follower has the first line', () => clients.every((c) => c.received().includes('start\n')));
    let expected = 'start\n';
    for (let burst = 0; burst < 5; burst++) {
      let text = '';
      // one turn of this process (which also runs the server): the server sees them all at once
      for (let i = 0; i < 10; i++) {
        const line = `burst ${burst} line ${i}\n`;
        appendFileSync(tmp, line);
        text += line;
      }
      expected += text;
      await until(`every follower has burst ${burst}`, () =>
        clients.every((c) => bodySoFar(c.received()).endsWith(text)),
      );
    }
    renameSync(tmp, join(root, 'burst.log'));
    for (const raw of await Promise.all(clients.map((c) => c.done))) {
      const parsed = parseChunked(raw);
      assert.equal(trailerOf(raw), 'complete');
      assert.equal(parsed.body.toString(), expected);
      // the first line, then one chunk per burst: ten appends in one turn were read and framed once
      assert.deepEqual(
        parsed.chunks.map((c) => c.toString().split('\n').length - 1),
        [1, 10, 10, 10, 10, 10],
      );
    }
  });

  it('lets a client that stops reading hold up no other follower, and loses none of its bytes', async () => {
    const tmp = join(root, 'slow.log.tmp');
    writeFileSync(tmp, '');
    const fast = Array.from({ length: 5 }, () => follow('/send/slow.log'));
    const slow = follow('/send/slow.log');
    await until('every follower has the head', () => [...fast, slow].every((c) => c.received().includes('\r\n\r\n')));
    slow.socket.pause();
    // 16 MB, far more than the slow client's socket buffers hold: its writes must wait for it while the others go on
    const block = `${'x'.repeat(16 * 1024 - 8)}\n`;
    let expected = '';
    for (let i = 0; i < 1_000; i++) {
      const piece = `${String(i).padStart(7, '0')}${block}`;
      appendFileSync(tmp, piece);
      expected += piece;
      if (i % 20 === 19) await sleep(5);
    }
    appendFileSync(tmp, 'END\n');
    expected += 'END\n';
    await until('the fast followers have everything written', () => fast.every((c) => c.tail().endsWith('END\n\r\n')));
    for (const c of fast) assert.equal(bodySoFar(c.received()).length, expected.length);
    // the slow one has not read it all: the server waits for it, and did not wait on it for the others
    assert.ok(bodySoFar(slow.received()).length < expected.length, 'the paused client got everything');
    renameSync(tmp, join(root, 'slow.log'));
    await Promise.all(fast.map((c) => c.done));
    slow.socket.resume();
    for (const raw of await Promise.all([...fast, slow].map((c) => c.done))) {
      assert.equal(trailerOf(raw), 'complete');
      assert.equal(parseChunked(raw).body.toString(), expected);
    }
  });

  it('keeps a stream the refresh writes for alive past its idle timeout while the file grows', async () => {
    const tmp = join(root, 'steady.log.tmp');
    writeFileSync(tmp, 'first\n');
    const client = follow('/quick/steady.log', quickPort);
    await until('the follower has the first line', () => client.received().includes('first\n'));
    let expected = 'first\n';
    // 1.5 s of growth, a line every 30 ms: several times the stream's 400 ms idle timeout
    for (let i = 0; i < 50; i++) {
      await sleep(30);
      appendFileSync(tmp, `line ${i}\n`);
      expected += `line ${i}\n`;
    }
    renameSync(tmp, join(root, 'steady.log'));
    const raw = await client.done;
    assert.equal(trailerOf(raw), 'complete');
    assert.equal(parseChunked(raw).body.toString(), expected);
  });
});
