import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools } from '../../src/index.js';
import { Balancers } from '../../src/dyups/balancer.js';
import type { FrontServer } from '../../src/dyups/front/index.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { startTcpServer } from '../helpers/tcp-server.js';
import type { TestServer } from '../helpers/tcp-server.js';

/**
 * The dyups proxy on its front, over raw sockets on both sides: what the upstream receives of a chunked
 * request body, and a client that leaves mid-request taking the upstream request with it.
 */

const LIMIT = 10_000;
const table = new UpstreamTable({ stateFile: null });
const balancers = new Balancers();
table.onChange((name, group) => balancers.set(group, name));
let proxy: FrontServer;
let proxyPort = 0;

/** Sends `request` to the proxy; resolves with what came back once `done(text)` holds or the proxy closed. */
function send(request: string, done: (text: string) => boolean, onSocket?: (s: Socket) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxyPort, '127.0.0.1', () => socket.write(request));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(text)}`));
    }, LIMIT);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) finish();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
    onSocket?.(socket);
  });
}

describe('dyups proxy on the front', () => {
  before(async () => {
    proxy = buildProxyServer(table, balancers, {
      scheduler: new Scheduler({ name: 'front-proxy' }),
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
  });

  it('forwards a chunked request body re-framed: data intact, extensions, trailers and Expect dropped', async () => {
    const received: string[] = [];
    const upstream: TestServer = await startTcpServer((socket: Socket) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (text.endsWith('\r\n0\r\n\r\n')) {
          received.push(text);
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      });
    });
    try {
      table.update('chunks.local', `server 127.0.0.1:${upstream.port};`);
      const answer = await send(
        'POST /up HTTP/1.1\r\nHost: chunks.local\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n3;secret=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: evil\r\n\r\n',
        (t) => t.endsWith('\r\n\r\nok'),
      );
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(received.length, 1);
      const head = received[0]!.slice(0, received[0]!.indexOf('\r\n\r\n'));
      assert.match(head, /^POST \/up HTTP\/1\.1\r\n/);
      assert.match(head, /\r\nTransfer-Encoding: chunked/i);
      assert.doesNotMatch(head, /\r\nexpect:/i, 'Expect was answered here, not passed on');
      const sent = received[0]!.slice(head.length + 4);
      assert.ok(!sent.includes('secret') && !sent.includes('X-Trailer'), JSON.stringify(sent));
      assert.equal(dechunk(sent), 'abcdefg');
    } finally {
      await upstream.close();
    }
  });

  it('passes a chunked response of large chunks on with checked framing: extensions and trailers dropped', async () => {
    const chunk = (fill: string, ext: string): string => `1000${ext}\r\n${fill.repeat(4096)}\r\n`;
    const upstream: TestServer = await startTcpServer((socket: Socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk('a', ''));
        // later pieces take the framed path; one size line carries an extension to strip
        setTimeout(() => socket.write(chunk('b', ';name=value') + chunk('c', '')), 20);
        setTimeout(() => socket.write(chunk('d', '') + '0\r\nX-Trailer: secret\r\n\r\n'), 40);
      });
    });
    try {
      table.update('bigchunks.local', `server 127.0.0.1:${upstream.port};`);
      const answer = await send('GET /big HTTP/1.1\r\nHost: bigchunks.local\r\n\r\n', (t) =>
        t.endsWith('\r\n0\r\n\r\n'),
      );
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      const head = answer.slice(0, answer.indexOf('\r\n\r\n'));
      assert.match(head, /\r\nTransfer-Encoding: chunked/i);
      const body = answer.slice(head.length + 4);
      assert.ok(!body.includes('name=value') && !body.includes('secret'), 'an extension or trailer was passed on');
      assert.equal(dechunk(body), 'a'.repeat(4096) + 'b'.repeat(4096) + 'c'.repeat(4096) + 'd'.repeat(4096));
    } finally {
      await upstream.close();
    }
  });

  it('a client that leaves mid-request takes the upstream request with it (its connection closed)', async () => {
    let upstreamSocket: Socket | null = null;
    let upstreamClosed = false;
    const upstream: TestServer = await startTcpServer((socket: Socket) => {
      upstreamSocket = socket;
      socket.on('close', () => (upstreamClosed = true));
      socket.on('data', () => {}); // never answers
    });
    try {
      table.update('silent.local', `server 127.0.0.1:${upstream.port};`);
      await send(
        'GET /wait HTTP/1.1\r\nHost: silent.local\r\n\r\n',
        () => false,
        (client) => {
          const check = setInterval(() => {
            if (upstreamSocket !== null) {
              clearInterval(check);
              client.destroy();
            }
          }, 10);
        },
      );
      for (let i = 0; i < 200 && !upstreamClosed; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(upstreamClosed, 'the upstream connection stayed open after the client left');
    } finally {
      await upstream.close();
    }
  });
});

function dechunk(body: string): string {
  let data = '';
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    const size = parseInt(body.slice(at, lineEnd), 16);
    assert.ok(Number.isInteger(size), `bad chunk size in ${JSON.stringify(body)}`);
    at = lineEnd + 2;
    if (size === 0) return data;
    data += body.slice(at, at + size);
    assert.equal(body.slice(at + size, at + size + 2), '\r\n');
    at += size + 2;
  }
}
