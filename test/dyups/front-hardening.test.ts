// Over 300 lines: one raw-socket regression test per defect found attacking the front, with its servers.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { FrontServer } from '../../src/dyups/front/index.js';
import type { FrontExchange, FrontOptions } from '../../src/dyups/front/index.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { startTcpServer } from '../helpers/tcp-server.js';
import type { TestServer } from '../helpers/tcp-server.js';
import { frontOptions } from '../helpers/front-options.js';

/**
 * The dyups front under attack, over raw sockets: a client that never reads its answers, timeouts of 0,
 * a Transfer-Encoding padded with a non-breaking space, a `Constructor` header, absolute-form targets
 * with userinfo or an upper-case scheme, a 100 Continue after the response head, a failure mid-way
 * through an HTTP/1.0 answer without a length, a repeated Content-Length, a hash key from a target no
 * URL can hold. Waits bound failures only.
 */

const LIMIT = 10_000;
const BIG = 'x'.repeat(1024 * 1024);

let bigCalls = 0;

function* handler(ctx: FrontExchange): Operation<unknown> {
  const path = ctx.url;
  if (path === '/big') {
    bigCalls++;
    return BIG;
  }
  if (path === '/constructor') return `[${String(ctx.headers.constructor)}]`;
  if (path === '/head-then-body') {
    yield* ctx.write(Buffer.from('head is out;'));
    const body = ctx.body!;
    while ((yield* body.read()) !== null);
    return undefined;
  }
  if (path === '/fail-mid-stream') {
    yield* ctx.write(Buffer.from('partial'));
    yield* sleep(50); // the client has read 'partial' (a reset that comes with the data may read as an end in node)
    throw new Error('broke after the head');
  }
  if (path === '/repeated-length') {
    ctx.header('content-length', ['5', '5']);
    yield* ctx.write(Buffer.from('hello'));
    return undefined;
  }
  if (path === '/body') {
    const pieces: Buffer[] = [];
    for (let piece = yield* ctx.body!.read(); piece !== null; piece = yield* ctx.body!.read()) pieces.push(piece);
    return Buffer.concat(pieces).toString('latin1');
  }
  return `${ctx.method} ${ctx.url}`;
}

function options(name: string, overrides: Partial<FrontOptions> = {}): FrontOptions {
  return frontOptions(name, handler, overrides);
}

interface Talk {
  text: string;
  closed: boolean;
  error: string | null;
}

/** Writes `request` on a new connection to `port`; resolves once `done(text)` holds or the connection closed. */
function talk(
  port: number,
  request: string,
  done: (text: string) => boolean = () => false,
  onSocket?: (s: Socket) => void,
): Promise<Talk> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.from(request, 'latin1')));
    let text = '';
    let error: string | null = null;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!closed) socket.destroy();
      resolve({ text, closed, error });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${LIMIT} ms; got ${JSON.stringify(text.slice(0, 300))}`));
    }, LIMIT);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) finish(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => finish(true));
    onSocket?.(socket);
  });
}

const count = (text: string, what: string): number => text.split(what).length - 1;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('dyups front: hardening', () => {
  let server: FrontServer;
  let port = 0;

  before(async () => {
    server = new FrontServer(options('front-hardening'));
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server.closeAllConnections();
    await server.close();
  });

  it('reads no next request while the client has not taken the last answer (memory stays bounded)', async () => {
    const requests = 40;
    bigCalls = 0;
    const client = connect(port, '127.0.0.1');
    client.pause(); // reads nothing for now
    client.write('GET /big HTTP/1.1\r\nHost: h\r\n\r\n'.repeat(requests));
    // 40 MB of answers: without the wait for 'drain', every one would be made and queued at once
    for (let i = 0; i < 50 && bigCalls < requests; i++) await pause(20);
    assert.ok(bigCalls < requests, `${bigCalls} answers made for a client that read none`);
    // once the client reads, every answer comes, in order
    const mark = 'HTTP/1.1 200 OK\r\n';
    const answers = await new Promise<number>((resolve, reject) => {
      let seen = 0;
      let tail = '';
      const timer = setTimeout(() => reject(new Error(`${seen} answers within ${LIMIT} ms`)), LIMIT);
      client.on('data', (d: Buffer) => {
        const text = tail + d.toString('latin1');
        seen += count(text, mark);
        tail = text.slice(-(mark.length - 1));
        if (seen === requests && text.endsWith('xxxx')) {
          clearTimeout(timer);
          resolve(seen);
        }
      });
      client.resume();
    }).finally(() => client.destroy());
    assert.equal(answers, requests);
    assert.equal(bigCalls, requests);
  });

  it('treats a header or body timeout of 0 as none instead of throwing on a connection', async () => {
    const untimed = new FrontServer(options('front-untimed', { headerTimeout: 0, bodyTimeout: 0 }));
    await untimed.listen({ host: '127.0.0.1', port: 0 });
    try {
      const untimedPort = (untimed.address() as { port: number }).port;
      const answer = await talk(untimedPort, 'POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello', (t) =>
        t.endsWith('\r\n\r\nhello'),
      );
      assert.match(answer.text, /^HTTP\/1\.1 200 OK\r\n/);
    } finally {
      untimed.closeAllConnections();
      await untimed.close();
    }
  });

  it('refuses Transfer-Encoding: chunked padded with a non-breaking space (no coding but chunked is read)', async () => {
    const answer = await talk(
      port,
      'POST /body HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\xa0\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    assert.equal(answer.closed, true);
    assert.ok(answer.text.startsWith('HTTP/1.1 400 Bad Request\r\n'), JSON.stringify(answer.text));
  });

  it('keeps a header named Constructor as sent (not joined to what plain objects inherit)', async () => {
    const answer = await talk(port, 'GET /constructor HTTP/1.1\r\nHost: h\r\nConstructor: x\r\n\r\n', (t) =>
      t.endsWith(']'),
    );
    assert.ok(answer.text.endsWith('\r\n\r\n[x]'), JSON.stringify(answer.text));
  });

  it('refuses absolute-form targets with userinfo, a backslash, a bad port or no host with 400', async () => {
    for (const target of [
      'http://user:pass@h/x',
      'http://h@other/x',
      'http://h\\@other/x',
      'http:///x',
      'http://h:8o/x',
      'http://h%2f/x',
      'https://[::1/x',
    ]) {
      const answer = await talk(port, `GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`);
      assert.equal(answer.closed, true, target);
      assert.ok(answer.text.startsWith('HTTP/1.1 400 Bad Request\r\n'), `${target}: ${JSON.stringify(answer.text)}`);
    }
    for (const target of ['HTTP://H.Example:80/x?y', 'http://h', 'https://[::1]:8443/', 'http://a_b.c-d?q']) {
      const answer = await talk(port, `GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, (t) => t.endsWith(target));
      assert.ok(answer.text.startsWith('HTTP/1.1 200 OK\r\n'), `${target}: ${JSON.stringify(answer.text)}`);
    }
  });

  it('sends no 100 Continue once the response head went out (it would land inside the body)', async () => {
    const answer = await talk(
      port,
      'POST /head-then-body HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
    );
    assert.ok(answer.text.startsWith('HTTP/1.1 200 OK\r\n'), JSON.stringify(answer.text));
    assert.ok(!answer.text.includes('100 Continue'), JSON.stringify(answer.text));
    assert.equal(answer.closed, true);
  });

  it('resets an HTTP/1.0 answer without a length whose handler fails mid-body: no clean end', async () => {
    const answer = await talk(port, 'GET /fail-mid-stream HTTP/1.0\r\n\r\n');
    assert.equal(answer.closed, true);
    assert.doesNotMatch(answer.text, /content-length|transfer-encoding/i);
    // a FIN would end the body as if it were whole; only a reset tells the client it was cut
    assert.equal(answer.error, 'ECONNRESET', JSON.stringify(answer.text));
  });

  it('sends one Content-Length for a repeated one, and does not cut the answer that matches it', async () => {
    const answer = await talk(
      port,
      'GET /repeated-length HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n',
      (t) => t.endsWith('GET /after'),
    );
    assert.equal(count(answer.text.toLowerCase(), 'content-length: 5\r\n'), 1, JSON.stringify(answer.text));
    assert.ok(answer.text.includes('\r\n\r\nhelloHTTP/1.1 200 OK\r\n'), JSON.stringify(answer.text));
  });
});

