import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { HttpProtocolError, Scheduler, http, pools } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { startTcpServer } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'http-head-tests' });

/** An upstream that answers the first request with `reply`, written in pieces of `piece` bytes (0: at once). */
async function upstreamReplying(
  reply: string | Buffer,
  piece = 0,
): Promise<Awaited<ReturnType<typeof startTcpServer>>> {
  const bytes = typeof reply === 'string' ? Buffer.from(reply, 'latin1') : reply;
  return startTcpServer((socket: Socket) => {
    socket.setNoDelay(true);
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- a failure fails the test as an unhandled rejection
    socket.once('data', async () => {
      if (piece === 0) {
        socket.write(bytes);
        return;
      }
      for (let at = 0; at < bytes.length && !socket.destroyed; at += piece) {
        socket.write(bytes.subarray(at, at + piece));
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

interface Seen {
  status: number;
  reason: string;
  version: string;
  headers: http.Headers;
  raw: ReadonlyArray<[string, string]>;
  joined: string | undefined;
  keepalive: boolean;
  body: string;
}

function* fetchOnce(port: number, limits?: Partial<http.HttpLimits>): Operation<Seen> {
  const conn = yield* http.connect('127.0.0.1', port, limits ? { limits } : {});
  try {
    const res = yield* conn.request({ path: '/' });
    const body = (yield* res.readBody()).toString('latin1');
    return {
      status: res.status,
      reason: res.reason,
      version: res.version,
      headers: res.headers,
      raw: res.rawHeaders,
      joined: res.header('Set-Cookie'),
      keepalive: res.keepalive,
      body,
    };
  } finally {
    conn.close();
  }
}

describe('http client: response heads', () => {
  after(() => pools.drain());

  it('reads a head cut into one-byte writes, after an interim response, as it reads a whole one', async () => {
    const reply =
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n' +
      'HTTP/1.1 200 Fine Thanks\r\nServer: test\r\nSET-COOKIE: a=1\r\nContent-Length: 2\r\nX-Odd-Case: v\r\n' +
      'set-cookie: b=2\r\nConnection: keep-alive\r\n\r\nok';
    const expected: Seen = {
      status: 200,
      reason: 'Fine Thanks',
      version: '1.1',
      headers: {
        server: 'test',
        'set-cookie': ['a=1', 'b=2'],
        'content-length': '2',
        'x-odd-case': 'v',
        connection: 'keep-alive',
      },
      raw: [
        ['Server', 'test'],
        ['SET-COOKIE', 'a=1'],
        ['Content-Length', '2'],
        ['X-Odd-Case', 'v'],
        ['set-cookie', 'b=2'],
        ['Connection', 'keep-alive'],
      ],
      joined: 'a=1, b=2',
      keepalive: true,
      body: 'ok',
    };
    for (const piece of [0, 1, 7]) {
      const upstream = await upstreamReplying(reply, piece);
      try {
        assert.deepEqual(await scheduler.go(() => fetchOnce(upstream.port)), expected, `pieces of ${piece}`);
      } finally {
        await upstream.close();
      }
    }
  });

  it('accepts bare LF line ends and trims values as before (tabs, spaces, a CR before the line end)', async () => {
    const upstream = await upstreamReplying(
      'HTTP/1.0 204\nX-A: \t v \t\nX-B:\r\nX-C: a\r \r\r\nConnection: keep-alive\n\n',
    );
    try {
      const seen = await scheduler.go(() => fetchOnce(upstream.port));
      assert.deepEqual(
        [seen.status, seen.reason, seen.version, seen.headers, seen.keepalive],
        [204, '', '1.0', { 'x-a': 'v', 'x-b': '', 'x-c': 'a', connection: 'keep-alive' }, true],
      );
    } finally {
      await upstream.close();
    }
  });

  it('keeps headers named like Object.prototype members as sent (constructor, toString)', async () => {
    const upstream = await upstreamReplying(
      'HTTP/1.1 200 OK\r\nConstructor: x\r\ntoString: y\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n',
    );
    try {
      const seen = await scheduler.go(() => fetchOnce(upstream.port));
      assert.deepEqual(seen.headers, {
        constructor: 'x',
        tostring: 'y',
        'set-cookie': ['a=1', 'b=2'],
        'content-length': '0',
      });
    } finally {
      await upstream.close();
    }
  });

  it('refuses what the line reader refused, with the same errors, whole or in pieces', async () => {
    const cases: Array<[string, string, RegExp, Partial<http.HttpLimits>?]> = [
      ['status below 100', 'HTTP/1.1 099 Low\r\n\r\n', /invalid status line 'HTTP\/1\.1 099 Low'/],
      ['HTTP/1.2', 'HTTP/1.2 200 OK\r\n\r\n', /invalid status line/],
      ['no space after the status', 'HTTP/1.1 200OK\r\n\r\n', /invalid status line/],
      ['a CR inside the reason', 'HTTP/1.1 200 O\rK\r\n\r\n', /invalid status line/],
      ['an empty status line', '\r\n\r\n', /invalid status line ''/],
      ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\n\r\n', /invalid header line ' folded'/],
      ['a space before the colon', 'HTTP/1.1 200 OK\r\nX-C : v\r\n\r\n', /invalid header line 'X-C : v'/],
      ['no name', 'HTTP/1.1 200 OK\r\n: v\r\n\r\n', /invalid header line/],
      ['no colon', 'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n', /invalid header line/],
      ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-B: a\0b\r\n\r\n', /header 'X-B' has a CR or NUL in its value/],
      ['a CR in a value', 'HTTP/1.1 200 OK\r\nX-B: a\rb\r\n\r\n', /header 'X-B' has a CR or NUL in its value/],
      ['a DEL in a value', 'HTTP/1.1 200 OK\r\nX-B: a\x7fb\r\n\r\n', /header 'X-B' has a control byte in its value/],
      ['a control byte in a value', 'HTTP/1.1 200 OK\r\nX-B: a\x01b\r\n\r\n', /header 'X-B' has a control byte/],
      [
        'too many headers',
        'HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n',
        /more than 3 response/,
        { maxHeaders: 3 },
      ],
      // the status line leaves 83 of 100 bytes, the header line takes them all (with its CRLF)
      [
        'a head past its limit',
        `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(78)}\r\n\r\n`,
        /response head larger than 100 bytes/,
        { maxHeaderBytes: 100 },
      ],
      ['a 101 nobody asked for', 'HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n', /101 Switching Protocols/],
      ['endless interim responses', 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(40), /more than 32 interim/],
      [
        'Content-Length twice, different',
        'HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n',
        /invalid Content-Length '1,2'/,
      ],
      [
        'Content-Length and Transfer-Encoding',
        'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
        /both Content-Length and Transfer-Encoding/,
      ],
    ];
    for (const [what, reply, pattern, limits] of cases) {
      for (const piece of [0, 3]) {
        const upstream = await upstreamReplying(reply, piece);
        try {
          await assert.rejects(
            scheduler.go(() => fetchOnce(upstream.port, limits)),
            (err: unknown) => err instanceof HttpProtocolError && pattern.test(err.message),
            `${what}, pieces of ${piece}`,
          );
        } finally {
          await upstream.close();
        }
      }
    }
  });

  it('refuses a line longer than the head limit with LineTooLongError, whole or in pieces', async () => {
    for (const piece of [0, 1024]) {
      const upstream = await upstreamReplying(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, piece);
      try {
        await assert.rejects(
          scheduler.go(() => fetchOnce(upstream.port)),
          (err: unknown) => (err as { code?: string }).code === 'COSOCKET_ERR_LINE_TOO_LONG',
        );
      } finally {
        await upstream.close();
      }
    }
  });

  it('sends a header list as given: names in any case, each value checked', async () => {
    const heads: string[] = [];
    const upstream = await startTcpServer((socket: Socket) => {
      socket.once('data', (d: Buffer) => {
        heads.push(d.toString('latin1'));
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      });
    });
    try {
      await scheduler.go(function* () {
        const conn = yield* http.connect('127.0.0.1', upstream.port);
        yield* conn.request({ path: '/x', headers: ['X-A', 'one', 'x-a', 'two', 'HOST', 'named.example'] });
        conn.close();
      });
      assert.equal(
        heads[0],
        'GET /x HTTP/1.1\r\nX-A: one\r\nx-a: two\r\nHOST: named.example\r\nUser-Agent: cosocket\r\n\r\n',
      );
      for (const headers of [
        ['x-a', 'one\r\nx-injected: two'],
        ['bad name', 'v'],
        ['x-a', 'caf\u20ac'],
      ]) {
        await assert.rejects(
          scheduler.go(function* () {
            const conn = yield* http.connect('127.0.0.1', upstream.port);
            try {
              yield* conn.request({ path: '/', headers });
            } finally {
              conn.close();
            }
          }),
          /invalid header name|CR, LF or NUL/,
        );
      }
    } finally {
      await upstream.close();
    }
  });
});
