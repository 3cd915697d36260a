// Over 300 lines: every behaviour of the front's connections, each over raw sockets against one server.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Scheduler, self, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { FrontServer } from '../../src/dyups/front/index.js';
import type { FrontExchange } from '../../src/dyups/front/index.js';
import { frontOptions } from '../helpers/front-options.js';

/**
 * The dyups front's connections over raw sockets: keep-alive, pipelining in order, HTTP/1.0, HEAD,
 * 100-continue, refused heads and bodies, timeouts, client aborts, request bodies read or drained.
 * Asserts bytes on the wire; waits bound failures only.
 */

const LIMIT = 10_000;

let server: FrontServer;
let port = 0;
let inFlight = 0;
/** /hang handlers that have started */
let hangsStarted = 0;
let maxInFlight = 0;
const cancelled: string[] = [];

/** The test server's routes, by path. */
function* handler(ctx: FrontExchange): Operation<unknown> {
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  try {
    const path = ctx.url;
    if (path.startsWith('/delay/')) {
      yield* sleep(Number(path.slice(7)));
      return `${ctx.method} ${path}`;
    }
    if (path === '/body') {
      const body = ctx.body;
      if (body === null) return 'no body';
      const pieces: Buffer[] = [];
      for (;;) {
        const piece = yield* body.read();
        if (piece === null) break;
        pieces.push(piece);
      }
      return `${body.length ?? 'chunked'}:${Buffer.concat(pieces).toString('latin1')}`;
    }
    if (path === '/stream') {
      ctx.header('x-streamed', 'yes');
      yield* ctx.write(Buffer.from('one,'));
      yield* sleep(5);
      yield* ctx.write(Buffer.from('two'));
      return undefined;
    }
    if (path === '/hang') {
      const me = yield* self();
      hangsStarted++;
      try {
        yield* sleep(60_000);
      } finally {
        if (me.cancelling) cancelled.push(me.reason?.kind ?? 'unknown');
      }
      return 'woke';
    }
    if (path === '/fail-mid-stream') {
      yield* ctx.write(Buffer.from('partial'));
      throw new Error('broke after the head');
    }
    return `${ctx.method} ${path} ${ctx.headers.host ?? '-'}`;
  } finally {
    inFlight--;
  }
}

interface Talk {
  text: string;
  closed: boolean;
}

/**
 * Writes `request` (a string, or several written `gapMs` apart) on a new connection; resolves once
 * `done(text)` holds (the connection left open) or the server closed it.
 */
