import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { runProcess } from '../helpers/process.js';
import type { ExitResult } from '../helpers/process.js';
import { makeTestPki } from '../helpers/tls-certs.js';

// The real ApacheBench (apache2-utils) and `cosocket ab` run with the same flags against the same
// small server on loopback; the server records every request's bytes.

const hasAb = ((): boolean => {
  try {
    execFileSync('ab', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Recorder {
  server: Server;
  port: number;
  requests: Buffer[];
  url(path: string): string;
}

/**
 * Answers like a plain HTTP/1.0 server: `/404` with 404, `/grow` with a body one byte longer each time (10 to 19 bytes, again),
 * `/close` with a body ended by the close (no Content-Length), `/silent` never; every other path with
 * 200 and "hello12345". The connection stays open only when the request asked for Keep-Alive.
 */
async function startRecorder(tlsOptions?: { cert: string; key: string }): Promise<Recorder> {
  const requests: Buffer[] = [];
  let grow = 0;
  const answer = (socket: Socket, head: string, raw: Buffer): void => {
    requests.push(raw);
    const path = head.split(' ')[1] ?? '/';
    if (path === '/silent') return;
    const keep = /\r\nConnection: Keep-Alive\r\n/i.test(head);
    const isHead = head.startsWith('HEAD ');
    if (path === '/close') {
      socket.end(`HTTP/1.0 200 OK\r\nServer: recorder/1.0\r\n\r\n${'x'.repeat(1000)}`);
      return;
    }
    const status = path === '/404' ? '404 Not Found' : '200 OK';
    const body = path === '/grow' ? 'y'.repeat(10 + (grow++ % 10)) : path === '/404' ? 'nope' : 'hello12345';
    const response =
      `HTTP/1.0 ${status}\r\nServer: recorder/1.0\r\nContent-Length: ${body.length}\r\n` +
      `${keep ? 'Connection: keep-alive\r\n' : ''}\r\n${isHead ? '' : body}`;
    if (keep) socket.write(response);
    else socket.end(response);
  };
  const onConnection = (socket: Socket): void => {
    let pending = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = pending.subarray(0, end + 4).toString('latin1');
        const length = Number(/\r\nContent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const raw = pending.subarray(0, end + 4 + length);
        pending = pending.subarray(end + 4 + length);
        answer(socket, head, Buffer.from(raw));
      }
    });
  };
  const server = tlsOptions === undefined ? createServer(onConnection) : createTlsServer(tlsOptions, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const scheme = tlsOptions === undefined ? 'http' : 'https';
  return { server, port, requests, url: (path) => `${scheme}://127.0.0.1:${port}${path}` };
}

const realAb = (args: readonly string[]): Promise<ExitResult> => runProcess('ab', args, { limitMs: 30_000 });
const cosocketAb = (args: readonly string[]): Promise<ExitResult> => runCli(['ab', ...args]);

/** The report's "Name: value" line, or undefined. */
function field(report: string, name: string): string | undefined {
  const match = new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(report);
  return match?.[1];
}

const COUNTED = [
  'Server Software',
  'Document Path',
  'Document Length',
  'Concurrency Level',
  'Complete requests',
  'Failed requests',
  'Non-2xx responses',
  'Keep-Alive requests',
  'Total transferred',
  'Total body sent',
  'HTML transferred',
];

describe('cosocket ab beside the real ab', { skip: hasAb ? false : 'ab (apache2-utils) is not installed' }, () => {
  let recorder: Recorder;
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-ab-'));
  const bodyFile = join(dir, 'body.json');
  writeFileSync(bodyFile, '{"a":1}');

  before(async () => {
    recorder = await startRecorder();
  });
  after(() => {
    recorder.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs both with the same flags; returns their results and the requests each sent. */
  async function both(args: readonly string[]) {
    recorder.requests.length = 0;
    const ab = await realAb(args);
    const abRequests = recorder.requests.splice(0);
    const ours = await cosocketAb(args);
    const ourRequests = recorder.requests.splice(0);
    return { ab, ours, abRequests, ourRequests };
  }

  it('sends the same request bytes for every flag that shapes the request', async () => {
    const cases: string[][] = [
      ['-n', '3', recorder.url('/x?y=1')],
      ['-n', '3', '-k', recorder.url('/')],
      ['-n', '2', '-i', recorder.url('/')],
      ['-n', '2', '-p', bodyFile, '-T', 'application/json', recorder.url('/post')],
      ['-n', '2', '-u', bodyFile, recorder.url('/put')],
      ['-n', '2', '-p', bodyFile, '-m', 'PATCH', recorder.url('/patch')],
      ['-n', '2', '-m', 'DELETE', '-C', 'a=1', '-C', 'b=2', '-A', 'user:pw', '-P', 'proxy:pw', recorder.url('/')],
      [
        '-n',
        '2',
        '-H',
        'X-One: 1',
        '-H',
        'X-Two: 2',
        '-H',
        'User-Agent: mine',
        '-H',
        'accept: text/html',
        recorder.url('/'),
      ],
      ['-n', '2', '-H', 'Host: example.test', '-kc', '2', recorder.url('/')],
      ['-n', '2', '-X', `127.0.0.1:${recorder.port}`, 'http://example.test/through?proxy=1'],
    ];
    for (const args of cases) {
      const { ab, ours, abRequests, ourRequests } = await both(args);
      assert.equal(ours.code, ab.code, `exit code for ${args.join(' ')}: ${ours.stderr}`);
      assert.equal(ourRequests.length, abRequests.length, `requests sent for ${args.join(' ')}`);
      for (let i = 0; i < abRequests.length; i++)
        assert.equal(ourRequests[i]!.toString('latin1'), abRequests[i]!.toString('latin1'), args.join(' '));
      const connectionHeaders = ourRequests[0]!.toString('latin1').match(/^connection:/gim) ?? [];
      assert.ok(connectionHeaders.length <= 1, 'at most one Connection header');
    }
  });

  it('reports the same counts, failures, Non-2xx, lengths and bytes', async () => {
    const cases: string[][] = [
      ['-n', '40', '-c', '4', recorder.url('/')],
      ['-n', '40', '-c', '4', '-k', recorder.url('/')],
      ['-n', '30', '-c', '3', recorder.url('/404')],
      ['-n', '30', '-c', '3', '-k', recorder.url('/404')],
      ['-n', '10', '-c', '1', recorder.url('/grow')],
      ['-n', '10', '-c', '1', '-l', recorder.url('/grow')],
      ['-n', '10', '-c', '2', recorder.url('/close')],
      ['-n', '10', '-c', '2', '-k', recorder.url('/close')],
      ['-n', '10', '-c', '2', '-i', recorder.url('/')],
      ['-n', '10', '-c', '2', '-p', bodyFile, recorder.url('/post')],
    ];
    for (const args of cases) {
      const { ab, ours } = await both(args);
      assert.equal(ours.code, ab.code, `${args.join(' ')}: ${ours.stderr}`);
      for (const name of COUNTED)
        assert.equal(field(ours.stdout, name), field(ab.stdout, name), `${name} for ${args.join(' ')}`);
      const failures = /^ {3}\(Connect: .*\)$/m;
      assert.equal(
        failures.exec(ours.stdout)?.[0],
        failures.exec(ab.stdout)?.[0],
        `failure kinds for ${args.join(' ')}`,
      );
      const shape = (report: string): string[] =>
        report
          .split('\n')
          .filter((line) =>
            /^(Connection Times|Percentage|\s+min|Connect:|Processing:|Waiting:|Total:|\s+\d+%)/.test(line),
          )
          .map((line) => line.replace(/\d+(\.\d+)?/g, (n) => (n.includes('.') ? 'F' : 'N')).replace(/ +/g, ' '));
      assert.deepEqual(shape(ours.stdout), shape(ab.stdout), `table layout for ${args.join(' ')}`);
    }
  });

  it('writes -e and -g files in ab formats: header, row count, column formats', async () => {
    const abCsv = join(dir, 'ab.csv');
    const ourCsv = join(dir, 'ours.csv');
    const abTsv = join(dir, 'ab.tsv');
    const ourTsv = join(dir, 'ours.tsv');
    const url = recorder.url('/');
    assert.equal((await realAb(['-n', '25', '-c', '5', '-e', abCsv, '-g', abTsv, url])).code, 0);
    const ours = await cosocketAb(['-n', '25', '-c', '5', '-e', ourCsv, '-g', ourTsv, url]);
    assert.equal(ours.code, 0, ours.stderr);
    const lines = (file: string): string[] => readFileSync(file, 'latin1').split('\n');
    const [abCsvLines, ourCsvLines, abTsvLines, ourTsvLines] = [abCsv, ourCsv, abTsv, ourTsv].map(lines) as [
      string[],
      string[],
      string[],
      string[],
    ];
    assert.equal(ourCsvLines[0], abCsvLines[0]);
    assert.equal(ourCsvLines.length, abCsvLines.length);
    ourCsvLines.slice(1, -1).forEach((line, i) => assert.match(line, new RegExp(`^${i},\\d+\\.\\d{3}$`)));
    assert.equal(ourTsvLines[0], abTsvLines[0]);
    assert.equal(ourTsvLines.length, abTsvLines.length);
    const row =
      /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} \d{4}\t\d{10}\t\d+\t\d+\t\d+\t\d+$/;
    for (const line of [...abTsvLines.slice(1, -1), ...ourTsvLines.slice(1, -1)]) assert.match(line, row);
    assert.equal(ourTsvLines.at(-1), '');
  });

  it('exits as ab does: refused 111, unknown host 50, timeout 119, all non-2xx 0, -r goes on', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const cases: [string[], number][] = [
      [['-n', '10', `http://127.0.0.1:${closedPort}/`], 111],
      [['-n', '2', 'http://no-such-host.invalid/'], 50],
      [['-n', '2', '-s', '1', recorder.url('/silent')], 119],
      [['-n', '20', '-c', '2', recorder.url('/404')], 0],
      [['-n', '5', '-r', `http://127.0.0.1:${closedPort}/`], 0],
    ];
    for (const [args, code] of cases) {
      const { ab, ours } = await both(args);
      assert.equal(ab.code, code, `ab ${args.join(' ')}`);
      assert.equal(ours.code, code, `cosocket ab ${args.join(' ')}: ${ours.stderr}`);
      if (code !== 0) assert.equal(ours.stderr, ab.stderr, args.join(' '));
    }
  });

  it('https URLs: the same counts and bytes as ab over TLS, SNI off with -I, protocol with -f', async () => {
    const pki = makeTestPki();
    const secure = await startRecorder(pki.issue(['127.0.0.1', 'localhost']));
    try {
      for (const args of [
        ['-n', '20', '-c', '2', secure.url('/')],
        ['-n', '20', '-c', '2', '-k', '-f', 'TLS1.2', secure.url('/')],
        ['-n', '5', '-I', secure.url('/404')],
      ]) {
        secure.requests.length = 0;
        const ab = await realAb(args);
        const abRequests = secure.requests.splice(0);
        const ours = await cosocketAb(args);
        const ourRequests = secure.requests.splice(0);
        assert.equal(ours.code, ab.code, `${args.join(' ')}: ${ours.stderr}`);
        for (const name of COUNTED)
          assert.equal(field(ours.stdout, name), field(ab.stdout, name), `${name} for ${args.join(' ')}`);
        assert.deepEqual(
          ourRequests.map((r) => r.toString('latin1')),
          abRequests.map((r) => r.toString('latin1')),
        );
      }
    } finally {
      secure.server.close();
      pki.remove();
    }
  });

  it('-w prints the HTML table ab prints, attributes from -x/-y/-z', async () => {
    const args = ['-n', '10', '-c', '2', '-x', 'border=1', '-z', 'class=c', recorder.url('/')];
    const { ab, ours } = await both(args);
    assert.equal(ours.code, 0, ours.stderr);
    const labels = (html: string): string[] =>
      html
        .split('\n')
        .filter((line) => line.startsWith('<t'))
        .map((line) => line.replace(/[\d.]+/g, '#').replace(/ +/g, ' '));
    const tableOf = (text: string): string => text.slice(text.indexOf('<table'));
    assert.deepEqual(labels(tableOf(ours.stdout)), labels(tableOf(ab.stdout)));
  });
});

describe('cosocket ab on its own', () => {
  let recorder: Recorder;
  before(async () => {
    recorder = await startRecorder();
  });
  after(() => recorder.server.close());

  it('--workers spreads the connections over load threads and keeps every sample', async () => {
    const run = await cosocketAb(['-n', '300', '-c', '6', '-k', '--workers', '3', '--json', recorder.url('/')]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout) as {
      completeRequests: number;
      keepAliveRequests: number;
      failedRequests: number;
      percentiles: Record<string, number>;
      loadGenerator: { threads: { thread: string; share: number }[]; bounded: boolean };
    };
    assert.equal(json.completeRequests, 300);
    assert.equal(json.keepAliveRequests, 300);
    assert.equal(json.failedRequests, 0);
    assert.deepEqual(
      json.loadGenerator.threads.map((t) => t.thread),
      ['worker 1', 'worker 2', 'worker 3'],
    );
    assert.equal(typeof json.loadGenerator.bounded, 'boolean');
    assert.ok('100' in json.percentiles);
  });

  it('refuses -b and -B with one line each, and unknown options by name', async () => {
    for (const [flag, text] of [
      ['-b', /-b \(TCP send\/receive buffer size\) is not supported/],
      ['-B', /-B \(bind address\) is not supported/],
      ['-Q', /illegal option -- Q/],
    ] as const) {
      const run = await cosocketAb([flag, '1', recorder.url('/')]);
      assert.equal(run.code, 2, flag);
      assert.match(run.stderr, text);
      assert.equal(run.stderr.trim().split('\n').length, 1, `one line for ${flag}`);
    }
  });

  it('prints the request and each response head with -v 2 and 3, as ab does', async () => {
    const run = await cosocketAb(['-n', '1', '-v', '3', recorder.url('/v')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /INFO: GET header == \n---\nGET \/v HTTP\/1\.0\r\n/);
    assert.match(run.stdout, /LOG: header received:\nHTTP\/1\.0 200 OK\r\nServer: recorder\/1\.0\r\n/);
    assert.match(run.stdout, /LOG: Response code = 200/);
  });
});
