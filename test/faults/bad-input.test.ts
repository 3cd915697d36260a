import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';
import { runCli, startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import { settle, status, timeBudget, timedGet } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-bad-input-'));
const root = join(dir, 'root');
const SECRET = `TOP-SECRET-${randomBytes(8).toString('hex')}`;

interface RawAnswer {
  /** 0: no response at all */
  status: number;
  head: string;
  body: string;
  /** how it ended: a complete response, the server closing, a reset, or our time limit */
  end: 'response' | 'closed' | 'reset' | 'timeout';
  ms: number;
}

/**
 * Sends `data` as is over a raw socket (nothing normalised, nothing re-framed) and reads one response:
 * resolves once a response with a Content-Length is complete, or when the connection ends or `limitMs` pass.
 * `halfClose`: end our side after writing (a client that sent all it will ever send).
 */
function raw(
  port: number,
  data: string | Buffer,
  options: { halfClose?: boolean; limitMs?: number } = {},
): Promise<RawAnswer> {
  const { halfClose = false, limitMs = 10_000 } = options;
  return new Promise((resolve) => {
    const started = performance.now();
    const parts: Buffer[] = [];
    let settled = false;
    const finish = (end: RawAnswer['end']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(parts).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({
        status: statusMatch ? Number(statusMatch[1]) : 0,
        head,
        body: split < 0 ? '' : text.slice(split + 4),
        end,
        ms: performance.now() - started,
      });
    };
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(data);
      if (halfClose) socket.end();
    });
    const timer = setTimeout(() => finish('timeout'), limitMs);
    socket.on('data', (d: Buffer) => {
      parts.push(d);
      const text = Buffer.concat(parts).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = split < 0 ? null : /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
      if (split >= 0 && length && Buffer.byteLength(text.slice(split + 4), 'latin1') >= Number(length[1]))
        finish('response');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNRESET' ? 'reset' : 'closed'));
    socket.on('close', () => finish('closed'));
  });
}

/** An upstream for the dyups proxy that records which requests arrived whole (their body ended). */
interface Upstream {
  server: Server;
  port: number;
  complete: Array<{ method: string; url: string; bytes: number }>;
}

async function startUpstream(): Promise<Upstream> {
  const complete: Upstream['complete'] = [];
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      complete.push({ method: req.method ?? '', url: req.url ?? '', bytes });
      res.end(`upstream saw ${bytes} bytes\n`);
    });
    req.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, complete };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

timeBudget('faults/bad-input.test', { fast: 30_000, full: 300_000 });

