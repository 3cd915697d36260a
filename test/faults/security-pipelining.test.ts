import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import { scale } from './harness.js';

/**
 * Issue 12, finding 9: one connection pipelining thousands of requests must not run them all at once.
 * Each listener handles one request per connection at a time, like nginx; what waits behind the slow
 * endpoint counts how many requests reach it at once.
 */

const PIPELINED = scale(500, 2_000);
/** how long the slow endpoint holds each answer: enough for pipelined requests to overlap if they could */
const HOLD_MS = 2;

/** Counts requests in progress at once; the highest count seen is `max`. */
class InFlight {
  now = 0;
  max = 0;
  enter(): void {
    this.now++;
    this.max = Math.max(this.max, this.now);
  }
  leave(): void {
    this.now--;
  }
}

interface Response {
  status: number;
  body: string;
}

/** Splits raw HTTP/1.1 responses (Content-Length or chunked bodies) off the front of `raw`. */
function takeResponses(raw: Buffer, into: Response[]): Buffer {
  for (;;) {
    const headEnd = raw.indexOf('\r\n\r\n');
    if (headEnd < 0) return raw;
    const head = raw.subarray(0, headEnd).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    let at = headEnd + 4;
    let body: Buffer;
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length !== null) {
      const end = at + Number(length[1]);
      if (raw.length < end) return raw;
      body = raw.subarray(at, end);
      at = end;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', at);
        if (lineEnd < 0) return raw;
        const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
        if (raw.length < lineEnd + 2 + size + 2) return raw;
        parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      body = Buffer.alloc(0);
    }
    into.push({ status, body: body.toString('latin1') });
    raw = raw.subarray(at);
  }
}

/**
 * Sends `requests` pipelined on one connection (all written at once); `onResponse` sees the count so
 * far after each. Resolves with every response once `requests.length` have arrived.
 */
function pipeline(
  port: number,
  requests: string[],
  onResponse: (count: number) => void = () => {},
): Promise<Response[]> {
  return new Promise((resolve, reject) => {
    const responses: Response[] = [];
    let pending: Buffer = Buffer.alloc(0);
    const socket = connect(port, '127.0.0.1', () => socket.write(requests.join('')));
    socket.on('data', (data: Buffer) => {
      const before = responses.length;
      pending = takeResponses(Buffer.concat([pending, data]), responses);
      for (let n = before + 1; n <= responses.length; n++) onResponse(n);
      if (responses.length >= requests.length) {
        socket.end();
        resolve(responses);
      }
    });
    socket.on('error', reject);
    socket.on('close', () =>
      reject(new Error(`the connection closed after ${responses.length} of ${requests.length} responses`)),
    );
  });
}

/** One request on its own connection. */
async function single(port: number, request: string): Promise<Response> {
  const [response] = await pipeline(port, [request]);
  return response!;
}

async function listening<T extends NetServer | HttpServer>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A Redis stand-in: answers GET and GETRANGE with a 10-byte value after HOLD_MS, counting them in flight; anything else +OK. */
function slowRedis(inFlight: InFlight): NetServer {
  return createNetServer((socket) => {
    let buffered = '';
    socket.setEncoding('latin1');
    socket.on('error', () => {});
    socket.on('data', (data: string) => {
      buffered += data;
      for (;;) {
        const command = takeCommand(buffered);
        if (command === null) return;
        buffered = buffered.slice(command.length);
        const name = command.args[0]?.toUpperCase();
        if (name === 'GET' || name === 'GETRANGE') {
          inFlight.enter();
          setTimeout(() => {
            inFlight.leave();
            socket.write('$10\r\nhello12345\r\n');
          }, HOLD_MS);
        } else socket.write('+OK\r\n');
      }
    });
  });
}

/** One RESP command (`*N` then N bulk strings) off the front of `text`, or null while incomplete. */
function takeCommand(text: string): { args: string[]; length: number } | null {
  const header = /^\*(\d+)\r\n/.exec(text);
  if (header === null) return null;
  let at = header[0].length;
  const args: string[] = [];
  for (let i = 0; i < Number(header[1]); i++) {
    const bulk = /^\$(\d+)\r\n/.exec(text.slice(at));
    if (bulk === null) return null;
    const start = at + bulk[0].length;
    const end = start + Number(bulk[1]);
    if (text.length < end + 2) return null;
    args.push(text.slice(start, end));
    at = end + 2;
  }
  return { args, length: at };
}

