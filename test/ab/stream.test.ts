import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nginxPath, startNginxWith, stopProc } from '../../bench/lib/processes.js';
import { runCli, startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';

interface StreamJson {
  streams: number;
  ends: { complete: number; cut: number; 'timed out': number; stopped: number };
  sendStatus: Record<string, number>;
  bytes: number;
  chunks: number;
  firstChunkMs: { count: number };
  gapMs: { count: number; p50: number; max: number };
  perStream: { chunksPerSecond: { count: number; min: number } };
}

async function streamJson(args: string[]): Promise<StreamJson> {
  const run = await runCli(['ab', '--stream', '--json', ...args]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as StreamJson;
}

/** A chunked upstream: `lines` lines `everyMs` apart, then the X-Send-Status trailer. */
function startChunkedUpstream(lines: number, everyMs: number): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'X-Send-Status' });
    let i = 0;
    const timer = setInterval(() => {
      res.write(`line ${i}\n`);
      if (++i === lines) {
        clearInterval(timer);
        res.addTrailers({ 'X-Send-Status': 'complete' });
        res.end();
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('cosocket ab --stream', () => {
  let redis: TestRedis;
  let server: RunningServer;
  const root = mkdtempSync(join(tmpdir(), 'cosocket-ab-stream-'));

  before(async () => {
    redis = await startTestRedis();
    server = await startServer(['--redis', redis.url, '--send-root', root]);
  });
  after(async () => {
    await server.stop();
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("follows cosocket's /send/ while a writer appends lines, to the complete trailer", async () => {
    const tmp = join(root, 'growing.log.tmp');
    writeFileSync(tmp, '');
    const line = 'a line of the growing file\n';
    // the writer starts once all four streams have their response heads (seen through a counting relay),
    // so none of them can ask after the rename and get the finished file instead
    let heads = 0;
    let allHeads: () => void = () => {};
    const headsSeen = new Promise<void>((resolve) => (allHeads = resolve));
    const relay = createNetServer((client) => {
      const upstream = connect(server.port, '127.0.0.1');
      upstream.once('data', () => {
        if (++heads === 4) allHeads();
      });
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const writer = (async () => {
      await headsSeen;
      for (let i = 0; i < 20; i++) {
        appendFileSync(tmp, line);
        await new Promise((r) => setTimeout(r, 25));
      }
      renameSync(tmp, join(root, 'growing.log'));
    })();
    const relayPort = (relay.address() as { port: number }).port;
    const json = await streamJson(['-n', '4', '-c', '4', `http://127.0.0.1:${relayPort}/send/growing.log`]);
    await writer;
    relay.close();
    assert.equal(json.streams, 4);
    assert.equal(json.ends.complete, 4);
    assert.deepEqual(json.sendStatus, { complete: 4 });
    assert.equal(json.bytes, 4 * 20 * line.length);
    assert.ok(json.chunks >= 4 * 2, `the lines arrive in several chunks per stream, got ${json.chunks}`);
    assert.equal(json.firstChunkMs.count, 4);
    assert.ok(json.gapMs.count > 0 && json.gapMs.max >= json.gapMs.p50);
  });

  it('says a stream timed out when no byte came for -s seconds, and stops open ones at -t', async () => {
    writeFileSync(join(root, 'stalled.log.tmp'), 'first\n');
    const timedOut = await streamJson([
      '-n',
      '2',
      '-c',
      '2',
      '-s',
      '1',
      `http://127.0.0.1:${server.port}/send/stalled.log`,
    ]);
    assert.equal(timedOut.ends['timed out'], 2);
    const stopped = await streamJson([
      '-n',
      '2',
      '-c',
      '2',
      '-t',
      '1',
      `http://127.0.0.1:${server.port}/send/stalled.log`,
    ]);
    assert.equal(stopped.ends.stopped, 2);
    assert.equal(stopped.bytes, 2 * 'first\n'.length);
  });

  it('refuses the flags a stream run does not take, by name', async () => {
    const run = await runCli(['ab', '--stream', '-k', `http://127.0.0.1:${server.port}/send/x`]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--stream does not take -k/);
  });

  it(
    'follows nginx proxying a chunked upstream: every line, each stream complete',
    { skip: nginxPath() === null ? 'nginx is not installed' : false },
    async () => {
      const upstream = await startChunkedUpstream(10, 30);
      const port = (upstream.address() as { port: number }).port;
      const nginx = await startNginxWith(
        'location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }',
        `upstream up { server 127.0.0.1:${port}; keepalive 4; }`,
      );
      try {
        const json = await streamJson(['-n', '6', '-c', '3', `http://127.0.0.1:${nginx.port}/download`]);
        assert.equal(json.ends.complete, 6);
        assert.equal(json.bytes, 6 * 'line 0\n'.length * 10);
        assert.ok(json.chunks >= 6 * 5, `nginx passes the lines on as they come, got ${json.chunks} chunks`);
        assert.equal(json.perStream.chunksPerSecond.count, 6);
        assert.ok(json.perStream.chunksPerSecond.min > 0);
        assert.deepEqual(Object.keys(json.sendStatus).length, 1, 'one kind of ending');
      } finally {
        await stopProc(nginx);
        upstream.close();
      }
    },
  );
});
