import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort, startTcpServer } from '../helpers/tcp-server.js';
import type { TestServer } from '../helpers/tcp-server.js';
import { settle, waitForAdmin } from './harness.js';

/**
 * Issue 12: attacks on the dyups proxy's framing, over raw sockets against a real `cosocket serve`,
 * with misbehaving upstreams written here. Asserts status codes and bytes, never timing.
 */

/** Bounds a failure only: a correct run never waits this long. */
const LIMIT = 30_000;

let srv: RunningServer;
let adminPort: number;
let proxyPort: number;
const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-security-proxy-'));

async function setGroup(name: string, body: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}`, { method: 'POST', body });
  const text = await res.text();
  assert.equal(text, 'success', `POST /upstream/${name} (${body}) answered ${res.status} ${text}`);
}

/** Sends raw bytes to the proxy on a fresh connection; resolves with everything it answered until it closed. */
function exchange(request: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(proxyPort, '127.0.0.1');
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `the proxy never closed the connection; it sent ${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`,
        ),
      );
    }, LIMIT);
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
    socket.write(request);
  });
}

function statusOf(answer: Buffer): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(answer.toString('latin1'));
  return match === null ? 0 : Number(match[1]);
}

/** A raw upstream answering every request head it receives with `reply`, counting the connections it saw closed. */
/** An HTTP upstream answering `ok` that records each request line it executed. */
async function recordingUpstream(): Promise<{ port: number; executed: string[]; close: () => Promise<void> }> {
  const executed: string[] = [];
  const upstream: HttpServer = createHttpServer((req, res) => {
    executed.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (upstream.address() as { port: number }).port,
    executed,
    close: () => {
      upstream.closeAllConnections();
      return new Promise<void>((resolve) => upstream.close(() => resolve()));
    },
  };
}

async function rawUpstream(reply: string | Buffer): Promise<TestServer> {
  return startTcpServer((socket: Socket) => {
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        socket.write(reply);
      }
    });
  });
}

const addr = (port: number): string => `127.0.0.1:${port}`;

describe('faults: attacks on the dyups proxy framing (issue 12)', { timeout: 120_000 }, () => {
  before(async () => {
    adminPort = await deadPort();
    proxyPort = await deadPort();
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ dyups: { connectTimeout: '2s', readTimeout: '20s' } }));
    srv = await startServer(['--config', config, '--admin-port', String(adminPort), '--proxy-port', String(proxyPort)]);
    await waitForAdmin(adminPort, () => srv.output(), LIMIT);
  });

  after(async () => {
    try {
      if (srv !== undefined && srv.child.exitCode === null) await srv.stop('SIGTERM');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finding 1: a GET body is forwarded with its request, never a Content-Length without it (no smuggling)', async () => {
    // like Node's http: answers at once, then reads the body its Content-Length announced
    const executed: string[] = [];
    const bodies: string[] = [];
    const raw: string[] = [];
    const upstream: HttpServer = createHttpServer((req, res) => {
      executed.push(`${req.method} ${req.url}`);
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => bodies.push(body));
      res.end('answer');
    });
    upstream.on('connection', (socket: Socket) => {
      const index = raw.push('') - 1;
      socket.on('data', (d: Buffer) => (raw[index] += d.toString('latin1')));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
    const port = (upstream.address() as { port: number }).port;
    try {
      await setGroup('smuggle.local', `server ${addr(port)} max_fails=0; keepalive 1;`);
      const smuggled = 'GET /admin/delete-everything HTTP/1.1\r\nHost: internal.admin\r\n\r\n';
      const post = (body: string): string =>
        `POST /upload HTTP/1.1\r\nHost: smuggle.local\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
      // the head the proxy forwards for that POST, measured once: the attacker's Content-Length covers exactly it
      assert.equal(statusOf(await exchange(post(smuggled))), 200);
      const forwarded = raw.join('');
      const headLength = forwarded.indexOf('\r\n\r\n') + 4;
      assert.ok(headLength > 4, `the upstream saw ${JSON.stringify(forwarded)}`);
      const getBody = smuggled.padEnd(headLength, 'x');
      const get = `GET /page HTTP/1.1\r\nHost: smuggle.local\r\nContent-Length: ${getBody.length}\r\nConnection: close\r\n\r\n${getBody}`;
      assert.equal(statusOf(await exchange(get)), 200);
      // the next request on the pooled connection: on main its head became the GET's body, its body a request
      const last = await exchange(post(smuggled));
      assert.equal(statusOf(last), 200);
      const done = await settle(
        () => bodies.length,
        (n) => n >= 3,
        LIMIT,
      );
      assert.ok(done.ok, `the upstream read ${done.value} bodies; it executed ${JSON.stringify(executed)}`);
      assert.deepEqual(
        executed,
        ['POST /upload', 'GET /page', 'POST /upload'],
        'the upstream executed only what the proxy was asked for',
      );
      assert.deepEqual(bodies, [smuggled, getBody, smuggled], 'each request arrived with its own body');
    } finally {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  it('finding 1: a HEAD with a chunked body is forwarded with the body (framing chosen by the proxy)', async () => {
    const bodies: string[] = [];
    const upstream: HttpServer = createHttpServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        bodies.push(`${req.method} ${body}`);
        res.end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
    const port = (upstream.address() as { port: number }).port;
    try {
      await setGroup('head-body.local', `server ${addr(port)} max_fails=0;`);
      const answer = await exchange(
        'HEAD / HTTP/1.1\r\nHost: head-body.local\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      );
      assert.equal(statusOf(answer), 200);
      assert.deepEqual(bodies, ['HEAD hello']);
    } finally {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  it('finding 3: an upstream response with both Content-Length and Transfer-Encoding is a 502, never pooled', async () => {
    const injected = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected';
    const chunk = `${injected.length.toString(16)}\r\n${injected}\r\n0\r\n\r\n`;
    const upstream = await rawUpstream(
      `HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`,
    );
    try {
      await setGroup('split.local', `server ${addr(upstream.port)} max_fails=0;`);
      const answer = await exchange('GET / HTTP/1.1\r\nHost: split.local\r\nConnection: close\r\n\r\n');
      assert.equal(statusOf(answer), 502, `the proxy answered ${JSON.stringify(answer.toString('latin1'))}`);
      assert.ok(!answer.toString('latin1').includes('injected'));
      const closed = await settle(
        () => upstream.closed,
        (n) => n >= upstream.sockets.length && n > 0,
        LIMIT,
      );
      assert.ok(closed.ok, `upstream connections: ${upstream.sockets.length} opened, ${closed.value} closed`);
    } finally {
      await upstream.close();
    }
  });

  it('finding 5: a 101 answer to a request that asked for no upgrade is a 502, never pooled', async () => {
    const upstream = await rawUpstream(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: evil\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!',
    );
    try {
      await setGroup('upgrade.local', `server ${addr(upstream.port)} max_fails=0;`);
      const answer = await exchange('GET / HTTP/1.1\r\nHost: upgrade.local\r\nConnection: close\r\n\r\n');
      assert.equal(statusOf(answer), 502, `the proxy answered ${JSON.stringify(answer.toString('latin1'))}`);
      const closed = await settle(
        () => upstream.closed,
        (n) => n >= upstream.sockets.length && n > 0,
        LIMIT,
      );
      assert.ok(closed.ok, `upstream connections: ${upstream.sockets.length} opened, ${closed.value} closed`);
    } finally {
      await upstream.close();
    }
  });

  for (const [what, head] of [
    ['status 000', 'HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok'],
    ['a CR inside a header value', 'HTTP/1.1 200 OK\r\nX-Evil: a\rb\r\nContent-Length: 2\r\n\r\nok'],
    ['a NUL inside a header value', 'HTTP/1.1 200 OK\r\nX-Evil: a\0b\r\nContent-Length: 2\r\n\r\nok'],
  ] as const) {
    it(`finding 7: a response head with ${what} is a 502`, async () => {
      const upstream = await rawUpstream(head);
      try {
        const group = `head-fault-${what.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.local`;
        await setGroup(group, `server ${addr(upstream.port)} max_fails=0;`);
        const answer = await exchange(`GET / HTTP/1.1\r\nHost: ${group}\r\nConnection: close\r\n\r\n`);
        assert.equal(statusOf(answer), 502, `the proxy answered ${JSON.stringify(answer.toString('latin1'))}`);
      } finally {
        await upstream.close();
      }
    });
  }

  it('finding 7: header bytes >= 0x80 pass through unchanged both ways', async () => {
    const responseValue = Buffer.concat([
      Buffer.from('attachment; filename="'),
      Buffer.from('€', 'utf8'),
      Buffer.from([0xe9]),
      Buffer.from('.txt"'),
    ]);
    const requestValue = Buffer.concat([
      Buffer.from('caf'),
      Buffer.from([0xc3, 0xa9]),
      Buffer.from(' '),
      Buffer.from([0xe9]),
    ]);
    const reply = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nContent-Disposition: '),
      responseValue,
      Buffer.from('\r\nContent-Length: 2\r\n\r\nok'),
    ]);
    const received: Buffer[] = [];
    const upstream = await startTcpServer((socket: Socket) => {
      let head = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        head = Buffer.concat([head, d]);
        if (head.includes('\r\n\r\n')) {
          received.push(head);
          head = Buffer.alloc(0);
          socket.write(reply);
        }
      });
    });
    try {
      await setGroup('bytes.local', `server ${addr(upstream.port)} max_fails=0;`);
      const request = Buffer.concat([
        Buffer.from('GET / HTTP/1.1\r\nHost: bytes.local\r\nX-Name: '),
        requestValue,
        Buffer.from('\r\nConnection: close\r\n\r\n'),
      ]);
      const answer = await exchange(request);
      assert.equal(statusOf(answer), 200, `the proxy answered ${JSON.stringify(answer.toString('latin1'))}`);
      assert.ok(
        answer.includes(
          Buffer.concat([Buffer.from('\r\ncontent-disposition: '), responseValue, Buffer.from('\r\n')]),
        ) ||
          answer.includes(
            Buffer.concat([Buffer.from('\r\nContent-Disposition: '), responseValue, Buffer.from('\r\n')]),
          ),
        `the client got ${JSON.stringify(answer.toString('latin1'))}`,
      );
      assert.equal(received.length, 1);
      assert.ok(
        received[0]!.includes(Buffer.concat([Buffer.from('\r\nx-name: '), requestValue, Buffer.from('\r\n')])),
        `the upstream got ${JSON.stringify(received[0]!.toString('latin1'))}`,
      );
    } finally {
      await upstream.close();
    }
  });

  for (const [what, fault] of [
    ['a chunk size that overflows', 'ffffffffffffffff1\r\nhello\r\n0\r\n\r\n'],
    ['a chunk extension past the cap', `5;ext=${'x'.repeat(10 * 1024)}\r\nhello\r\n0\r\n\r\n`],
    ['chunk data not followed by CRLF', '5\r\nhelloXX0\r\n\r\n'],
  ] as const) {
    it(`finding 7: ${what} after the head went out cuts the client without the last chunk, never pooled`, async () => {
      let upstreamSocket: Socket | null = null;
      const upstream = await startTcpServer((socket: Socket) => {
        upstreamSocket = socket;
        let head = '';
        socket.on('data', (d: Buffer) => {
          head += d.toString('latin1');
          if (head.includes('\r\n\r\n'))
            socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst!\r\n');
        });
      });
      try {
        const group = `body-fault-${what.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.local`;
        await setGroup(group, `server ${addr(upstream.port)} max_fails=0;`);
        const answer = await new Promise<string>((resolve, reject) => {
          const client = netConnect(proxyPort, '127.0.0.1');
          let text = '';
          let faultSent = false;
          const timer = setTimeout(() => {
            client.destroy();
            reject(new Error(`the proxy never closed the connection; it sent ${JSON.stringify(text)}`));
          }, LIMIT);
          client.on('error', () => {});
          client.on('data', (d: Buffer) => {
            text += d.toString('latin1');
            if (!faultSent && text.includes('first!')) {
              faultSent = true;
              upstreamSocket?.write(fault);
            }
          });
          client.on('close', () => {
            clearTimeout(timer);
            resolve(text);
          });
          client.write(`GET / HTTP/1.1\r\nHost: ${group}\r\n\r\n`);
        });
        assert.equal(statusOf(Buffer.from(answer, 'latin1')), 200);
        assert.ok(answer.includes('first!'), `the client got ${JSON.stringify(answer.slice(0, 300))}`);
        assert.ok(
          !answer.endsWith('0\r\n\r\n'),
          `the body was terminated as if whole: ${JSON.stringify(answer.slice(0, 300))}`,
        );
        assert.ok(
          !answer.includes('hello'),
          `data after the fault was passed on: ${JSON.stringify(answer.slice(0, 300))}`,
        );
        const closed = await settle(
          () => upstream.closed,
          (n) => n >= upstream.sockets.length && n > 0,
          LIMIT,
        );
        assert.ok(closed.ok, `upstream connections: ${upstream.sockets.length} opened, ${closed.value} closed`);
      } finally {
        await upstream.close();
      }
    });
  }

  for (const [what, fault] of [
    ['a chunk size that overflows', 'ffffffffffffffff1\r\nhello\r\n0\r\n\r\n'],
    ['a chunk extension past the cap', `5;ext=${'x'.repeat(10 * 1024)}\r\nhello\r\n0\r\n\r\n`],
    ['chunk data not followed by CRLF', '5\r\nhelloXX0\r\n\r\n'],
  ] as const) {
    it(`finding 7: ${what} arriving with the head gets a 502, or a cut without the last chunk`, async () => {
      const upstream = await rawUpstream(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${fault}`);
      try {
        const group = `early-fault-${what.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.local`;
        await setGroup(group, `server ${addr(upstream.port)} max_fails=0;`);
        const answer = (await exchange(`GET / HTTP/1.1\r\nHost: ${group}\r\nConnection: close\r\n\r\n`)).toString(
          'latin1',
        );
        const status = statusOf(Buffer.from(answer, 'latin1'));
        if (status !== 502) {
          assert.equal(status, 200, `the proxy answered ${JSON.stringify(answer.slice(0, 300))}`);
          assert.ok(
            !answer.endsWith('0\r\n\r\n') && !answer.includes('hello'),
            `the client got ${JSON.stringify(answer.slice(0, 300))}`,
          );
        }
        const closed = await settle(
          () => upstream.closed,
          (n) => n >= upstream.sockets.length && n > 0,
          LIMIT,
        );
        assert.ok(closed.ok, `upstream connections: ${upstream.sockets.length} opened, ${closed.value} closed`);
      } finally {
        await upstream.close();
      }
    });
  }

  it('finding 12: an upstream sending interim 1xx responses without end gets a 502, never pooled', async () => {
    let sent = 0;
    const upstream = await startTcpServer((socket: Socket) => {
      socket.once('data', () => {
        const flood = (): void => {
          // stops once the proxy closes; 1,000 is far past any cap and still bounded if it never does
          while (!socket.destroyed && sent < 1_000) {
            sent++;
            if (!socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n')) {
              socket.once('drain', flood);
              return;
            }
          }
          if (!socket.destroyed) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        };
        flood();
      });
    });
    try {
      await setGroup('interim.local', `server ${addr(upstream.port)} max_fails=0;`);
      const answer = await exchange('GET / HTTP/1.1\r\nHost: interim.local\r\nConnection: close\r\n\r\n');
      assert.equal(
        statusOf(answer),
        502,
        `the proxy answered ${JSON.stringify(answer.toString('latin1').slice(0, 300))}`,
      );
      const closed = await settle(
        () => upstream.closed,
        (n) => n >= upstream.sockets.length && n > 0,
        LIMIT,
      );
      assert.ok(closed.ok, `upstream connections: ${upstream.sockets.length} opened, ${closed.value} closed`);
    } finally {
      await upstream.close();
    }
  });

  it('finding 12: a trailing dot in Host names the same group', async () => {
    const { port, executed, close } = await recordingUpstream();
    try {
      await setGroup('dot.local', `server ${addr(port)} max_fails=0;`);
      assert.equal(statusOf(await exchange('GET /dot HTTP/1.1\r\nHost: dot.local.\r\nConnection: close\r\n\r\n')), 200);
      assert.deepEqual(executed, ['GET /dot']);
    } finally {
      await close();
    }
  });

  it('finding 12: two Host headers are a 400, passed on nowhere', async () => {
    const { port, executed, close } = await recordingUpstream();
    try {
      await setGroup('two-hosts.local', `server ${addr(port)} max_fails=0;`);
      assert.equal(
        statusOf(
          await exchange(
            'GET /two HTTP/1.1\r\nHost: two-hosts.local\r\nHost: other.example\r\nConnection: close\r\n\r\n',
          ),
        ),
        400,
      );
      assert.deepEqual(executed, []);
    } finally {
      await close();
    }
  });

  it('finding 12: an absolute-form target is routed by its authority and forwarded in origin-form', async () => {
    const { port, executed, close } = await recordingUpstream();
    try {
      await setGroup('absolute.local', `server ${addr(port)} max_fails=0;`);
      const answer = await exchange(
        'GET http://absolute.local/path?q=1 HTTP/1.1\r\nHost: no-such-group.local\r\nConnection: close\r\n\r\n',
      );
      assert.equal(
        statusOf(answer),
        200,
        `the proxy answered ${JSON.stringify(answer.toString('latin1').slice(0, 300))}`,
      );
      assert.deepEqual(executed, ['GET /path?q=1']);
    } finally {
      await close();
    }
  });
});
