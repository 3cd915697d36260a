import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, cosocketPlugin } from '../../src/index.js';
import { sendRoutes } from '../../src/server/send-routes.js';

const root = mkdtempSync(join(tmpdir(), 'cosocket-send-cache-'));
const outside = mkdtempSync(join(tmpdir(), 'cosocket-send-cache-outside-'));
let app: FastifyInstance;
let base = '';

const HOUR = 3_600_000;
/** How long a change may take to show: far below `valid` (an hour), far above an inotify event's delay. */
const SHOWS_WITHIN_MS = 5_000;

/**
 * The two ways the open-file cache learns of a change: `/checked/` stats the name on every request
 * (the default), `/watched/` trusts an entry for an hour (nginx's open_file_cache_valid) and relies on
 * its own inotify watches to drop it.
 */
const MODES = [
  { name: 'checked by stat on every request', location: '/checked/' },
  { name: 'valid for an hour, dropped by its watches', location: '/watched/' },
];

async function body(location: string, name: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${location}${name}`);
  return { status: res.status, text: await res.text() };
}

/** Asks until the answer is `expected` (the cache saw the change), failing after SHOWS_WITHIN_MS. */
async function shows(location: string, name: string, expected: { status: number; text?: string }): Promise<void> {
  const by = Date.now() + SHOWS_WITHIN_MS;
  let last = await body(location, name);
  while (last.status !== expected.status || (expected.text !== undefined && last.text !== expected.text)) {
    if (Date.now() > by)
      assert.fail(
        `${location}${name}: still ${last.status} ${JSON.stringify(last.text)}, expected ${JSON.stringify(expected)}`,
      );
    await new Promise((r) => setTimeout(r, 20));
    last = await body(location, name);
  }
}

/** The file is served, and served again (from the cache now). */
async function cached(location: string, name: string, text: string): Promise<void> {
  assert.deepEqual(await body(location, name), { status: 200, text });
  assert.deepEqual(await body(location, name), { status: 200, text });
}

describe('dynamic sendfile: the open-file cache', () => {
  before(async () => {
    mkdirSync(join(root, 'real'));
    writeFileSync(join(outside, 'secret.txt'), 'SECRET');
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler: new Scheduler({ name: 'send-cache' }) });
    const common = { root, interval: 2_000, timeout: 1_000, suffix: '.tmp', maxDuration: 0 };
    await app.register(sendRoutes, { ...common, location: '/checked/' });
    await app.register(sendRoutes, {
      ...common,
      location: '/watched/',
      openFileCache: { max: 1_000, inactive: HOUR, valid: HOUR },
    });
    await app.register(sendRoutes, {
      ...common,
      location: '/static/',
      gzipStatic: true,
      expires: HOUR,
      memoryCacheMax: 1024,
    });
    await app.register(sendRoutes, {
      ...common,
      location: '/uncached/',
      openFileCache: { max: 0, inactive: 0, valid: 0 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  for (const mode of MODES) {
    const at = mode.location;
    const file = (name: string): string => join(root, `${at.slice(1, -1)}-${name}`);
    const name = (n: string): string => `${at.slice(1, -1)}-${n}`;

    describe(mode.name, () => {
      it('sees an append', async () => {
        writeFileSync(file('append.txt'), 'v1');
        await cached(at, name('append.txt'), 'v1');
        appendFileSync(file('append.txt'), '+v2');
        await shows(at, name('append.txt'), { status: 200, text: 'v1+v2' });
      });

      it('sees a file renamed over the name (same size)', async () => {
        writeFileSync(file('renamed.txt'), 'old1');
        await cached(at, name('renamed.txt'), 'old1');
        writeFileSync(file('renamed.txt.next'), 'new2');
        renameSync(file('renamed.txt.next'), file('renamed.txt'));
        await shows(at, name('renamed.txt'), { status: 200, text: 'new2' });
      });

      it('sees a delete', async () => {
        writeFileSync(file('deleted.txt'), 'here');
        await cached(at, name('deleted.txt'), 'here');
        unlinkSync(file('deleted.txt'));
        await shows(at, name('deleted.txt'), { status: 404 });
      });

      it('sees a truncate', async () => {
        writeFileSync(file('truncated.txt'), 'abcdef');
        await cached(at, name('truncated.txt'), 'abcdef');
        truncateSync(file('truncated.txt'), 3);
        await shows(at, name('truncated.txt'), { status: 200, text: 'abc' });
      });

      it('sees a symlink swapped to another file, and a change to the file a symlink leads to', async () => {
        writeFileSync(join(root, 'real', `${name('a.txt')}`), 'AAAA');
        writeFileSync(join(root, 'real', `${name('b.txt')}`), 'BBBB');
        symlinkSync(join(root, 'real', name('a.txt')), file('link.txt'));
        await cached(at, name('link.txt'), 'AAAA');
        symlinkSync(join(root, 'real', name('b.txt')), file('link.txt.next'));
        renameSync(file('link.txt.next'), file('link.txt'));
        await shows(at, name('link.txt'), { status: 200, text: 'BBBB' });
        appendFileSync(join(root, 'real', name('b.txt')), 'bb');
        await shows(at, name('link.txt'), { status: 200, text: 'BBBBbb' });
      });

      it('refuses a symlink swapped to a file outside the root, never serving it', async () => {
        writeFileSync(file('swap.txt'), 'PUBLIC');
        await cached(at, name('swap.txt'), 'PUBLIC');
        symlinkSync(join(outside, 'secret.txt'), file('swap.txt.next'));
        renameSync(file('swap.txt.next'), file('swap.txt'));
        await shows(at, name('swap.txt'), { status: 404 });
        assert.doesNotMatch((await body(at, name('swap.txt'))).text, /SECRET/);
      });
    });
  }

  it('serves NAME.gz to clients that take gzip (gzip_static), with Vary, and NAME to the others', async () => {
    const text = 'hello gzip '.repeat(100);
    writeFileSync(join(root, 'page.html'), text);
    writeFileSync(join(root, 'page.html.gz'), gzipSync(text));
    const zipped = await fetch(`${base}/static/page.html`, { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    assert.equal(zipped.headers.get('vary'), 'Accept-Encoding');
    assert.equal(zipped.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await zipped.text(), text); // fetch decodes it
    for (const acceptEncoding of ['identity', 'gzip;q=0', 'br']) {
      const plain = await fetch(`${base}/static/page.html`, { headers: { 'accept-encoding': acceptEncoding } });
      assert.equal(plain.headers.get('content-encoding'), null, acceptEncoding);
      assert.equal(plain.headers.get('vary'), 'Accept-Encoding');
      assert.equal(plain.headers.get('content-length'), String(text.length));
      assert.equal(await plain.text(), text);
    }
    // no NAME.gz: the plain file, also to gzip clients
    writeFileSync(join(root, 'alone.txt'), 'no gz here');
    for (let i = 0; i < 2; i++) {
      const alone = await fetch(`${base}/static/alone.txt`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(alone.headers.get('content-encoding'), null);
      assert.equal(await alone.text(), 'no gz here');
    }
  });

  it('sends Cache-Control max-age and Expires (expires), and no-store for a growing file', async () => {
    writeFileSync(join(root, 'fresh.txt'), 'fresh');
    const res = await fetch(`${base}/static/fresh.txt`);
    assert.equal(res.headers.get('cache-control'), 'max-age=3600');
    const expiresAt = Date.parse(res.headers.get('expires') ?? '');
    assert.ok(Math.abs(expiresAt - (Date.now() + HOUR)) < 5_000, res.headers.get('expires') ?? 'no Expires');
    await res.arrayBuffer();
    const none = await fetch(`${base}/checked/fresh.txt`);
    assert.equal(none.headers.get('cache-control'), null);
    assert.equal(none.headers.get('expires'), null);
    await none.arrayBuffer();
  });

  it('honours If-Range, If-Match and If-Unmodified-Since like nginx', async () => {
    writeFileSync(join(root, 'ranged.txt'), '0123456789');
    const first = await fetch(`${base}/checked/ranged.txt`);
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    await first.arrayBuffer();
    const range = async (headers: Record<string, string>): Promise<[number, string]> => {
      const res = await fetch(`${base}/checked/ranged.txt`, { headers: { range: 'bytes=2-4', ...headers } });
      return [res.status, await res.text()];
    };
    assert.deepEqual(await range({ 'if-range': etag }), [206, '234']);
    assert.deepEqual(await range({ 'if-range': lastModified }), [206, '234']);
    assert.deepEqual(await range({ 'if-range': '"other"' }), [200, '0123456789']);
    assert.deepEqual(await range({ 'if-range': `W/${etag}` }), [200, '0123456789']);
    assert.deepEqual(await range({ 'if-range': 'Thu, 01 Jan 2015 00:00:00 GMT' }), [200, '0123456789']);
    assert.deepEqual(await range({ 'if-match': '"other"' }), [412, '']);
    assert.deepEqual(await range({ 'if-match': etag }), [206, '234']);
    assert.deepEqual(await range({ 'if-unmodified-since': 'Thu, 01 Jan 2015 00:00:00 GMT' }), [412, '']);
    const notModified = await fetch(`${base}/checked/ranged.txt`, { headers: { 'if-modified-since': lastModified } });
    assert.equal(notModified.status, 304);
  });

  it('serves a file larger than memoryCacheMax through its descriptor, whole and by Range, and without a cache', async () => {
    const big = Buffer.alloc(600 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    writeFileSync(join(root, 'big.bin'), big);
    for (const at of ['/static/', '/checked/', '/uncached/']) {
      for (let i = 0; i < 2; i++) {
        const whole = Buffer.from(await (await fetch(`${base}${at}big.bin`)).arrayBuffer());
        assert.ok(whole.equals(big), `${at}big.bin whole`);
        const part = await fetch(`${base}${at}big.bin`, { headers: { range: 'bytes=300000-300009' } });
        assert.equal(part.status, 206);
        assert.ok(Buffer.from(await part.arrayBuffer()).equals(big.subarray(300_000, 300_010)));
      }
    }
  });
});