describe('security: pipelined requests run one at a time per connection', { timeout: 120_000 }, () => {
  const redisInFlight = new InFlight();
  const upstreamInFlight = new InFlight();
  const redis = slowRedis(redisInFlight);
  const upstream = createHttpServer((req, res) => {
    upstreamInFlight.enter();
    setTimeout(() => {
      upstreamInFlight.leave();
      res.end(req.url);
    }, HOLD_MS);
  });
  let server: RunningServer;
  let adminPort: number;
  let proxyPort: number;

  before(async () => {
    const redisPort = await listening(redis);
    const upstreamPort = await listening(upstream);
    adminPort = await deadPort();
    proxyPort = await deadPort();
    server = await startServer([
      '--redis',
      `redis://127.0.0.1:${redisPort}`,
      '--admin-port',
      String(adminPort),
      '--proxy-port',
      String(proxyPort),
    ]);
    const body = `server 127.0.0.1:${upstreamPort};`;
    const created = await single(
      adminPort,
      `POST /upstream/pipe.local HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    assert.equal(created.status, 200);
  });

  after(async () => {
    await server?.stop();
    redis.close();
    upstream.close();
  });

  it(`the app listener: ${PIPELINED} pipelined GET /test reach Redis one at a time while another client is served`, async () => {
    redisInFlight.max = 0;
    const request = 'GET /test HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    let other: Promise<Response> | null = null;
    let countWhenOtherDone = -1;
    let received = 0;
    const responses = await pipeline(
      server.port,
      Array.from({ length: PIPELINED }, () => request),
      (count) => {
        received = count;
        if (count === 1) {
          other = single(server.port, request).then((response) => {
            countWhenOtherDone = received;
            return response;
          });
        }
      },
    );
    assert.equal(responses.length, PIPELINED);
    assert.ok(
      responses.every((r) => r.status === 200 && r.body === 'hello12345'),
      'every pipelined /test answered 200 with the value',
    );
    // two connections: the pipelining one and the other client's, one request each at most
    assert.ok(
      redisInFlight.max >= 1 && redisInFlight.max <= 2,
      `up to ${redisInFlight.max} requests of two connections ran at once`,
    );
    const otherResponse = await other!;
    assert.equal(otherResponse.status, 200);
    assert.ok(countWhenOtherDone < PIPELINED, 'the other client was served only after the whole pipeline');
  });

  it(`the proxy listener: ${PIPELINED} pipelined requests reach the upstream one at a time and come back in order`, async () => {
    upstreamInFlight.max = 0;
    const requests = Array.from({ length: PIPELINED }, (_, i) => `GET /r${i} HTTP/1.1\r\nHost: pipe.local\r\n\r\n`);
    let other: Promise<Response> | null = null;
    let countWhenOtherDone = -1;
    let received = 0;
    const responses = await pipeline(proxyPort, requests, (count) => {
      received = count;
      if (count === 1) {
        other = single(proxyPort, 'GET /other HTTP/1.1\r\nHost: pipe.local\r\n\r\n').then((response) => {
          countWhenOtherDone = received;
          return response;
        });
      }
    });
    assert.deepEqual(
      responses.map((r) => `${r.status} ${r.body}`),
      requests.map((_, i) => `200 /r${i}`),
    );
    assert.ok(
      upstreamInFlight.max <= 2,
      `up to ${upstreamInFlight.max} requests of two connections reached the upstream at once`,
    );
    const otherResponse = await other!;
    assert.deepEqual([otherResponse.status, otherResponse.body], [200, '/other']);
    assert.ok(countWhenOtherDone < PIPELINED, 'the other client was served only after the whole pipeline');
  });

  it('the admin listener: pipelined POSTs with bodies are each read whole and answered in order', async () => {
    const requests = Array.from({ length: 50 }, (_, i) => {
      const body = `server 127.0.0.1:${20_000 + i};`;
      return `POST /upstream/p${i}.local HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    });
    const responses = await pipeline(adminPort, requests);
    assert.deepEqual(
      responses.map((r) => r.status),
      requests.map(() => 200),
    );
    const last = await single(adminPort, 'GET /upstream/p49.local HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.deepEqual([last.status, last.body], [200, 'server 127.0.0.1:20049\n']);
  });
});
