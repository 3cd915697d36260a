import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { openFds, servingPid, settle, status } from './harness.js';

/**
 * Issue 12, finding 8: /send/ must serve only files whose real path is inside the root, even while an
 * attacker who can write inside the root swaps a name between a regular file and a symlink to a secret
 * outside it (finished files, growing files, Range requests, and a directory swapped for a symlink).
 * A swapper process renames as fast as it can while requests run; not one response may hold the secret.
 */

const SECRET = 'TOP-SECRET-outside-the-root';
const PUBLIC = 'public bytes inside the root';
/** What any response from byte 4 on still holds. */
const SECRET_TAIL = 'outside-the-root';
const PUBLIC_TAIL = 'inside the root';
/** Requests per case: enough that today's check-then-open-by-name leaks every time (tens to hundreds). */
const REQUESTS = 3_000;
/** The directory swapper is slower (it removes a tree each time): more requests to meet its window. */
const DIRECTORY_REQUESTS = 6_000;
const CONNECTIONS = 8;
const MIN_SWAPS = 300;

const dir = mkdtempSync(join(tmpdir(), 'cosocket-sec-send-'));
const root = join(dir, 'root');
const outside = join(dir, 'outside');
let server: RunningServer;

/** One request on its own connection; the whole answer, as bytes, once the server closes. */
function rawRequest(port: number, request: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.setTimeout(30_000, () => socket.destroy());
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * A child process that swaps `target` between a regular file (PUBLIC) and a symlink to `secret`,
 * each time by renaming a freshly made entry over it (atomic), until its stdin closes; it then prints
 * how many swaps it made.
 */
function startSwapper(
  target: string,
  secret: string,
  kind: 'file' | 'dir',
): { child: ChildProcess; swaps: Promise<number> } {
  const script = `
    const fs = require('node:fs');
    const [target, secret, kind, publicText] = process.argv.slice(1);
    let swaps = 0, stop = false;
    process.stdin.on('data', () => {}); process.stdin.on('end', () => { stop = true; });
    function makeReal(tmp) {
      if (kind === 'dir') { fs.mkdirSync(tmp); fs.writeFileSync(tmp + '/f.txt', publicText); }
      else fs.writeFileSync(tmp, publicText);
    }
    function swap() {
      for (let i = 0; i < 200; i++) {
        const real = target + '.r' + swaps, link = target + '.l' + swaps;
        makeReal(real);
        if (kind === 'dir') fs.rmSync(target, { recursive: true, force: true });
        fs.renameSync(real, target);
        fs.symlinkSync(secret, link);
        if (kind === 'dir') fs.rmSync(target, { recursive: true, force: true });
        fs.renameSync(link, target);
        swaps += 2;
      }
      if (stop) { process.stdout.write(String(swaps)); return; }
      setImmediate(swap);
    }
    swap();
  `;
  const child = spawn(process.execPath, ['-e', script, target, secret, kind, PUBLIC], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const swaps = new Promise<number>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', () => resolve(Number(out)));
  });
  return { child, swaps };
}

interface RaceResult {
  requests: number;
  leaks: number;
  served: number;
  statuses: Map<number, number>;
  swaps: number;
}

/** `count` requests over CONNECTIONS parallel clients while the swapper runs. */
async function race(
  target: string,
  secret: string,
  kind: 'file' | 'dir',
  requests: string[],
  count = REQUESTS,
): Promise<RaceResult> {
  const swapper = startSwapper(target, secret, kind);
  const statuses = new Map<number, number>();
  let leaks = 0;
  let served = 0;
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < count) {
          const request = requests[next++ % requests.length]!;
          const answer = await rawRequest(server.port, request);
          const text = answer.toString('latin1');
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (text.includes(SECRET_TAIL)) leaks++;
          if (text.includes(PUBLIC_TAIL)) served++;
        }
      }),
    );
  } finally {
    swapper.child.stdin!.end();
  }
  return { requests: count, leaks, served, statuses, swaps: await swapper.swaps };
}

