import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import type { HandlerContext, RouteStats } from '../../src/fastify/plugin.js';

let app: FastifyInstance;
let base = '';
let port = 0;
const scheduler = new Scheduler({ name: 'route-stats' });
const quietLog = {
  level: 'silent',
  info() {},
  warn() {},
  error() {},
  fatal() {},
  debug() {},
  trace() {},
  silent() {},
  child: () => quietLog,
};

function statsOf(route: string): Omit<RouteStats, 'route'> {
  const found = app.cosocket.routeStats().find((r) => r.route === route);
  if (found === undefined) return { requests: 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 };
  const { route: _route, ...counts } = found;
  return counts;
}

/** Sends a request, reads a little of the answer, then closes the connection while the response is still open. */
function abortAfterHead(path: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    socket.once('data', () => socket.destroy());
    socket.on('close', () => resolve());
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), what);
}

describe('per-route stats', () => {
  before(async () => {
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler, log: quietLog as never });
    app.get(
      '/constant',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.print('hello');
      }),
    );
    app.get(
      '/later',
      co(function* (ctx: HandlerContext): Operation<void> {
        yield* sleep(1);
        ctx.status = 302;
        ctx.header('location', '/constant');
      }),
    );
    app.get(
      '/streamed',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.print('head and a first chunk');
        yield* ctx.flush(true);
        ctx.print('the rest');
      }),
    );
    app.get(
      '/forever',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.print('first');
        yield* ctx.flush(true);
        yield* sleep(60_000);
      }),
    );
    app.get(
      '/fails',
      co(function* (): Operation<void> {
        throw new Error('handler broke');
      }),
    );
    app.get(
      '/guarded',
      { onRequest: (_request, reply, _done) => void reply.code(401).send('no') },
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.print('never');
      }),
    );
    app.get('/plain', async () => 'not a coroutine');
    app.get('/plain-stream', async (_request, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/plain' });
      reply.raw.end('hijacked');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
    base = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    await app.close();
  });

  it('counts coroutine responses once each, by status class, buffered or streamed', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await (await fetch(`${base}/constant`)).text(), 'hello');
    const later = await fetch(`${base}/later`, { redirect: 'manual' });
    await later.arrayBuffer();
    assert.equal(later.status, 302);
    assert.equal(await (await fetch(`${base}/streamed`)).text(), 'head and a first chunkthe rest');
    const failed = await fetch(`${base}/fails`);
    await failed.arrayBuffer();
    assert.equal(failed.status, 500);
    await until(
      () => statsOf('GET /streamed').requests === 1 && statsOf('GET /fails')['5xx'] === 1,
      'the stats caught up',
    );
    assert.deepEqual(statsOf('GET /constant'), { requests: 3, '2xx': 3, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 });
    assert.deepEqual(statsOf('GET /later'), { requests: 1, '2xx': 0, '3xx': 1, '4xx': 0, '5xx': 0, aborted: 0 });
    assert.deepEqual(statsOf('GET /streamed'), { requests: 1, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 });
    assert.deepEqual(statsOf('GET /fails'), { requests: 1, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 1, aborted: 0 });
  });

  it('counts requests answered before the coroutine ran, other routes, and unknown paths', async () => {
    const guarded = await fetch(`${base}/guarded`);
    assert.equal(guarded.status, 401);
    await guarded.arrayBuffer();
    assert.equal(await (await fetch(`${base}/plain`)).text(), 'not a coroutine');
    assert.equal(await (await fetch(`${base}/plain-stream`)).text(), 'hijacked');
    const missing = await fetch(`${base}/nowhere`);
    await missing.arrayBuffer();
    assert.equal(missing.status, 404);
    await until(
      () => statsOf('GET (no route)')['4xx'] === 1 && statsOf('GET /plain-stream')['2xx'] === 1,
      'the stats caught up',
    );
    assert.deepEqual(statsOf('GET /guarded'), { requests: 1, '2xx': 0, '3xx': 0, '4xx': 1, '5xx': 0, aborted: 0 });
    assert.deepEqual(statsOf('GET /plain'), { requests: 1, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 });
    assert.deepEqual(statsOf('GET /plain-stream'), { requests: 1, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 });
    assert.deepEqual(statsOf('GET (no route)'), { requests: 1, '2xx': 0, '3xx': 0, '4xx': 1, '5xx': 0, aborted: 0 });
  });

  it('counts a client that left before its response was complete as aborted, not by status', async () => {
    await abortAfterHead('/forever');
    await until(() => statsOf('GET /forever').aborted === 1, 'the abort was counted');
    assert.deepEqual(statsOf('GET /forever'), { requests: 1, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 1 });
  });
});
