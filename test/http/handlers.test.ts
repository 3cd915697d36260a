import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { PluginNotRegisteredError, Scheduler, SocketTimeoutError, call, cancelled, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import type { HandlerContext } from '../../src/fastify/plugin.js';

let app: FastifyInstance;
let base = '';
let port = 0;
const events: string[] = [];
const logged: Array<Record<string, unknown>> = [];
const scheduler = new Scheduler({ name: 'handlers', concurrency: 2, backlog: 0 });
/** /flushed prints its second part only once the client has received the first. */
let firstReceived!: () => void;
const clientHasFirst = new Promise<void>((resolve) => (firstReceived = resolve));

/** Sends a raw request and collects what arrives, with the time of each piece. */
function rawRequest(
  path: string,
  untilMs: number,
  onData?: (sofar: string) => void,
): Promise<Array<{ at: number; text: string }>> {
  return new Promise((resolve) => {
    const started = Date.now();
    const pieces: Array<{ at: number; text: string }> = [];
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (d: Buffer) => {
      pieces.push({ at: Date.now() - started, text: d.toString() });
      onData?.(pieces.map((p) => p.text).join(''));
    });
    const timer = setTimeout(() => socket.destroy(), untilMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(pieces);
    });
  });
}

async function readyOf(instance: FastifyInstance): Promise<void> {
  await instance.ready();
}

