import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseChunked } from '../helpers/chunked.js';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-security-state-'));
/** no Redis is needed: these servers only use the admin listener */
const NO_REDIS = ['--redis', 'redis://127.0.0.1:1'];

/** One request over a raw socket (it must ask for Connection: close); resolves with the whole answer. */
function rawExchange(port: number, request: string): Promise<{ status: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (answer += d));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0), answer }));
  });
}

async function rawRequest(port: number, request: string): Promise<number> {
  return (await rawExchange(port, request)).status;
}

/** GET `path` with Connection: close: its status and body. */
async function rawGet(port: number, path: string, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  const { status, answer } = await rawExchange(
    port,
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
  return { status, body: parseChunked(Buffer.from(answer, 'latin1')).body.toString('latin1') };
}

function postGroup(port: number, name: string, body: string): Promise<number> {
  return rawRequest(
    port,
    `POST /upstream/${name} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

async function startAdmin(state: string): Promise<{ server: RunningServer; port: number }> {
  const port = await deadPort();
  const server = await startServer(['--admin-port', String(port), '--state-file', state, ...NO_REDIS]);
  return { server, port };
}

/** Starts a second server and reports how it ended: its exit code, or 'running' (and stops it). */
async function startOutcome(args: readonly string[]): Promise<number | null | 'running'> {
  try {
    const server = await startServer(args);
    await server.stop('SIGKILL');
    return 'running';
  } catch (err) {
    const match = /server exited with (\S+) before listening/.exec((err as Error).message);
    if (match === null) throw err;
    return match[1] === 'null' ? null : Number(match[1]);
  }
}

/** A pid that is certainly not running: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('security: the dyups state file', () => {
  it('writes nothing through symlinks planted at the temp names, and the state file stays a regular file', async () => {
    const home = join(dir, 'planted');
    mkdirSync(home);
    const state = join(home, 'state.conf');
    const victim = join(dir, 'planted-victim.txt');
    writeFileSync(victim, 'do not overwrite\n');
    const { server, port } = await startAdmin(state);
    try {
      // every name a temp file could predictably have: the server's pid, and the pids near it
      const pid = server.child.pid!;
      for (let p = pid - 50; p <= pid + 50; p++) symlinkSync(victim, join(home, `.state.conf.${p}.tmp`));
      assert.equal(await postGroup(port, 'app', 'server 127.0.0.1:8081;'), 200);
      assert.equal(await postGroup(port, 'other', 'server 127.0.0.1:8082;'), 200);
      assert.equal(readFileSync(victim, 'utf8'), 'do not overwrite\n');
      assert.ok(lstatSync(state).isFile(), 'the state file was replaced by a symlink');
      assert.match(readFileSync(state, 'utf8'), /upstream other \{/);
    } finally {
      await server.stop();
    }
  });

  it('writes through a symlinked state file to its target and keeps the symlink', async () => {
    const home = join(dir, 'linked');
    mkdirSync(join(home, 'real'), { recursive: true });
    const target = join(home, 'real', 'target.conf');
    const link = join(home, 'state.conf');
    writeFileSync(target, 'upstream old {\n    server 127.0.0.1:8080;\n}\n');
    symlinkSync(target, link);
    const { server, port } = await startAdmin(link);
    try {
      assert.equal(await postGroup(port, 'app', 'server 127.0.0.1:8081;'), 200);
    } finally {
      await server.stop();
    }
    assert.ok(lstatSync(link).isSymbolicLink(), 'the symlink was replaced by a regular file');
    const text = readFileSync(target, 'utf8');
    assert.match(text, /upstream app \{/);
    assert.match(text, /upstream old \{/);
  });

  it('removes temp files a killed server left, and only those', async () => {
    const home = join(dir, 'stale');
    mkdirSync(home);
    const state = join(home, 'state.conf');
    const stale = ['.state.conf.0123456789abcdef.tmp', '.state.conf.4242.tmp'];
    const kept = ['.state.conf.notours.tmp', 'state.conf.4242.tmp', '.other.conf.4242.tmp'];
    for (const name of [...stale, ...kept]) writeFileSync(join(home, name), 'partial');
    const { server } = await startAdmin(state);
    await server.stop();
    const left = readdirSync(home);
    for (const name of stale) assert.ok(!left.includes(name), `${name} was left behind`);
    for (const name of kept) assert.ok(left.includes(name), `${name} is not ours but was removed`);
  });

  it('refuses a second owner of the state file (exit code 2) and keeps the first one working', async () => {
    const home = join(dir, 'owners');
    mkdirSync(home);
    const state = join(home, 'state.conf');
    const first = await startAdmin(state);
    try {
      const second = await startOutcome(['--admin-port', String(await deadPort()), '--state-file', state, ...NO_REDIS]);
      assert.equal(second, 2);
      assert.equal(await postGroup(first.port, 'app', 'server 127.0.0.1:8081;'), 200);
      assert.match(readFileSync(state, 'utf8'), /upstream app \{/);
    } finally {
      await first.server.stop();
    }
    // the lock goes with its owner: the next start takes the file
    const next = await startAdmin(state);
    await next.server.stop();
  });

  it('refuses to start (exit code 2) on a state file whose lock cannot be made', async () => {
    const state = join(dir, 'no-such-directory', 'state.conf');
    assert.equal(await startOutcome(['--admin-port', String(await deadPort()), '--state-file', state, ...NO_REDIS]), 2);
  });

  it('takes over a lock whose process is dead (a kill -9)', async () => {
    const home = join(dir, 'stale-lock');
    mkdirSync(home);
    const state = join(home, 'state.conf');
    const { server: first } = await startAdmin(state);
    await first.stop('SIGKILL');
    writeFileSync(join(home, '.state.conf.lock'), `${deadPid()}\n`);
    const { server, port } = await startAdmin(state);
    try {
      assert.equal(await postGroup(port, 'app', 'server 127.0.0.1:8081;'), 200);
    } finally {
      await server.stop();
    }
    assert.ok(!existsSync(join(home, '.state.conf.lock')), 'the lock outlived a clean stop');
  });
});

describe('security: what the app listener buffers and shows', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('/test does not buffer a Redis value past the limit (1 MB by default): 502, and the next request is served', async () => {
    await redis.admin.set('test', 'x'.repeat(2 * 1024 * 1024));
    const server = await startServer(['--redis', redis.url, '--workers', '1']);
    try {
      const big = await rawGet(server.port, '/test');
      assert.equal(big.status, 502);
      assert.ok(big.body.length < 1024 * 1024, `/test sent ${big.body.length} bytes of the value`);
      await redis.admin.set('test', 'y'.repeat(1024 * 1024));
      const atLimit = await rawGet(server.port, '/test');
      assert.deepEqual([atLimit.status, atLimit.body.length], [200, 1024 * 1024]);
    } finally {
      await server.stop();
    }
  });

  it('/test honours test.maxValueSize from the config file', async () => {
    const config = join(dir, 'small-test-values.json');
    writeFileSync(config, JSON.stringify({ test: { maxValueSize: '16k' } }));
    await redis.admin.set('test', 'z'.repeat(16 * 1024 + 1));
    const server = await startServer(['--redis', redis.url, '--config', config]);
    try {
      assert.equal((await rawGet(server.port, '/test')).status, 502);
      await redis.admin.set('test', 'hello12345');
      assert.deepEqual(await rawGet(server.port, '/test'), { status: 200, body: 'hello12345' });
    } finally {
      await server.stop();
    }
  });

  it('/status on the app listener does not name the upstream servers the proxy uses', async () => {
    const upstream = createHttpServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const server = await startServer([
      '--redis',
      redis.url,
      '--admin-port',
      String(adminPort),
      '--proxy-port',
      String(proxyPort),
    ]);
    try {
      assert.equal(await postGroup(adminPort, 'internal.local', `server 127.0.0.1:${upstreamPort};`), 200);
      assert.deepEqual(await rawGet(proxyPort, '/', 'internal.local'), { status: 200, body: 'ok' });
      const status = await rawGet(server.port, '/status');
      assert.equal(status.status, 200);
      assert.ok(!status.body.includes(String(upstreamPort)), 'the app listener /status names the upstream address');
      const pools = (JSON.parse(status.body) as { pools: Array<{ name: string; created: number }> }).pools;
      assert.ok(
        pools.some((p) => p.name === 'dyups' && p.created >= 1),
        'the proxy pools are counted under one entry',
      );
      const detail = await rawGet(adminPort, '/detail');
      assert.ok(detail.body.includes(`127.0.0.1:${upstreamPort}`), 'the admin listener still names the upstream');
    } finally {
      await server.stop();
      upstream.close();
    }
  });
});