function talk(
  request: string | string[],
  done: (text: string) => boolean = () => false,
  options: { gapMs?: number; socket?: (s: Socket) => void } = {},
): Promise<Talk> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!closed) socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${LIMIT} ms; got ${JSON.stringify(text)}`));
    }, LIMIT);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) finish(false);
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    options.socket?.(socket);
    void (async () => {
      for (const piece of Array.isArray(request) ? request : [request]) {
        if (socket.destroyed) return;
        socket.write(piece);
        if (options.gapMs !== undefined) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    })();
  });
}

/** The bodies of the Content-Length responses in `text`, in order. */
function bodies(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) return out;
    const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(at, end));
    const size = length === null ? 0 : Number(length[1]);
    out.push(text.slice(end + 4, end + 4 + size));
    at = end + 4 + size;
  }
}

const count = (text: string, what: string): number => text.split(what).length - 1;

describe('dyups front: connections', () => {
  before(async () => {
    server = new FrontServer(frontOptions('front-test', handler, { headerTimeout: 400 }));
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server.closeAllConnections();
    await server.close();
  });

  it('keeps an HTTP/1.1 connection alive across requests, with Date and Connection: keep-alive', async () => {
    const answer = await talk(
      ['GET /a HTTP/1.1\r\nHost: h\r\n\r\n', 'GET /b HTTP/1.1\r\nHost: h\r\n\r\n'],
      (t) => count(t, 'HTTP/1.1 200') === 2 && bodies(t).length === 2,
      { gapMs: 20 },
    );
    assert.equal(answer.closed, false);
    assert.deepEqual(bodies(answer.text), ['GET /a h', 'GET /b h']);
    assert.match(answer.text, /\r\nDate: [A-Z][a-z]{2}, /);
    assert.match(answer.text, /\r\nConnection: keep-alive\r\n/);
    assert.match(answer.text, /\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
  });

  it('answers pipelined requests in order, one at a time', async () => {
    maxInFlight = 0;
    const answer = await talk(
      'GET /delay/40 HTTP/1.1\r\nHost: h\r\n\r\nGET /delay/0 HTTP/1.1\r\nHost: h\r\n\r\nPOST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /last HTTP/1.1\r\nHost: h\r\n\r\n',
      (t) => bodies(t).length === 4 && bodies(t)[3] === 'GET /last h',
    );
    assert.deepEqual(bodies(answer.text), ['GET /delay/40', 'GET /delay/0', '3:abc', 'GET /last h']);
    assert.equal(maxInFlight, 1);
  });

  it('closes an HTTP/1.0 connection after its answer unless it asked for keep-alive; a stream to it ends with the connection', async () => {
    const plain = await talk('GET /x HTTP/1.0\r\n\r\n');
    assert.equal(plain.closed, true);
    assert.match(plain.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(plain.text, /\r\nConnection: close\r\n/);
    const kept = await talk('GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', (t) => bodies(t).length === 1);
    assert.equal(kept.closed, false);
    assert.match(kept.text, /\r\nConnection: keep-alive\r\n/);
    const streamed = await talk('GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    assert.equal(streamed.closed, true);
    assert.doesNotMatch(streamed.text, /transfer-encoding/i);
    assert.ok(streamed.text.endsWith('\r\n\r\none,two'), JSON.stringify(streamed.text));
  });

  it('chunks a streamed answer for HTTP/1.1, and sends a HEAD answer without its body', async () => {
    const streamed = await talk('GET /stream HTTP/1.1\r\nHost: h\r\n\r\n', (t) => t.endsWith('0\r\n\r\n'));
    assert.match(streamed.text, /\r\nTransfer-Encoding: chunked\r\n/);
    assert.match(streamed.text, /\r\nx-streamed: yes\r\n/);
    assert.ok(streamed.text.endsWith('\r\n\r\n4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n'), JSON.stringify(streamed.text));
    const head = await talk('HEAD /stream HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n', (t) =>
      t.includes('GET /after h'),
    );
    const [first, second] = head.text.split('HTTP/1.1 200 OK\r\n').slice(1);
    assert.ok(first!.endsWith('\r\n\r\n'), `the HEAD answer carried a body: ${JSON.stringify(first)}`);
    assert.ok(second!.endsWith('GET /after h'));
  });

  it('sends 100 Continue only when the handler reads the body', async () => {
    let socket: Socket | null = null;
    let sentBody = false;
    const answer = await talk(
      'POST /body HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
      (t) => {
        if (!sentBody && t.includes('HTTP/1.1 100 Continue\r\n\r\n')) {
          sentBody = true;
          socket!.write('hello');
        }
        return t.includes('5:hello');
      },
      { socket: (s) => (socket = s) },
    );
    assert.ok(answer.text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'), JSON.stringify(answer.text));
    // not read: no 100, and the connection closes after the answer (the body will never come)
    const unread = await talk('POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    assert.equal(unread.closed, true);
    assert.ok(unread.text.startsWith('HTTP/1.1 200 OK\r\n'), JSON.stringify(unread.text));
  });

  it('passes a chunked request body on whole, and refuses a malformed one with 400 and a close', async () => {
    const good = await talk(
      'POST /body HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n',
      (t) => t.includes('GET /next h'),
    );
    assert.deepEqual(bodies(good.text), ['chunked:abcde', 'GET /next h']);
    const bad = await talk(
      'POST /body HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n',
    );
    assert.equal(bad.closed, true);
    assert.match(bad.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(bad.text, /\r\nConnection: close\r\n/);
    assert.doesNotMatch(bad.text, /smuggled/);
  });

  it('refuses ambiguous framing, an oversized head and too many headers, then closes', async () => {
    for (const [request, status] of [
      [
        'POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        400,
      ],
      [`GET /x HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`, 431],
      [`GET /x HTTP/1.1\r\nHost: h\r\n${'X-A: 1\r\n'.repeat(101)}\r\n`, 431],
      ['GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ] as const) {
      const answer = await talk(request);
      assert.equal(answer.closed, true);
      assert.ok(answer.text.startsWith(`HTTP/1.1 ${status} `), JSON.stringify(answer.text.slice(0, 200)));
      assert.match(answer.text, /\r\nConnection: close\r\n/);
    }
  });

  it('answers 408 to a head that does not arrive within the header timeout, and 408 to a stalled body', async () => {
    const slowHead = await talk(['GET /x HTTP/1.1\r\n', 'Host: h\r\n'], () => false, { gapMs: 50 });
    assert.equal(slowHead.closed, true);
    assert.ok(slowHead.text.startsWith('HTTP/1.1 408 Request Timeout\r\n'), JSON.stringify(slowHead.text));
    const stalled = await talk('POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc');
    assert.equal(stalled.closed, true);
    assert.ok(stalled.text.startsWith('HTTP/1.1 408 Request Timeout\r\n'), JSON.stringify(stalled.text));
    assert.match(stalled.text, /\r\nConnection: close\r\n/);
  });

  it('answers 413 to a body over the limit and closes', async () => {
    const answer = await talk(
      `POST /body HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${`200\r\n${'x'.repeat(512)}\r\n`.repeat(3)}0\r\n\r\n`,
    );
    assert.equal(answer.closed, true);
    assert.ok(answer.text.startsWith('HTTP/1.1 413 '), JSON.stringify(answer.text.slice(0, 100)));
  });

  it('drains a body the handler did not read, then serves the next request on the connection', async () => {
    const answer = await talk(
      ['POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc', 'defghijGET /y HTTP/1.1\r\nHost: h\r\n\r\n'],
      (t) => bodies(t).length === 2,
      { gapMs: 30 },
    );
    assert.deepEqual(bodies(answer.text), ['POST /x h', 'GET /y h']);
    assert.equal(answer.closed, false);
  });

  it('cancels the handler when the client goes away mid-request', async () => {
    cancelled.length = 0;
    const before = hangsStarted;
    // gone once its handler runs (a fixed delay could end it first on a busy machine: then nothing is cancelled)
    const goneWhenStarted = (s: Socket): void => {
      const poll = setInterval(() => {
        if (hangsStarted === before) return;
        clearInterval(poll);
        s.destroy();
      }, 5);
    };
    await talk('GET /hang HTTP/1.1\r\nHost: h\r\n\r\n', () => false, { socket: goneWhenStarted }).catch(
      () => undefined,
    );
    for (let i = 0; i < 500 && cancelled.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(cancelled, ['client-abort']);
  });

  it('cuts a response whose handler fails after the head went out (no last chunk)', async () => {
    const answer = await talk('GET /fail-mid-stream HTTP/1.1\r\nHost: h\r\n\r\n');
    assert.equal(answer.closed, true);
    assert.ok(answer.text.includes('partial'), JSON.stringify(answer.text));
    assert.ok(!answer.text.endsWith('0\r\n\r\n'), JSON.stringify(answer.text));
  });

  it('answers 503 with Retry-After when the scheduler has no room, and closes an idle kept-alive connection', async () => {
    const tight = new FrontServer(
      frontOptions('front-tight', handler, {
        scheduler: new Scheduler({ name: 'front-tight', concurrency: 1, backlog: 0 }),
        headerTimeout: 5_000,
        keepAliveTimeout: 200,
        bodyTimeout: 5_000,
        retryAfter: 7,
      }),
    );
    await tight.listen({ host: '127.0.0.1', port: 0 });
    const tightPort = (tight.address() as { port: number }).port;
    const holder = connect(tightPort, '127.0.0.1', () => holder.write('GET /hang HTTP/1.1\r\nHost: h\r\n\r\n'));
    holder.on('error', () => {});
    try {
      for (let i = 0; i < 100 && inFlight === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const saved = port;
      port = tightPort;
      try {
        const refused = await talk('GET /x HTTP/1.1\r\nHost: h\r\n\r\n', (t) => bodies(t).length === 1);
        assert.ok(refused.text.startsWith('HTTP/1.1 503 Service Unavailable\r\n'), JSON.stringify(refused.text));
        assert.match(refused.text, /\r\nretry-after: 7\r\n/);
        holder.destroy();
        for (let i = 0; i < 100 && inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
        // served, then left idle past the keep-alive timeout: closed without another answer
        const idle = await talk('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
        assert.equal(idle.closed, true);
        assert.deepEqual(bodies(idle.text), ['GET /x h']);
      } finally {
        port = saved;
      }
    } finally {
      holder.destroy();
      tight.closeAllConnections();
      await tight.close();
    }
  });

  it('closes idle connections on close() and finishes the request in flight with Connection: close', async () => {
    const other = new FrontServer(frontOptions('front-close', handler, { headerTimeout: 5_000, bodyTimeout: 5_000 }));
    await other.listen({ host: '127.0.0.1', port: 0 });
    const otherPort = (other.address() as { port: number }).port;
    const open = (request: string): Promise<Talk> =>
      new Promise((resolve) => {
        const socket = connect(otherPort, '127.0.0.1', () => socket.write(request));
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('error', () => {});
        socket.on('close', () => resolve({ text, closed: true }));
      });
    const idle = open('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    const busy = open('GET /delay/200 HTTP/1.1\r\nHost: h\r\n\r\n');
    await new Promise((r) => setTimeout(r, 80));
    await other.close();
    const [idleAnswer, busyAnswer] = await Promise.all([idle, busy]);
    assert.deepEqual(bodies(idleAnswer.text), ['GET /x h']);
    assert.deepEqual(bodies(busyAnswer.text), ['GET /delay/200']);
    assert.match(busyAnswer.text, /\r\nConnection: close\r\n/);
  });
});
