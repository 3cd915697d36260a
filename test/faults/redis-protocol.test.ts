import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { startTcpServer } from '../helpers/tcp-server.js';
import type { TestServer } from '../helpers/tcp-server.js';
import { status, timeBudget, timedGet } from './harness.js';

/** What the fake Redis answers to the next command, by what the test sets (at start: the server's SET of key 'test'). */
let answer: (socket: Socket) => void = (socket) => socket.write('+OK\r\n');

const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-resp-'));
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify({ test: { connectTimeout: '1s', readTimeout: '500ms', poolSize: 4 } }));

timeBudget('faults/redis-protocol.test', { fast: 30_000, full: 60_000 });

describe('faults: a Redis that breaks RESP', () => {
  let fake: TestServer;
  let server: RunningServer;
  let base = '';
  before(async () => {
    fake = await startTcpServer((socket) => socket.on('data', () => answer(socket)));
    server = await startServer(['--redis', `redis://127.0.0.1:${fake.port}`, '--config', config]);
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.stop();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<[what: string, reply: (socket: Socket) => void, status: number]> = [
    ['garbage where a reply starts', (s) => s.write('?what\r\n'), 502],
    ['a bulk longer than maxBulk can hold', (s) => s.write('$99999999999\r\n'), 502],
    ['a bulk not followed by CRLF', (s) => s.write('$3\r\nabcXY'), 502],
    ['a reply nested 100 deep', (s) => s.write('*1\r\n'.repeat(100)), 502],
    ['half a reply, then close', (s) => s.end('$10\r\nhel'), 502],
    ['half a reply, then silence', (s) => s.write('$10\r\nhel'), 504],
    ['an error reply', (s) => s.write('-ERR no such thing\r\n'), 500],
  ];

  for (const [what, reply, expected] of cases) {
    it(`${what}: answers ${expected}, keeps serving, pools nothing broken`, async () => {
      answer = reply;
      for (const route of ['/test/keepalive', '/test/short']) {
        const res = await timedGet(`${base}${route}`);
        assert.equal(res.status, expected, `${route}: ${res.text}`);
      }
      answer = (s) => s.write('$10\r\nhello12345\r\n');
      // every pooled connection that saw the broken reply was closed: the next requests all get good ones
      const after = await Promise.all(Array.from({ length: 6 }, () => timedGet(`${base}/test/keepalive`)));
      assert.deepEqual([...new Set(after.map((r) => `${r.status} ${r.text}`))], ['200 hello12345']);
      const live = (await status(server.port)).scheduler.live;
      assert.ok(live <= 1, `coroutines left behind: ${live}`);
    });
  }
});

describe('faults: a Redis that accepts and never answers, at start', () => {
  it('does not hold the server start: it warns and listens', async () => {
    const silent = await startTcpServer(() => {});
    try {
      const server = await startServer(['--redis', `redis://127.0.0.1:${silent.port}`]);
      try {
        assert.match(server.output(), /could not set key 'test' in Redis/);
      } finally {
        await server.stop();
      }
    } finally {
      await silent.close();
    }
  });
});
