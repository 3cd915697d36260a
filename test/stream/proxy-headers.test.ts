import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, co, cosocketPlugin, pools, proxyPass } from '../../src/index.js';
import type { HandlerContext, Operation } from '../../src/index.js';
import { startTcpServer } from '../helpers/tcp-server.js';
import type { TestServer } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'proxy-header-tests' });
const REPLY =
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Resp-Hop\r\nX-Resp-Hop: 1\r\n' +
  'X-Accel-Buffering: no\r\nSet-Cookie: a=1\r\nProxy-Authenticate: Basic\r\nset-cookie: b=2\r\nX-Kept: yes\r\n\r\nok';

/** Sends `request` on a fresh connection; resolves with everything the server sent until it closed. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(parts).toString('latin1')));
  });
}

describe('proxyPass: the headers each way', () => {
  let upstream: TestServer;
  let app: FastifyInstance;
  let port = 0;
  const heads: string[] = [];

  before(async () => {
    upstream = await startTcpServer((socket: Socket) => {
      let head = '';
      socket.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        heads.push(head);
        head = '';
        socket.write(REPLY);
      });
    });
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler });
    app.get(
      '/*',
      co(function* (ctx: HandlerContext): Operation<void> {
        yield* proxyPass(ctx, '127.0.0.1', upstream.port, { pool: 'proxy-headers' });
      }),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });

  after(async () => {
    await app.close();
    await pools.drain();
    await upstream.close();
  });

  it('drops hop-by-hop, Connection-named and X-Accel-* headers both ways, sets X-Forwarded-* in place', async () => {
    const answer = await exchange(
      port,
      'GET /p?q=1 HTTP/1.1\r\nHost: front.example\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n' +
        'TE: trailers\r\nX-Accel-Redirect: /x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n' +
        'X-Kept: yes\r\nProxy-Authorization: x\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n',
    );
    assert.equal(
      heads[0],
      'GET /p?q=1 HTTP/1.1\r\nx-forwarded-for: 10.0.0.1, 127.0.0.1\r\nx-forwarded-proto: http\r\nx-kept: yes\r\n' +
        `Host: 127.0.0.1:${upstream.port}\r\nUser-Agent: cosocket\r\n\r\n`,
    );
    const head = answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase();
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(answer.endsWith('\r\n\r\nok'), answer);
    for (const line of ['set-cookie: a=1', 'set-cookie: b=2', 'x-kept: yes'])
      assert.ok(head.includes(`\r\n${line}\r\n`), `${line} missing from ${JSON.stringify(head)}`);
    for (const name of ['x-resp-hop', 'x-accel-buffering', 'proxy-authenticate'])
      assert.ok(!head.includes(`\r\n${name}:`), `${name} passed on: ${JSON.stringify(head)}`);
  });

  it('adds X-Forwarded-For and X-Forwarded-Proto at the end when the client sent none', async () => {
    await exchange(port, 'GET / HTTP/1.1\r\nHost: front.example\r\nUser-Agent: probe/1\r\nConnection: close\r\n\r\n');
    assert.equal(
      heads.at(-1),
      'GET / HTTP/1.1\r\nuser-agent: probe/1\r\nx-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\n' +
        `Host: 127.0.0.1:${upstream.port}\r\n\r\n`,
    );
  });
});
