import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, cosocketPlugin } from '../../src/index.js';
import { sendRoutes } from '../../src/server/send-routes.js';
import { readCounters } from '../../src/stream/sendfile/watch-hub.js';
import { parseChunked } from '../helpers/chunked.js';

const outside = mkdtempSync(join(tmpdir(), 'cosocket-outside-'));
const root = mkdtempSync(join(tmpdir(), 'cosocket-send-'));
let app: FastifyInstance;
let port = 0;

/** A raw HTTP client: sends `request`, records every piece with its arrival time, until close or `limitMs`. */
function rawClient(
  request: string,
  limitMs = 10_000,
): { done: Promise<Buffer>; arrivals: Array<{ at: number; bytes: Buffer }>; socket: ReturnType<typeof connect> } {
  const arrivals: Array<{ at: number; bytes: Buffer }> = [];
  const socket = connect(port, '127.0.0.1', () => socket.write(request));
  const done = new Promise<Buffer>((resolve) => {
    const timer = setTimeout(() => socket.destroy(), limitMs);
    socket.on('data', (d: Buffer) => arrivals.push({ at: Date.now(), bytes: d }));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(arrivals.map((a) => a.bytes)));
    });
  });
  return { done, arrivals, socket };
}

const get = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`;
const trailerOf = (raw: Buffer): string | undefined =>
  /\r\n0\r\nX-Send-Status: ([a-z-]+)\r\n\r\n$/i.exec(raw.toString('latin1'))?.[1];
/** A command run to its end (never spawnSync: the server under test shares this event loop). */
function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the client has received `text` (the server follows the file), bounded only for a failure. */
async function sentSoFar(client: { arrivals: Array<{ bytes: Buffer }> }, text: string): Promise<void> {
  const by = Date.now() + 30_000;
  while (!Buffer.concat(client.arrivals.map((a) => a.bytes)).includes(text)) {
    if (Date.now() > by) throw new Error(`the server never sent ${JSON.stringify(text)}`);
    await sleep(10);
  }
}

describe('dynamic sendfile', () => {
  before(async () => {
    writeFileSync(join(outside, 'secret.txt'), 'outside the root');
    writeFileSync(join(root, 'done.txt'), '0123456789');
    mkdirSync(join(root, 'sub'));
    writeFileSync(join(root, 'sub', 'inner.json'), '{}');
    symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
    symlinkSync(join(root, 'done.txt'), join(root, 'alias.txt'));
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler: new Scheduler({ name: 'send' }) });
    // a long poll interval: wake-ups must come from file-system events
    await app.register(sendRoutes, {
      location: '/send/',
      root,
      interval: 2_000,
      timeout: 600,
      suffix: '.tmp',
      maxDuration: 0,
    });
    // for the crowd: 1,000 clients take a while to attach, longer than the idle timeout above
    // for the end trailers: only the file's fate may end these streams, never the idle timeout
    await app.register(sendRoutes, {
      location: '/watch/',
      root,
      interval: 2_000,
      timeout: 60_000,
      suffix: '.tmp',
      maxDuration: 0,
    });
    await app.register(sendRoutes, {
      location: '/crowd/',
      root,
      interval: 2_000,
      timeout: 20_000,
      suffix: '.tmp',
      maxDuration: 0,
    });
    await app.register(sendRoutes, {
      location: '/limited/',
      root,
      interval: 50,
      timeout: 5_000,
      suffix: '.tmp',
      maxDuration: 400,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  after(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('serves a finished file statically: length, ETag, Range 206/416, conditional 304, type by extension', async () => {
    const full = await fetch(`http://127.0.0.1:${port}/send/done.txt`);
    assert.equal(full.status, 200);
    assert.equal(full.headers.get('content-length'), '10');
    assert.equal(full.headers.get('accept-ranges'), 'bytes');
    assert.match(full.headers.get('content-type') ?? '', /text\/plain/);
    assert.equal(await full.text(), '0123456789');
    const etag = full.headers.get('etag')!;
    const partial = await fetch(`http://127.0.0.1:${port}/send/done.txt`, { headers: { range: 'bytes=2-4' } });
    assert.equal(partial.status, 206);
    assert.equal(partial.headers.get('content-range'), 'bytes 2-4/10');
    assert.equal(await partial.text(), '234');
    const tail = await fetch(`http://127.0.0.1:${port}/send/done.txt`, { headers: { range: 'bytes=-3' } });
    assert.equal(await tail.text(), '789');
    const bad = await fetch(`http://127.0.0.1:${port}/send/done.txt`, { headers: { range: 'bytes=50-' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), 'bytes */10');
    const cached = await fetch(`http://127.0.0.1:${port}/send/done.txt`, { headers: { 'if-none-match': etag } });
    assert.equal(cached.status, 304);
    const json = await fetch(`http://127.0.0.1:${port}/send/sub/inner.json`);
    assert.equal(json.headers.get('content-type'), 'application/json');
    const head = await fetch(`http://127.0.0.1:${port}/send/done.txt`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), '10');
    assert.equal(await head.text(), '');
  });

  it('answers 404 for missing files and 405 for other methods', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${port}/send/missing.txt`)).status, 404);
    const post = await fetch(`http://127.0.0.1:${port}/send/done.txt`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  it('never serves a file outside the root, however the path is written', async () => {
    const forms = [
      '/send/../' + 'etc/passwd',
      '/send/%2e%2e/%2e%2e/etc/passwd',
      '/send/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
      '/send/..%2f..%2fetc%2fpasswd',
      '/send/sub/../../etc/passwd',
      '/send/%2fetc%2fpasswd',
      '/send//etc/passwd',
      '/send/..%5c..%5cetc%5cpasswd',
      '/send/done.txt%00.png',
      '/send/%252e%252e/etc/passwd',
      '/send/escape.txt',
      '/send/./done.txt',
      '/send/%ff%fe',
    ];
    for (const path of forms) {
      const client = rawClient(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const raw = (await client.done).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
      assert.ok(status === 404 || status === 400, `${path} answered ${status}`);
      assert.doesNotMatch(raw, /outside the root|root:x:0/, `${path} leaked a file`);
    }
    // a symlink that stays inside the root is fine
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/send/alias.txt`)).text(), '0123456789');
  });

  it('streams lines as they are written, each soon after its write, and ends on rename with status complete', async () => {
    const tmp = join(root, 'live.log.tmp');
    writeFileSync(tmp, 'first\n');
    const client = rawClient(get('/send/live.log'));
    await sleep(200);
    const writes: number[] = [];
    for (const line of ['second\n', 'third\n', 'fourth\n']) {
      writes.push(Date.now());
      appendFileSync(tmp, line);
      await sleep(250);
    }
    renameSync(tmp, join(root, 'live.log'));
    const raw = await client.done;
    const parsed = parseChunked(raw);
    assert.equal(parsed.complete, true);
    assert.equal(parsed.body.toString(), 'first\nsecond\nthird\nfourth\n');
    assert.match(parsed.head, /transfer-encoding: chunked/i);
    assert.match(parsed.head, /trailer: X-Send-Status/i);
    assert.equal(trailerOf(raw), 'complete');
    // each line arrived soon after its write: far below the 2 s poll interval
    for (const [i, line] of ['second', 'third', 'fourth'].entries()) {
      const arrival = client.arrivals.find((a) => a.bytes.toString().includes(line))!;
      assert.ok(arrival.at - writes[i]! < 500, `${line} arrived ${arrival.at - writes[i]!} ms after its write`);
    }
  });

  it('sends the head at once for an empty growing file, before its first byte exists', async () => {
    const tmp = join(root, 'empty.log.tmp');
    writeFileSync(tmp, '');
    const started = Date.now();
    const client = rawClient(get('/send/empty.log'));
    while (client.arrivals.length === 0 && Date.now() - started < 1_500) await sleep(10);
    assert.ok(client.arrivals.length > 0, 'no head within 1.5 s for an empty growing file');
    assert.match(client.arrivals[0]!.bytes.toString(), /^HTTP\/1\.1 200/);
    appendFileSync(tmp, 'now\n');
    renameSync(tmp, join(root, 'empty.log'));
    const raw = await client.done;
    assert.equal(parseChunked(raw).body.toString(), 'now\n');
    assert.equal(trailerOf(raw), 'complete');
  });

  it('does not take bytes read after the last shared stat for a truncation (fast writes, many followers)', async () => {
    const tmp = join(root, 'fast.log.tmp');
    writeFileSync(tmp, '');
    const clients = Array.from({ length: 50 }, () => rawClient(get('/crowd/fast.log'), 30_000));
    const attachedBy = Date.now() + 10_000;
    while (clients.some((c) => c.arrivals.length === 0) && Date.now() < attachedBy) await sleep(20);
    // an independent writer process, as in real use: the server's reads overtake its last shared stat
    let expected = '';
    for (let i = 0; i < 300; i++) expected += `line ${i} ${'x'.repeat(40)}\n`;
    const writer = `const fs = require('fs'); let i = 0; const t = setInterval(() => { for (let k = 0; k < 3 && i < 300; k++, i++) fs.appendFileSync(${JSON.stringify(tmp)}, 'line ' + i + ' ' + 'x'.repeat(40) + '\\n'); if (i >= 300) clearInterval(t); }, 2);`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', writer], { stdio: 'inherit' });
      child.on('error', reject);
      child.on('exit', () => resolve());
    });
    renameSync(tmp, join(root, 'fast.log'));
    for (const raw of await Promise.all(clients.map((c) => c.done))) {
      assert.equal(trailerOf(raw), 'complete');
      assert.equal(parseChunked(raw).body.toString(), expected);
    }
  });

  it('ends with an idle-timeout trailer when the file stops growing', async () => {
    writeFileSync(join(root, 'stuck.log.tmp'), 'only line\n');
    const raw = await rawClient(get('/send/stuck.log')).done;
    assert.equal(parseChunked(raw).body.toString(), 'only line\n');
    assert.equal(trailerOf(raw), 'idle-timeout');
  });

  it('ends with a max-duration trailer once the time limit passes, even while the file grows', async () => {
    const tmp = join(root, 'long.log.tmp');
    writeFileSync(tmp, 'start\n');
    const client = rawClient(get('/limited/long.log'));
    const writer = setInterval(() => appendFileSync(tmp, 'more\n'), 50);
    const raw = await client.done;
    clearInterval(writer);
    assert.equal(trailerOf(raw), 'max-duration');
    assert.match(parseChunked(raw).body.toString(), /^start\n(more\n)+$/);
  });

  it('ends with deleted or truncated trailers, and never sends bytes of a replacement file', async () => {
    const del = join(root, 'del.log.tmp');
    writeFileSync(del, 'before delete\n');
    const deleted = rawClient(get('/watch/del.log'));
    await sentSoFar(deleted, 'before delete');
    unlinkSync(del);
    const delRaw = await deleted.done;
    assert.equal(trailerOf(delRaw), 'deleted');

    const trunc = join(root, 'trunc.log.tmp');
    writeFileSync(trunc, 'a long first line\n');
    const truncated = rawClient(get('/watch/trunc.log'));
    await sentSoFar(truncated, 'a long first line');
    truncateSync(trunc, 2);
    assert.equal(trailerOf(await truncated.done), 'truncated');

    const rot = join(root, 'rot.log.tmp');
    writeFileSync(rot, 'old file\n');
    const rotated = rawClient(get('/watch/rot.log'));
    await sentSoFar(rotated, 'old file');
    unlinkSync(rot);
    writeFileSync(rot, 'NEW FILE CONTENT THAT MUST NOT APPEAR\n');
    const rotRaw = await rotated.done;
    assert.equal(trailerOf(rotRaw), 'replaced');
    assert.doesNotMatch(rotRaw.toString(), /NEW FILE/);
  });

  it('answers a Range of a growing file with the bytes present: 206 bytes N-M/* that curl -C - and fetch accept', async () => {
    const tmp = join(root, 'resume.log.tmp');
    writeFileSync(tmp, '0123456789');
    // RFC 9110 section 14.4: Content-Range = range-unit SP first-pos "-" last-pos "/" ( complete-length / "*" )
    const strict = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;
    const partial = await fetch(`http://127.0.0.1:${port}/send/resume.log`, { headers: { range: 'bytes=4-' } });
    assert.equal(partial.status, 206);
    const contentRange = partial.headers.get('content-range') ?? '';
    assert.match(contentRange, strict);
    assert.equal(contentRange, 'bytes 4-9/*');
    assert.equal(partial.headers.get('content-length'), '6');
    assert.equal(await partial.text(), '456789');
    // curl resumes a download from what it has; it parses the Content-Range and checks the offset
    const local = join(outside, 'resume.part');
    writeFileSync(local, '0123');
    const curl = await run('curl', [
      '-sS',
      '-m',
      '20',
      '-C',
      '-',
      '-o',
      local,
      `http://127.0.0.1:${port}/send/resume.log`,
    ]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.equal(readFileSync(local, 'utf8'), '0123456789');
    // later bytes come with a later request; past the bytes present, 416 (no complete length to name yet)
    appendFileSync(tmp, 'ABC');
    const later = await fetch(`http://127.0.0.1:${port}/send/resume.log`, { headers: { range: 'bytes=10-' } });
    assert.equal(later.status, 206);
    assert.equal(later.headers.get('content-range'), 'bytes 10-12/*');
    assert.equal(await later.text(), 'ABC');
    const beyond = await fetch(`http://127.0.0.1:${port}/send/resume.log`, { headers: { range: 'bytes=13-' } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), null);
    await beyond.arrayBuffer();
    renameSync(tmp, join(root, 'resume.log'));
    const done = await fetch(`http://127.0.0.1:${port}/send/resume.log`, { headers: { range: 'bytes=10-' } });
    assert.equal(done.headers.get('content-range'), 'bytes 10-12/13');
    assert.equal(await done.text(), 'ABC');
  });

  it('answers HEAD on a growing file with headers only, and HTTP/1.0 with a body ended by closing', async () => {
    const tmp = join(root, 'old.log.tmp');
    writeFileSync(tmp, 'for http/1.0\n');
    const head = await rawClient(`HEAD /send/old.log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).done;
    const headText = head.toString();
    assert.match(headText, /^HTTP\/1\.1 200/);
    assert.ok(headText.endsWith('\r\n\r\n'), 'HEAD must not carry a body');
    const legacy = rawClient(`GET /send/old.log HTTP/1.0\r\nHost: x\r\n\r\n`);
    await sleep(150);
    renameSync(tmp, join(root, 'old.log'));
    const raw = (await legacy.done).toString();
    assert.doesNotMatch(raw, /transfer-encoding/i);
    assert.ok(raw.endsWith('for http/1.0\n'), JSON.stringify(raw.slice(-60)));
  });

  it('closes the file descriptor as soon as the client goes away', async () => {
    writeFileSync(join(root, 'abort.log.tmp'), 'x\n');
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    const client = rawClient(get('/send/abort.log'));
    await sleep(150);
    assert.ok(fds() > before, 'following should hold a descriptor');
    client.socket.destroy();
    await sleep(150);
    assert.ok(fds() <= before, `descriptors: ${before} before, ${fds()} after the client left`);
  });

  it('serves 1,000 followers of one file from one watch and one read per change, all complete', async () => {
    const reads = { ...readCounters };
    const tmp = join(root, 'crowd.log.tmp');
    writeFileSync(tmp, 'hello crowd\n');
    const clients = Array.from({ length: 1_000 }, () => rawClient(get('/crowd/crowd.log'), 60_000));
    // every follower is attached once it received the head and the first line
    const attachedBy = Date.now() + 30_000;
    while (
      clients.some((c) => !Buffer.concat(c.arrivals.map((a) => a.bytes)).includes('hello crowd')) &&
      Date.now() < attachedBy
    )
      await sleep(50);
    appendFileSync(tmp, 'second line\n');
    await sleep(200);
    renameSync(tmp, join(root, 'crowd.log'));
    const results = await Promise.all(clients.map((c) => c.done));
    let complete = 0;
    for (const raw of results) {
      const parsed = parseChunked(raw);
      if (parsed.body.toString() === 'hello crowd\nsecond line\n' && trailerOf(raw) === 'complete') complete++;
    }
    if (complete !== 1_000) {
      const kinds = new Map<string, number>();
      for (const raw of results) {
        let key: string;
        try {
          const parsed = parseChunked(raw);
          key = `${trailerOf(raw) ?? 'no trailer'} ${JSON.stringify(parsed.body.toString())}`;
        } catch (err) {
          key = `unparsable (${raw.length} bytes): ${(err as Error).message}`;
        }
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      console.log([...kinds]);
    }
    assert.equal(complete, 1_000);
    // the new line was read once for everybody; followers read only what preceded their arrival
    const own = readCounters.own - reads.own;
    assert.ok(own <= 1_000 + 50, `${own} reads by followers themselves for 1,000 followers`);
    assert.ok(readCounters.shared - reads.shared >= 1);
  });
});
