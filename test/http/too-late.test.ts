import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { HeadersSentError, ReturnAfterOutputError, Scheduler } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import type { HandlerContext } from '../../src/fastify/plugin.js';
import { FrontServer } from '../../src/dyups/front/index.js';
import type { FrontExchange } from '../../src/dyups/front/index.js';
import { frontOptions } from '../helpers/front-options.js';

/**
 * One behaviour for one kind of mistake: a status, a header, or a trailer the head did not announce,
 * set once the response head went out, throws HeadersSentError (COSOCKET_ERR_HEADERS_SENT) on both
 * response sinks (fastify's HandlerContext and the dyups front's FrontExchange). A handler that
 * printed output and also returns a value fails with ReturnAfterOutputError.
 */

/** What each late setter did: the error's code, or 'ok'. */
function attempt(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (err) {
    return err instanceof HeadersSentError ? `${err.code}: ${err.message}` : `other: ${String(err)}`;
  }
}

/** The late calls a handler tries after its first flush, in order, and what each did. */
interface LateSink {
  status: number;
  header(name: string, value: string): unknown;
  trailer(name: string, value: string): unknown;
}

function lateCalls(ctx: LateSink): Record<string, string> {
  return {
    status: attempt(() => (ctx.status = 500)),
    header: attempt(() => ctx.header('x-late', '1')),
    undeclaredTrailer: attempt(() => ctx.trailer('x-other', '1')),
    declaredTrailer: attempt(() => ctx.trailer('X-Sum', '42')),
  };
}

const CODE = 'COSOCKET_ERR_HEADERS_SENT';

function assertLate(seen: Record<string, string>): void {
  assert.match(seen.status!, new RegExp(`^${CODE}: cannot set status 500: the response head was already sent`));
  assert.match(seen.header!, new RegExp(`^${CODE}: cannot set header 'x-late'`));
  assert.match(seen.undeclaredTrailer!, new RegExp(`^${CODE}: cannot set trailer 'x-other': .*Trailer header`));
  assert.equal(seen.declaredTrailer, 'ok');
}

describe('too late for the head: fastify handlers', () => {
  let app: FastifyInstance;
  let base = '';
  let seen: Record<string, string> = {};
  let afterEnd = '';
  const failures: unknown[] = [];

  before(async () => {
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, {
      scheduler: new Scheduler({ name: 'too-late' }),
      failureLog: (failure) => failures.push(failure.err),
    });
    app.get(
      '/late',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.header('trailer', 'x-sum');
        ctx.say('first');
        yield* ctx.flush(true);
        seen = lateCalls(ctx);
        ctx.say('second');
      }),
    );
    app.get(
      '/ended',
      co(function* ended(ctx: HandlerContext): Operation<string> {
        const task = ctx;
        // a coroutine that outlives the response: its late status is the same mistake
        setTimeout(() => (afterEnd = attempt(() => (task.status = 404))), 20);
        return 'whole';
      }),
    );
    app.get(
      '/say-and-return',
      co(function* sayAndReturn(ctx: HandlerContext): Operation<string> {
        ctx.say('printed');
        return 'returned';
      }),
    );
    app.get(
      '/flush-and-return',
      co(function* flushAndReturn(ctx: HandlerContext): Operation<object> {
        ctx.say('printed');
        yield* ctx.flush(true);
        return { stats: 1 };
      }),
    );
    app.get(
      '/say-and-return-nothing',
      co(function* (ctx: HandlerContext): Operation<undefined> {
        ctx.say('printed');
        return undefined;
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });

  after(async () => {
    await app.close();
  });

  it('status, header and an unannounced trailer after flush throw HeadersSentError; an announced trailer is sent', async () => {
    const res = await fetch(`${base}/late`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'first\nsecond\n');
    assertLate(seen);
  });

  it('a status set after the whole response went out throws the same error', async () => {
    const res = await fetch(`${base}/ended`);
    assert.equal(await res.text(), 'whole');
    await new Promise((r) => setTimeout(r, 100));
    assert.match(afterEnd, new RegExp(`^${CODE}: cannot set status 404`));
  });

  it('a handler that printed and returns a value answers 500 with ReturnAfterOutputError', async () => {
    failures.length = 0;
    const res = await fetch(`${base}/say-and-return`);
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /printed|returned/);
    assert.equal(failures.length, 1);
    assert.ok(failures[0] instanceof ReturnAfterOutputError);
    assert.equal(failures[0].code, 'COSOCKET_ERR_RETURN_AFTER_OUTPUT');
    assert.match((failures[0] as Error).message, /'sayAndReturn' printed output and also returned a value \(string\)/);
  });

  it('after the head went out, the same mistake cuts the response (no complete body)', async () => {
    failures.length = 0;
    await assert.rejects(async () => {
      const res = await fetch(`${base}/flush-and-return`);
      await res.text();
    });
    assert.ok(failures[0] instanceof ReturnAfterOutputError);
  });

  it('returning undefined after printing is no mistake', async () => {
    const res = await fetch(`${base}/say-and-return-nothing`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'printed\n');
  });
});

describe('too late for the head: the dyups front', () => {
  let server: FrontServer;
  let port = 0;
  let seen: Record<string, string> = {};

  function* handler(ctx: FrontExchange): Operation<unknown> {
    ctx.header('trailer', 'x-sum');
    yield* ctx.write(Buffer.from('first\n'));
    seen = lateCalls(ctx);
    yield* ctx.write(Buffer.from('second\n'));
    return undefined;
  }

  before(async () => {
    server = new FrontServer(frontOptions('front-too-late', handler));
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server.closeAllConnections();
    await server.close();
  });

  it('status, header and an unannounced trailer after the head throw HeadersSentError', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'first\nsecond\n');
    assertLate(seen);
  });
});