const get = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`;

function check(what: string, result: RaceResult): void {
  const seen = JSON.stringify([...result.statuses]);
  assert.ok(result.swaps >= MIN_SWAPS, `${what}: only ${result.swaps} swaps ran beside the requests`);
  assert.equal(
    result.leaks,
    0,
    `${what}: ${result.leaks} of ${result.requests} responses held the secret (statuses ${seen})`,
  );
  assert.ok(result.served > 0, `${what}: the public file was never served (statuses ${seen})`);
  for (const status of result.statuses.keys())
    assert.ok([200, 206, 404].includes(status), `${what}: status ${status} (statuses ${seen})`);
}

describe('security: /send/ symlink swap races (issue 12, finding 8)', () => {
  before(async () => {
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), `${SECRET}\n`);
    mkdirSync(join(outside, 'secret-dir'));
    writeFileSync(join(outside, 'secret-dir', 'f.txt'), `${SECRET}\n`);
    const config = join(dir, 'config.json');
    // a short idle timeout: growing-file followers end soon after their file stops changing
    writeFileSync(config, JSON.stringify({ send: { root, timeout: '300ms', interval: '50ms' } }));
    server = await startServer(['--config', config]);
  });

  after(async () => {
    await server?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a finished file swapped with a symlink out of the root: GET and Range never send the secret', async () => {
    const result = await race(join(root, 'race.txt'), join(outside, 'secret.txt'), 'file', [
      get('/send/race.txt'),
      get('/send/race.txt', 'Range: bytes=0-\r\n'),
      get('/send/race.txt', 'Range: bytes=4-\r\n'),
    ]);
    check('finished file', result);
  });

  it('a growing file (NAME.tmp) swapped with a symlink out of the root never sends the secret', async () => {
    const result = await race(join(root, 'grow.log.tmp'), join(outside, 'secret.txt'), 'file', [
      get('/send/grow.log'),
      get('/send/grow.log', 'Range: bytes=4-\r\n'),
    ]);
    check('growing file', result);
  });

  it('a directory inside the root swapped with a symlink to a directory outside never sends the secret', async () => {
    const result = await race(
      join(root, 'dir'),
      join(outside, 'secret-dir'),
      'dir',
      [get('/send/dir/f.txt'), get('/send/dir/f.txt', 'Range: bytes=0-\r\n')],
      DIRECTORY_REQUESTS,
    );
    check('directory component', result);
  });

  it('descriptors held open for serving are all closed when clients go away mid-response or at once', async () => {
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 0x61));
    writeFileSync(join(root, 'small.txt'), PUBLIC);
    await status(server.port); // its keep-alive connection is part of the baseline
    const baseline = openFds(servingPid(server.child.pid!));
    const clients = 200;
    await Promise.all(
      Array.from(
        { length: clients },
        (_, i) =>
          new Promise<void>((resolve) => {
            const path = i % 2 === 0 ? '/send/big.bin' : '/send/small.txt';
            const socket = connect(server.port, '127.0.0.1', () => {
              socket.write(get(path, i % 4 < 2 ? 'Range: bytes=1-\r\n' : ''));
              // half go away before any answer, half after the first bytes of it
              if (i % 3 === 0) socket.destroy();
            });
            socket.once('data', () => socket.destroy());
            socket.on('error', () => {});
            socket.on('close', () => resolve());
          }),
      ),
    );
    const idle = await settle(
      () => status(server.port),
      (s) => s.scheduler.live === 0,
      30_000,
    );
    assert.ok(idle.ok, `${idle.value.scheduler.live} coroutines still live`);
    // the open-file cache keeps big.bin's descriptor for the next request (small.txt is kept in memory)
    const cached = 1;
    const fds = await settle(
      () => openFds(servingPid(server.child.pid!)),
      (n) => n <= baseline + cached,
      30_000,
    );
    assert.ok(
      fds.ok,
      `the server holds ${fds.value} descriptors, ${baseline} before the clients (+${cached} in the open-file cache)`,
    );
  });
});