describe('dyups proxy on the front: hardening', () => {
  const table = new UpstreamTable({ stateFile: null });
  const balancers = new Balancers();
  table.onChange((name, group) => balancers.set(group, name));
  let proxy: FrontServer;
  let proxyPort = 0;
  let upstream: TestServer;
  const received: string[] = [];
  let answer = '';

  before(async () => {
    upstream = await startTcpServer((socket: Socket) => {
      socket.on('data', (d: Buffer) => {
        received.push(d.toString('latin1'));
        socket.write(answer);
      });
    });
    table.update('up.local', `server 127.0.0.1:${upstream.port};`);
    proxy = buildProxyServer(table, balancers, {
      scheduler: new Scheduler({ name: 'front-hardening-proxy' }),
      connectTimeout: 1_000,
      readTimeout: 5_000,
      bodyLimit: 64 * 1024,
    });
    await proxy.listen({ host: '127.0.0.1', port: 0 });
    proxyPort = (proxy.address() as { port: number }).port;
  });

  after(async () => {
    proxy.closeAllConnections();
    await proxy.close();
    await pools.drain(500);
    await upstream.close();
  });

  it('routes an absolute-form target with an upper-case scheme by its authority, and sends its path on', async () => {
    received.length = 0;
    answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const got = await talk(proxyPort, 'GET HTTP://UP.local/x?y HTTP/1.1\r\nHost: elsewhere\r\n\r\n', (t) =>
      t.endsWith('\r\n\r\nok'),
    );
    assert.ok(got.text.startsWith('HTTP/1.1 200 OK\r\n'), JSON.stringify(got.text));
    assert.match(received.join(''), /^GET \/x\?y HTTP\/1\.1\r\n/);
  });

  it('balances by $uri a target no URL can hold (//[, a port past 65535) instead of failing with 500', async () => {
    table.update('hash.local', `hash $uri; server 127.0.0.1:${upstream.port};`);
    answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    for (const target of ['//[', 'http://hash.local:99999/x']) {
      const got = await talk(proxyPort, `GET ${target} HTTP/1.1\r\nHost: hash.local\r\n\r\n`, (t) =>
        t.endsWith('\r\n\r\nok'),
      );
      assert.ok(got.text.startsWith('HTTP/1.1 200 OK\r\n'), `${target}: ${JSON.stringify(got.text)}`);
    }
  });

  it('passes one Content-Length on when the upstream repeats it, and keeps the connection', async () => {
    answer = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello';
    const got = await talk(
      proxyPort,
      'GET /a HTTP/1.1\r\nHost: up.local\r\n\r\nGET /b HTTP/1.1\r\nHost: up.local\r\n\r\n',
      (t) => count(t, '\r\n\r\nhello') === 2,
    );
    assert.equal(got.closed, false, JSON.stringify(got.text));
    assert.equal(count(got.text.toLowerCase(), 'content-length: 5\r\n'), 2, JSON.stringify(got.text));
  });
});
