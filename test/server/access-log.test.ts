import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors/index.js';
import { COMBINED_FORMAT, compileLogFormat } from '../../src/server/log-format.js';
import type { LoggedRequest } from '../../src/server/log-format.js';
import { runCli, startServer } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { parsePrometheus, valueOf } from '../helpers/prom-text.js';
import { deadPort } from '../helpers/tcp-server.js';

/** A regex matching lines of `format`: each variable a named group (`$http_x_y` as `http_x_y`). */
function formatRegex(format: string): RegExp {
  let source = '^';
  let at = 0;
  const variable = /\$(?:\{(\w+)\}|(\w+))/g;
  for (let m = variable.exec(format); m !== null; m = variable.exec(format)) {
    source += format.slice(at, m.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    source += `(?<${m[1] ?? m[2]}>.*?)`;
    at = m.index + m[0].length;
  }
  source += `${format.slice(at).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  return new RegExp(source);
}

function parseLines(text: string, format: string): Array<Record<string, string>> {
  const regex = formatRegex(format);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const match = regex.exec(line);
      assert.ok(match?.groups, `a line not in the format: ${line}`);
      return { ...match.groups };
    });
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `bytes` on a new connection and reads what comes back until the server closes it. */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(answer) : reject(err)));
    socket.on('close', () => resolve(answer));
  });
}

const PROXY_FORMAT =
  '$remote_addr [$time_local] "$request" $status $body_bytes_sent rt=$request_time ua="$upstream_addr" us=$upstream_status urt=$upstream_response_time h="$http_x_trace_id"';

describe('log_format', () => {
  const request = (over: Partial<LoggedRequest> = {}): LoggedRequest => ({
    remoteAddr: '10.0.0.1',
    method: 'GET',
    uri: '/a?b=1',
    protocol: 'HTTP/1.1',
    status: 200,
    bodyBytesSent: 12,
    header: (name) => ({ 'user-agent': 'curl/8', referer: undefined })[name],
    seconds: 0.0123,
    upstream: [],
    ...over,
  });

  it('writes the combined format as nginx does', () => {
    const line = compileLogFormat(COMBINED_FORMAT)(request(), new Date(Date.UTC(2026, 11, 7, 4, 5, 6)));
    assert.match(
      line,
      /^10\.0\.0\.1 - - \[07\/Dec\/2026:\d\d:\d\d:06 [+-]\d{4}\] "GET \/a\?b=1 HTTP\/1\.1" 200 12 "-" "curl\/8"$/,
    );
  });

  it('writes each upstream try, escapes quotes and control bytes, and names an unknown variable', () => {
    const line = compileLogFormat('$upstream_addr|$upstream_status|$upstream_response_time|$request_time|$http_x_a')(
      request({
        header: (name) => (name === 'x-a' ? 'say "hi"\n' : undefined),
        upstream: [
          { addr: '127.0.0.1:1', status: null, seconds: 0.001 },
          { addr: '127.0.0.1:2', status: 200, seconds: 0.25 },
        ],
      }),
      new Date(),
    );
    assert.equal(line, '127.0.0.1:1, 127.0.0.1:2|502, 200|0.001, 0.250|0.012|say \\x22hi\\x22\\x0A');
    assert.throws(
      () => compileLogFormat('$status $bogus', "config file x: 'accessLog.format'"),
      (err: unknown) =>
        err instanceof InvalidArgumentError && /'accessLog\.format'.*unknown variable '\$bogus'/.test(err.message),
    );
  });
});

describe('access log of cosocket serve', () => {
  let dir: string;
  let upstream: Server;
  let upstreamPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cosocket-access-'));
    upstream = createServer((_req, res) => res.end('from upstream\n'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamPort = (upstream.address() as { port: number }).port;
  });
  after(() => {
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start when the log file cannot be opened, or the format names an unknown variable', async () => {
    const missing = await runCli(['serve', '--port', '0', '--access-log', join(dir, 'no', 'such', 'dir.log')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--access-log \(accessLog\.path\): cannot open '.*dir\.log' for appending: ENOENT/);
    const config = join(dir, 'bad-format.json');
    writeFileSync(config, JSON.stringify({ accessLog: { path: 'stdout', format: '$status $nope' } }));
    const bad = await runCli(['serve', '--port', '0', '--config', config]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'accessLog\.format': unknown variable '\$nope'/);
  });

  it('logs app, send and proxy requests in the combined format by default', async () => {
    const log = join(dir, 'combined.log');
    const root = join(dir, 'files');
    mkdirSync(root);
    writeFileSync(join(root, 'done.txt'), 'finished file\n');
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const server = await startServer([
      '--access-log',
      log,
      '--send-root',
      root,
      '--admin-port',
      String(adminPort),
      '--proxy-port',
      String(proxyPort),
    ]);
    try {
      const add = await fetch(`http://127.0.0.1:${adminPort}/upstream/up`, {
        method: 'POST',
        body: `server 127.0.0.1:${upstreamPort};`,
      });
      assert.equal(add.status, 200);
      assert.equal(
        (await get(server.port, '/test', { 'user-agent': 'agent/1', referer: 'http://r.example/' })).status,
        200,
      );
      assert.equal((await get(server.port, '/send/done.txt')).status, 200);
      assert.equal((await get(proxyPort, '/p?q=1', { host: 'up', 'user-agent': 'agent/2' })).status, 200);
      const stopped = await server.stop();
      assert.equal(stopped, 0);
      const lines = parseLines(readFileSync(log, 'utf8'), COMBINED_FORMAT);
      const app = lines.find((l) => l.request === 'GET /test HTTP/1.1')!;
      assert.deepEqual(
        { ...app, time_local: '' },
        {
          remote_addr: '127.0.0.1',
          remote_user: '-',
          time_local: '',
          request: 'GET /test HTTP/1.1',
          status: '200',
          body_bytes_sent: '10',
          http_referer: 'http://r.example/',
          http_user_agent: 'agent/1',
        },
      );
      assert.match(app.time_local!, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$/);
      const send = lines.find((l) => l.request === 'GET /send/done.txt HTTP/1.1')!;
      assert.equal(send.status, '200');
      assert.equal(send.body_bytes_sent, String('finished file\n'.length));
      const proxied = lines.find((l) => l.request === 'GET /p?q=1 HTTP/1.1')!;
      assert.equal(proxied.status, '200');
      assert.equal(proxied.body_bytes_sent, String('from upstream\n'.length));
      assert.equal(proxied.http_user_agent, 'agent/2');
      assert.equal(lines.length, 3, 'the admin requests are not in the access log');
    } finally {
      if (server.child.exitCode === null) await server.stop();
    }
  });

  it('logs and counts requests refused before routing, on the app listener and the proxy', async () => {
    const log = join(dir, 'refused.log');
    const config = join(dir, 'refused.json');
    const format = '$remote_addr "$request" $status $body_bytes_sent $request_method';
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    writeFileSync(
      config,
      JSON.stringify({
        accessLog: { path: log, format, buffer: 0 },
        limits: { headerTimeout: '1s' },
        dyups: { adminPort, proxyPort },
      }),
    );
    const server = await startServer(['--config', config]);
    try {
      const refused: Array<[string, string]> = [
        ['GET /bad-header HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', '400'],
        ['\x16\x03\x01 not http\r\n\r\n', '400'],
        [`GET /large HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, '431'],
        // the head never ends: the header timeout answers it
        ['GET /slow HTTP/1.1\r\nHost: x\r\n', '408'],
      ];
      for (const port of [server.port, proxyPort]) {
        for (const [bytes, status] of refused) {
          const answer = await raw(port, Buffer.from(bytes, 'latin1'));
          assert.match(
            answer,
            new RegExp(`^HTTP/1\\.1 ${status} `),
            `port ${port}: ${JSON.stringify(bytes.slice(0, 40))}`,
          );
        }
      }
      const metrics = parsePrometheus(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text());
      for (const [status, count] of [
        ['400', 2],
        ['431', 1],
        ['408', 1],
      ] as const) {
        const app = (method: string): number =>
          valueOf(metrics, 'cosocket_http_requests_total', { route: '(no route)', method, status });
        assert.equal(app('GET') + app(''), count, `app ${status}`);
        assert.equal(
          valueOf(metrics, 'cosocket_proxy_requests_total', { group: '', status }),
          count,
          `proxy ${status}`,
        );
      }
      assert.equal(await server.stop(), 0);
      const lines = parseLines(readFileSync(log, 'utf8'), format);
      assert.equal(lines.length, 8, readFileSync(log, 'utf8'));
      for (const half of [lines.slice(0, 4), lines.slice(4)]) {
        const byStatus = (status: string): Array<Record<string, string>> => half.filter((l) => l.status === status);
        assert.deepEqual(
          byStatus('400')
            .map((l) => l.request)
            .sort(),
          ['GET /bad-header HTTP/1.1', '\\x16\\x03\\x01 not http'].sort(),
        );
        assert.equal(byStatus('400').find((l) => l.request!.startsWith('GET'))!.request_method, 'GET');
        assert.equal(byStatus('431').length, 1);
        assert.equal(byStatus('408').length, 1);
        for (const line of half) {
          assert.equal(line.remote_addr, '127.0.0.1');
          assert.ok(Number(line.body_bytes_sent) > 0, `no body counted: ${JSON.stringify(line)}`);
        }
      }
      // the proxy read the slow request's line before its head stalled
      assert.equal(lines.slice(4).find((l) => l.status === '408')!.request, 'GET /slow HTTP/1.1');
    } finally {
      if (server.child.exitCode === null) await server.stop();
    }
  });

  it('logs the upstream variables of the proxy, and reopens the file on SIGUSR2 after a rename', async () => {
    const log = join(dir, 'proxy.log');
    const config = join(dir, 'config.json');
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const dead = await deadPort();
    writeFileSync(
      config,
      JSON.stringify({
        accessLog: { path: log, format: PROXY_FORMAT, buffer: '64k', flush: '50ms' },
        dyups: { adminPort, proxyPort },
      }),
    );
    const server = await startServer(['--config', config]);
    try {
      const add = await fetch(`http://127.0.0.1:${adminPort}/upstream/two`, {
        method: 'POST',
        body: `server 127.0.0.1:${dead}; server 127.0.0.1:${upstreamPort} backup;`,
      });
      assert.equal(add.status, 200, await add.text());
      assert.equal((await get(proxyPort, '/first', { host: 'two', 'x-trace-id': 'abc' })).status, 200);
      assert.ok(await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('/first'), 10_000));
      const [first] = parseLines(readFileSync(log, 'utf8'), PROXY_FORMAT);
      assert.equal(first!.request, 'GET /first HTTP/1.1');
      assert.equal(first!.status, '200');
      assert.equal(first!.upstream_addr, `127.0.0.1:${dead}, 127.0.0.1:${upstreamPort}`);
      assert.equal(first!.upstream_status, '502, 200');
      assert.match(first!.upstream_response_time!, /^\d+\.\d{3}, \d+\.\d{3}$/);
      assert.match(first!.request_time!, /^\d+\.\d{3}$/);
      assert.equal(first!.http_x_trace_id, 'abc');

      // logrotate: rename, then tell the server to reopen
      renameSync(log, `${log}.1`);
      server.child.kill('SIGUSR2');
      // lines written before the reopen is seen may still go to the renamed file: keep asking until one
      // lands in the new file (the reopen can come just after a request, leaving the new file empty)
      assert.ok(
        await waitFor(async () => {
          await get(proxyPort, '/second', { host: 'two' });
          return existsSync(log) && readFileSync(log, 'utf8').includes('GET /second');
        }, 10_000),
        'no /second line in a new file after SIGUSR2',
      );
      const rotated = readFileSync(`${log}.1`, 'utf8');
      assert.ok(rotated.includes('GET /first'));
      assert.equal(server.child.exitCode, null, 'SIGUSR2 stopped the server');
      const fresh = parseLines(readFileSync(log, 'utf8'), PROXY_FORMAT);
      assert.ok(fresh.every((l) => l.request === 'GET /second HTTP/1.1'));
    } finally {
      await server.stop();
    }
  });

  it('with --workers 2, each worker reopens its log on the SIGUSR2 sent to the primary', async () => {
    const log = join(dir, 'workers.log');
    const config = join(dir, 'workers.json');
    const format = '$pid "$request" $status';
    writeFileSync(config, JSON.stringify({ workers: '2', accessLog: { path: log, format, buffer: 0 } }));
    const server = await startServer(['--config', config]);
    try {
      // fresh connections reach both workers in time; each line says which worker wrote it
      const pidsIn = (file: string): Set<string> =>
        new Set(existsSync(file) ? parseLines(readFileSync(file, 'utf8'), format).map((l) => l.pid!) : []);
      assert.ok(
        await waitFor(async () => {
          await get(server.port, '/test');
          return pidsIn(log).size === 2;
        }, 20_000),
        'both workers log',
      );
      renameSync(log, `${log}.1`);
      server.child.kill('SIGUSR2');
      assert.ok(
        await waitFor(async () => {
          await get(server.port, '/test');
          return pidsIn(log).size === 2;
        }, 20_000),
        'the workers never both wrote to the new file',
      );
      assert.equal(server.child.exitCode, null);
    } finally {
      await server.stop();
    }
  });
});