describe('faults: bad input (oversized, malformed, traversal, corrupt state files)', () => {
  let redis: EmbeddedRedis;
  let server: RunningServer;
  let upstream: Upstream;
  let adminPort: number;
  let proxyPort: number;
  const stateFile = join(dir, 'state.conf');
  /** GET /detail and the state file's bytes once the setup's one group exists: nothing may change them */
  let detail: string;
  let stateBytes: Buffer;
  let base: string;

  const admin = (path: string, init?: RequestInit): Promise<Response> =>
    fetch(`http://127.0.0.1:${adminPort}${path}`, init);

  /** The server answers, no coroutine is left, the dyups table and its state file are as they were. */
  async function unharmed(what: string): Promise<void> {
    const res = await timedGet(`${base}/test`);
    assert.equal(res.status, 200, `GET /test after ${what}`);
    const idle = await settle(
      () => status(server.port),
      (s) => s.scheduler.live === 0,
      10_000,
    );
    assert.ok(idle.ok, `after ${what}: ${idle.value.scheduler.live} coroutines still live`);
    assert.equal(await (await admin('/detail')).text(), detail, `the dyups table changed after ${what}`);
    assert.deepEqual(readFileSync(stateFile), stateBytes, `the state file changed after ${what}`);
    assert.equal(server.child.exitCode, null, `the server exited after ${what}`);
  }

  before(async () => {
    mkdirSync(root);
    writeFileSync(join(dir, 'secret.txt'), `${SECRET}\n`);
    writeFileSync(join(root, 'ok.txt'), 'hello ok\n');
    // links out of the root, finished and growing: the real path is checked, not just the name
    symlinkSync(join(dir, 'secret.txt'), join(root, 'link.txt'));
    symlinkSync(join(dir, 'secret.txt'), join(root, 'leak.tmp'));
    symlinkSync(dir, join(root, 'up'));
    redis = await startEmbeddedRedis();
    upstream = await startUpstream();
    adminPort = await deadPort();
    proxyPort = await deadPort();
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        limits: { bodySize: '1k', headerSize: '4k', requestTimeout: '3s' },
        send: { root },
        dyups: { readTimeout: '2s', bodySize: '4k' },
      }),
    );
    server = await startServer([
      '--redis',
      redis.url,
      '--config',
      config,
      '--admin-port',
      String(adminPort),
      '--proxy-port',
      String(proxyPort),
      '--state-file',
      stateFile,
    ]);
    base = `http://127.0.0.1:${server.port}`;
    await settle(() => /upstream group\(s\)/.test(server.output()), Boolean, 5_000);
    const res = await admin('/upstream/app.local', { method: 'POST', body: `server 127.0.0.1:${upstream.port};` });
    assert.equal(await res.text(), 'success');
    detail = await (await admin('/detail')).text();
    stateBytes = readFileSync(stateFile);
    const via = await raw(proxyPort, 'GET /hello HTTP/1.1\r\nHost: app.local\r\nConnection: close\r\n\r\n');
    assert.equal(via.status, 200, 'the proxy reaches the upstream');
    upstream.complete.length = 0;
  });

  after(async () => {
    await server?.stop('SIGKILL');
    upstream?.server.close();
    upstream?.server.closeAllConnections();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('oversized request heads (one huge header, many headers, a huge URL) get 431 on every listener', async () => {
    const cases: Array<[string, number, string]> = [
      [
        'one 5000-byte header',
        server.port,
        `GET /test HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5_000)}\r\nConnection: close\r\n\r\n`,
      ],
      [
        '300 headers of 20 bytes',
        server.port,
        `GET /test HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 300 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}\r\n`).join('')}Connection: close\r\n\r\n`,
      ],
      [
        '3000 tiny headers',
        server.port,
        `GET /test HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3_000 }, (_, i) => `X-H${i}: v\r\n`).join('')}Connection: close\r\n\r\n`,
      ],
      [
        'a 5000-byte URL',
        server.port,
        `GET /test?${'q'.repeat(5_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      ],
      [
        'a 5000-byte header on /send/',
        server.port,
        `GET /send/ok.txt HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5_000)}\r\nConnection: close\r\n\r\n`,
      ],
      // the admin and proxy listeners keep Node's default limit (16 KB)
      [
        'a 20 KB header to the admin',
        adminPort,
        `GET /detail HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
      ],
      [
        'a 20 KB header to the proxy',
        proxyPort,
        `GET /x HTTP/1.1\r\nHost: app.local\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
      ],
    ];
    for (const [what, port, request] of cases) {
      const answer = await raw(port, request);
      assert.equal(answer.status, 431, `${what}: ${answer.end}, ${answer.head.split('\r\n')[0] ?? ''}`);
    }
    // the limit is the configured one, not lower: a 3000-byte header is served
    const fits = await raw(
      server.port,
      `GET /test HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(3_000)}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(fits.status, 200);
    assert.equal(upstream.complete.length, 0, 'nothing reached the upstream');
    await unharmed('oversized heads');
  });

  it('oversized bodies get 413 and change nothing: admin POST over 64 KB (sized and chunked), proxy over dyups.bodySize, app over limits.bodySize', async () => {
    const upstreamBody = `server 127.0.0.1:${upstream.port};\n${'#'.repeat(70 * 1024)}\n`;
    const sized = await admin('/upstream/toobig', { method: 'POST', body: upstreamBody });
    assert.equal(sized.status, 413, await sized.text());
    const chunkedBody = `${upstreamBody.length.toString(16)}\r\n${upstreamBody}\r\n0\r\n\r\n`;
    const chunked = await raw(
      adminPort,
      `POST /upstream/toobig HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunkedBody}`,
    );
    assert.equal(chunked.status, 413, `chunked admin body: ${chunked.end} ${chunked.head}`);
    assert.equal((await admin('/upstream/toobig')).status, 404, 'the group was not created');

    const big = 'b'.repeat(5_000);
    const proxySized = await raw(
      proxyPort,
      `POST /upload HTTP/1.1\r\nHost: app.local\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`,
    );
    assert.equal(proxySized.status, 413, `proxy, Content-Length over the limit: ${proxySized.end} ${proxySized.head}`);
    // chunked, the size is only known as it arrives: the proxy has started passing it on by then
    const chunks = `400\r\n${'c'.repeat(1024)}\r\n`.repeat(5);
    const proxyChunked = await raw(
      proxyPort,
      `POST /upload HTTP/1.1\r\nHost: app.local\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}0\r\n\r\n`,
    );
    assert.ok(
      proxyChunked.status === 413 || (proxyChunked.status === 0 && proxyChunked.end !== 'timeout'),
      `proxy, chunked over the limit: ${proxyChunked.end} ${proxyChunked.head}`,
    );
    assert.deepEqual(upstream.complete, [], 'no oversized body reached the upstream whole');

    const app = await raw(
      server.port,
      `POST /send/ok.txt HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n${'d'.repeat(2_000)}`,
    );
    assert.equal(app.status, 413, `app, body over limits.bodySize: ${app.end} ${app.head}`);
    await unharmed('oversized bodies');
  });

  it('a chunked body over dyups.bodySize gets a 413 from the proxy, as one with a Content-Length does', async () => {
    const chunks = `400\r\n${'c'.repeat(1024)}\r\n`.repeat(5);
    const answer = await raw(
      proxyPort,
      `POST /upload HTTP/1.1\r\nHost: app.local\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}0\r\n\r\n`,
    );
    assert.equal(answer.status, 413, `${answer.end} after ${Math.round(answer.ms)} ms, no response`);
  });

  it('malformed chunked bodies to the admin, the proxy and the app get 400 (or a closed connection), never a change', async () => {
    const line = 'server 127.0.0.1:8081;'; // 22 bytes: 0x16
    const bodies: Array<[string, string]> = [
      ['a chunk size that is not hex', `zz\r\n${line}\r\n0\r\n\r\n`],
      ['a valid chunk, then a bad size', `16\r\n${line}\r\nzz\r\n`],
      ['chunk data without its CRLF', `16\r\n${line}XX0\r\n\r\n`],
      ['a negative size', `-16\r\n${line}\r\n0\r\n\r\n`],
      ['a size beyond 64 bits', `16\r\n${line}\r\nffffffffffffffffffffffff\r\n`],
      ['a bare LF after the size', `16\n${line}\r\n0\r\n\r\n`],
      ['truncated inside a chunk', `16\r\nserver 127.0`],
      ['truncated before the last chunk', `16\r\n${line}\r\n`],
    ];
    const targets: Array<[string, number, string]> = [
      ['admin', adminPort, `POST /upstream/chunky HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\n`],
      ['proxy', proxyPort, 'POST /upload HTTP/1.1\r\nHost: app.local\r\n'],
      ['app', server.port, 'POST /send/ok.txt HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n'],
    ];
    const seen: string[] = [];
    for (const [target, port, head] of targets) {
      for (const [what, body] of bodies) {
        // the client sends this much and no more: it half-closes, so a truncated body is all there is
        const answer = await raw(port, `${head}Transfer-Encoding: chunked\r\n\r\n${body}`, { halfClose: true });
        assert.ok(
          answer.status === 400 || (answer.status === 0 && answer.end !== 'timeout'),
          `${target}, ${what}: ${answer.end} ${answer.head.split('\r\n')[0] ?? ''}`,
        );
        seen.push(`${target}: ${answer.status || answer.end}`);
      }
      // framing that makes the body length ambiguous (request smuggling) is refused outright
      for (const [what, extra] of [
        [
          'Content-Length with Transfer-Encoding',
          `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        ],
        ['two different Content-Lengths', `Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`],
        [
          'Transfer-Encoding that is not chunked last',
          `Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        ],
      ] as const) {
        const answer = await raw(port, `${head}${extra}`, { halfClose: true });
        assert.ok(
          answer.status === 400 || (answer.status === 0 && answer.end !== 'timeout'),
          `${target}, ${what}: ${answer.end} ${answer.head.split('\r\n')[0] ?? ''}`,
        );
      }
    }
    assert.equal((await admin('/upstream/chunky')).status, 404, 'no group was created from a malformed body');
    assert.deepEqual(upstream.complete, [], 'no malformed body reached the upstream as a complete request');
    console.log(`malformed chunked bodies: ${[...new Set(seen)].join(', ')}`);
    await unharmed('malformed chunked bodies');
  });

  it('a proxied body that stops mid-way (the client keeps the connection open) gets 408 after dyups.readTimeout (2 s)', async () => {
    for (const framing of ['Transfer-Encoding: chunked\r\n\r\n16\r\nserver 127.0', 'Content-Length: 100\r\n\r\nabc']) {
      const answer = await raw(proxyPort, `POST /upload HTTP/1.1\r\nHost: app.local\r\n${framing}`, {
        limitMs: 15_000,
      });
      assert.equal(
        answer.status,
        408,
        `${framing.split('\r\n')[0]}: ${answer.end} after ${Math.round(answer.ms)} ms ${answer.head}`,
      );
      assert.ok(answer.ms >= 1_500 && answer.ms < 10_000, `answered after ${Math.round(answer.ms)} ms`);
    }
    assert.deepEqual(upstream.complete, [], 'no stalled body reached the upstream as a complete request');
    await unharmed('stalled proxy bodies');
  });

  it('a body that stops mid-way on the admin or the app listener is timed out at limits.requestTimeout (408 or closed within 10 s)', async () => {
    const stalled = await Promise.all([
      raw(
        adminPort,
        `POST /upstream/stalled HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nTransfer-Encoding: chunked\r\n\r\n16\r\nserver 127.0`,
        { limitMs: 10_000 },
      ),
      raw(
        adminPort,
        `POST /upstream/stalled HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nContent-Length: 100\r\n\r\nserver`,
        { limitMs: 10_000 },
      ),
      raw(
        server.port,
        'POST /send/ok.txt HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nabc',
        { limitMs: 10_000 },
      ),
    ]);
    assert.ok(
      stalled.every((a) => a.end !== 'timeout'),
      `still waiting after 10 s (admin chunked, admin sized, app): ${stalled.map((a) => `${a.end} ${a.status}`).join(', ')}`,
    );
    assert.equal((await admin('/upstream/stalled')).status, 404);
    await unharmed('stalled admin and app bodies');
  });

  it('path traversal on /send/ in every encoding never serves a file outside the root', async () => {
    const attempts = [
      '/send/../secret.txt',
      '/send/../../../../../etc/passwd',
      '/send/%2e%2e/secret.txt',
      '/send/%2E%2E/secret.txt',
      '/send/.%2e/secret.txt',
      '/send/%2e%2e%2fsecret.txt',
      '/send/..%2fsecret.txt',
      '/send/..%2Fsecret.txt',
      '/send/%252e%252e%252fsecret.txt',
      '/send/%252e%252e/secret.txt',
      '/send/..\\secret.txt',
      '/send/..%5csecret.txt',
      '/send/%5c..%5csecret.txt',
      '/send/%2e%2e%5csecret.txt',
      '//etc/passwd',
      '/send//etc/passwd',
      '/send/%2fetc%2fpasswd',
      '/send/%2Fetc/passwd',
      `/send/${encodeURIComponent(join(dir, 'secret.txt'))}`,
      '/send/ok.txt%00',
      '/send/..%00/secret.txt',
      '/send/%00../secret.txt',
      '/send/%c0%ae%c0%ae/secret.txt',
      '/send/%c0%ae%c0%ae%c0%afsecret.txt',
      '/send/%e0%80%ae%e0%80%ae/secret.txt',
      '/send/%u002e%u002e/secret.txt',
      '/send/ok.txt/../../secret.txt',
      '/send/./../secret.txt',
      '/send/....//secret.txt',
      '/send/..;/secret.txt',
      '/send/link.txt',
      '/send/leak',
      '/send/up/secret.txt',
      '/send/up%2fsecret.txt',
      '/send/..',
      '/send/',
    ];
    const seen = new Map<number, number>();
    for (const path of attempts) {
      for (const method of ['GET', 'HEAD']) {
        const answer = await raw(server.port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.ok(
          [400, 403, 404].includes(answer.status),
          `${method} ${path}: ${answer.end} ${answer.head.split('\r\n')[0] ?? ''}`,
        );
        assert.ok(
          !answer.body.includes(SECRET) && !answer.head.includes(SECRET),
          `${method} ${path} leaked the secret file`,
        );
        assert.ok(!/root:.*:0:0:/.test(answer.body), `${method} ${path} served /etc/passwd`);
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
      }
    }
    // fetch() normalises some of these first: the server must hold either way
    for (const path of ['/send/../secret.txt', '/send/%2e%2e/secret.txt', '/send/..%2fsecret.txt']) {
      const res = await timedGet(`${base}${path}`);
      assert.ok(!res.text.includes(SECRET), `fetch ${path} leaked the secret file`);
    }
    // the root itself is served: the refusals above are not a blanket 404
    const ok = await raw(server.port, 'GET /send/ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'hello ok\n');
    console.log(
      `traversal: ${attempts.length * 2} attempts, statuses ${[...seen].map(([s, n]) => `${s}x${n}`).join(' ')}`,
    );
    await unharmed('traversal attempts');
  });

  it('truncated and corrupt state files: serve exits 2 naming file, line and reason, and leaves the file byte for byte', async () => {
    const stateDir = join(dir, 'states');
    mkdirSync(stateDir);
    const good =
      'upstream a {\n    server 127.0.0.1:1;\n}\nupstream b {\n    server 127.0.0.1:2 weight=2;\n    server 127.0.0.1:3;\n}\n';
    const cases: Array<{ name: string; bytes: Buffer; line: number; reason: RegExp }> = [
      {
        name: 'cut-in-block',
        bytes: Buffer.from(good.slice(0, good.indexOf('2 weight=2') + 4)),
        line: 4,
        reason: /upstream 'b' is not closed with '}' \(truncated file\?\)/,
      },
      {
        name: 'cut-after-name',
        bytes: Buffer.from('upstream a {\n    server 127.0.0.1:1;\n}\nupstream b'),
        line: 4,
        reason: /expected 'upstream NAME \{', found 'upstream'/,
      },
      {
        name: 'cut-in-quote',
        bytes: Buffer.from('upstream a {\n    server 127.0.0.1:1;\n    check_http_send "GET / HTTP/1.0\\r\\n'),
        line: 3,
        reason: /unterminated quoted string/,
      },
      {
        name: 'binary',
        bytes: Buffer.from([
          0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0xff, 0xfe,
          0x80, 0x81,
        ]),
        line: 1,
        reason: /expected 'upstream NAME \{'/,
      },
      {
        name: 'garbage-after-block',
        bytes: Buffer.concat([
          Buffer.from('upstream a {\n    server 127.0.0.1:1;\n}\n'),
          Buffer.from([0x00, 0x01, 0x02, 0xc3, 0x28, 0x0a, 0xde, 0xad, 0xbe, 0xef]),
        ]),
        line: 4,
        reason: /expected 'upstream NAME \{'/,
      },
      {
        name: 'unknown-parameter',
        bytes: Buffer.from(
          'upstream a {\n    server 127.0.0.1:1;\n}\n\nupstream c {\n    server 127.0.0.1:3 bogus=1;\n}\n',
        ),
        line: 6,
        reason: /unknown server parameter .* at 'bogus=1'/,
      },
      {
        name: 'weight-zero',
        bytes: Buffer.from('upstream c {\n    server 127.0.0.1:3 weight=0;\n}\n'),
        line: 2,
        reason: /at '0'/,
      },
      {
        name: 'bad-fail-timeout',
        bytes: Buffer.from('upstream c {\n    server 127.0.0.1:3;\n    server 127.0.0.1:4 fail_timeout=soon;\n}\n'),
        line: 3,
        reason: /at 'soon'/,
      },
      {
        name: 'bad-address',
        bytes: Buffer.from('upstream c {\n    server 127.0.0.1:99999;\n}\n'),
        line: 2,
        reason: /127\.0\.0\.1:99999/,
      },
    ];
    for (const c of cases) writeFileSync(join(stateDir, c.name), c.bytes);
    const before = readdirSync(stateDir).sort();
    const results = await Promise.all(
      cases.map(async (c) =>
        runCli([
          'serve',
          '--port',
          '0',
          '--admin-port',
          String(await deadPort()),
          '--state-file',
          join(stateDir, c.name),
          '--redis',
          'redis://127.0.0.1:1',
        ]),
      ),
    );
    for (const [i, c] of cases.entries()) {
      const file = join(stateDir, c.name);
      const result = results[i]!;
      assert.equal(result.code, 2, `${c.name}: exit ${String(result.code)}\n${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(`state file ${escape(file)}, line ${c.line}: `),
        `${c.name}: ${result.stderr}`,
      );
      assert.match(result.stderr, c.reason, `${c.name}: ${result.stderr}`);
      assert.deepEqual(readFileSync(file), c.bytes, `${c.name}: the file changed`);
    }
    assert.deepEqual(readdirSync(stateDir).sort(), before, 'no file was added or removed beside the state files');
  });
});