describe('coroutine handlers on fastify', () => {
  before(async () => {
    app = Fastify({ logger: false });
    const log = {
      level: 'info',
      info: () => {},
      warn: (o: Record<string, unknown>) => logged.push({ level: 'warn', ...o }),
      error: (o: Record<string, unknown>) => logged.push({ level: 'error', ...o }),
      fatal: () => {},
      debug: () => {},
      trace: () => {},
      silent: () => {},
      child: () => log,
    };
    await app.register(cosocketPlugin, { scheduler, log: log as never, retryAfter: 7 });
    app.get(
      '/print',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.status = 201;
        ctx.header('x-made-by', 'coroutine');
        ctx.print('a', 1, ['b', Buffer.from('c')]);
        yield* sleep(1);
        ctx.say(' done');
      }),
    );
    app.get(
      '/value',
      co(function* (): Operation<object> {
        return { json: true };
      }),
    );
    app.get(
      '/buffered',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.print('held back');
        yield* sleep(300);
        ctx.print(' then sent');
      }),
    );
    app.get(
      '/flushed',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.print('first');
        yield* ctx.flush(false);
        yield* call(clientHasFirst);
        ctx.print('second');
        yield* ctx.flush(true);
      }),
    );
    app.get(
      '/slow',
      co(function* slowHandler(): Operation<void> {
        try {
          events.push('slow started');
          yield* sleep(60_000);
        } finally {
          events.push(`slow finally, cancelled=${String(yield* cancelled())}`);
        }
      }),
    );
    app.get(
      '/boom',
      co(function* boomHandler(): Operation<void> {
        yield* sleep(1);
        throw new Error('handler broke');
      }),
    );
    app.get(
      '/upstream-timeout',
      co(function* (): Operation<void> {
        throw new SocketTimeoutError('receive', 'redis', 50);
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    base = `http://127.0.0.1:${port}`;
  });
  after(() => app.close());

  it('buffers print/say and sends it with the status and headers set by the handler', async () => {
    const res = await fetch(`${base}/print`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-made-by'), 'coroutine');
    assert.equal(res.headers.get('content-length'), '10');
    assert.equal(await res.text(), 'a1bc done\n');
  });

  it("sends the handler's return value when it printed nothing", async () => {
    const res = await fetch(`${base}/value`);
    assert.deepEqual(await res.json(), { json: true });
  });

  it('print without flush sends nothing until the handler ends', async () => {
    const pieces = await rawRequest('/buffered', 3_000);
    assert.ok(pieces.length > 0);
    assert.ok(pieces[0]!.at >= 250, `first byte after ${pieces[0]!.at} ms: print went out before the end`);
    assert.match(pieces.map((p) => p.text).join(''), /held back then sent/);
  });

  it('flush sends the head and what is buffered at once, as a chunk', async () => {
    // the handler waits for the client to hold its first chunk: without the flush nothing would ever arrive
    const arrived = rawRequest('/flushed', 30_000, (sofar) => {
      if (/\r\n5\r\nfirst\r\n/.test(sofar)) firstReceived();
    });
    const pieces = await arrived;
    const first = pieces[0]!;
    assert.match(first.text, /transfer-encoding: chunked/i);
    assert.match(first.text, /\r\n5\r\nfirst\r\n/);
    const all = pieces.map((p) => p.text).join('');
    assert.match(all, /6\r\nsecond\r\n0\r\n\r\n$/);
  });

  it('cancels the coroutine when the client goes away', async () => {
    const controller = new AbortController();
    const pending = fetch(`${base}/slow`, { signal: controller.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    assert.equal(await pending, 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(events, ['slow started', 'slow finally, cancelled=true']);
    assert.equal(scheduler.stats().live, 0);
  });

  it('answers 503 with Retry-After, without running the handler, when the budget is exhausted', async () => {
    events.length = 0;
    const controllers = [new AbortController(), new AbortController()];
    const holding = controllers.map((c) => fetch(`${base}/slow`, { signal: c.signal }).catch(() => 'aborted'));
    await new Promise((r) => setTimeout(r, 100));
    const refused = await fetch(`${base}/slow`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '7');
    assert.equal(events.filter((e) => e === 'slow started').length, 2, 'the refused request must not run the handler');
    for (const c of controllers) c.abort();
    await Promise.all(holding);
  });

  it('turns an uncaught error into a 500 logged with its coroutine chain; the server goes on', async () => {
    const res = await fetch(`${base}/boom`);
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /handler broke/, 'internal error text must not leak to clients');
    const entry = logged.find((l) => l.level === 'error');
    assert.ok(entry);
    assert.equal(entry.coroutine, 'boomHandler');
    assert.equal((await fetch(`${base}/print`)).status, 201);
  });

  it('maps upstream failures to gateway statuses', async () => {
    const res = await fetch(`${base}/upstream-timeout`);
    assert.equal(res.status, 504);
    assert.match(await res.text(), /504 Gateway Timeout: receive redis: timeout/);
  });

  it('requires the plugin: a co() route without it fails ready(), before any request', async () => {
    const bare = Fastify({ logger: false });
    bare.get(
      '/x',
      co(function* lonelyRoute() {}),
    );
    await assert.rejects(readyOf(bare), (err: unknown) => {
      assert.ok(err instanceof PluginNotRegisteredError);
      assert.match(err.message, /co\(\) handler 'lonelyRoute' is a route of a fastify instance without cosocketPlugin/);
      return true;
    });
    await bare.close().catch(() => {});

    const sibling = Fastify({ logger: false });
    void sibling.register(async (withPlugin) => {
      await withPlugin.register(cosocketPlugin);
    });
    void sibling.register(async (without) => {
      without.get(
        '/x',
        co(function* () {}),
      );
    });
    await assert.rejects(readyOf(sibling), PluginNotRegisteredError);
    await sibling.close().catch(() => {});
  });

  it('finds the plugin when it is registered but not loaded yet, or on a parent instance', async () => {
    const notAwaited = Fastify({ logger: false });
    void notAwaited.register(cosocketPlugin);
    notAwaited.get(
      '/x',
      co(function* () {
        return 'plugin found';
      }),
    );
    void notAwaited.register(async (child) => {
      child.get(
        '/child',
        co(function* () {
          return 'from a child instance';
        }),
      );
    });
    assert.equal((await notAwaited.inject({ url: '/x' })).body, 'plugin found');
    assert.equal((await notAwaited.inject({ url: '/child' })).body, 'from a child instance');
    await notAwaited.close();
  });
});

describe('a handler that fails on its first step', () => {
  it('answers with the error status and is not reported as a failure nobody awaited', async () => {
    const unhandled: unknown[] = [];
    const app = Fastify({ logger: false });
    await app.register(cosocketPlugin, {
      scheduler: new Scheduler({ name: 'first-step', onUnhandledError: (err) => unhandled.push(err) }),
    });
    app.get(
      '/at-once',
      co(function* atOnce(): Operation<string> {
        throw Object.assign(new Error('refused before any yield'), { statusCode: 413 });
      }),
    );
    try {
      const res = await app.inject({ method: 'GET', url: '/at-once' });
      assert.equal(res.statusCode, 413);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(unhandled, []);
    } finally {
      await app.close();
    }
  });
});
