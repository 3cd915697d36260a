import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Scheduler, Signal, call, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import type { HandlerContext } from '../../src/fastify/plugin.js';

/**
 * A request context kept in AsyncLocalStorage (set in an onRequest hook, as @fastify/request-context does)
 * and read by the logger's `mixin`, the way pino or OpenTelemetry pick up a request id: each coroutine
 * handler's lines carry its own request's id, also after another request's handler woke it. The request
 * logger has the id bound as well (`reqId`); the mixin's `alsId` is what a leaked context would get wrong.
 */
const als = new AsyncLocalStorage<{ id: string }>();
const lines: Array<{ msg: string; reqId?: string; alsId: string | null }> = [];
let app: FastifyInstance;
let base = '';
const wakeUp = new Signal();

function* logged(ctx: HandlerContext, msg: string): Operation<void> {
  ctx.request.log.info(msg);
  // a line written from a promise the handler started, after it was woken
  yield* call(Promise.resolve().then(() => ctx.request.log.info(`${msg} (from a promise)`)));
}

describe('AsyncLocalStorage request context in coroutine handlers', () => {
  before(async () => {
    const logger: FastifyBaseLogger = pino(
      { mixin: () => ({ alsId: als.getStore()?.id ?? null }) },
      { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
    );
    app = Fastify({ loggerInstance: logger, disableRequestLogging: true });
    app.addHook('onRequest', (request, _reply, done) => als.run({ id: request.id }, done));
    await app.register(cosocketPlugin, { scheduler: new Scheduler({ name: 'request-context' }) });
    app.get(
      '/wait',
      co(function* (ctx: HandlerContext): Operation<string> {
        yield* logged(ctx, 'waiting');
        yield* wakeUp.wait();
        yield* logged(ctx, 'woken');
        yield* sleep(2);
        yield* logged(ctx, 'after sleep');
        return 'waited';
      }),
    );
    app.get(
      '/wake',
      co(function* (ctx: HandlerContext): Operation<string> {
        while (wakeUp.waiting < 3) yield* sleep(1);
        yield* logged(ctx, 'waking the others');
        wakeUp.notify();
        yield* sleep(1);
        yield* logged(ctx, 'woke them');
        return 'woke';
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });

  after(() => app.close());

  it("every log line of concurrent requests carries its own request's id, after one request woke the others", async () => {
    const bodies = await Promise.all([
      ...[1, 2, 3].map(() => fetch(`${base}/wait`).then((r) => r.text())),
      fetch(`${base}/wake`).then((r) => r.text()),
    ]);
    assert.deepEqual(bodies, ['waited', 'waited', 'waited', 'woke']);
    const handlerLines = lines.filter((l) => l.reqId !== undefined);
    assert.equal(handlerLines.length, 3 * 6 + 4);
    assert.equal(new Set(handlerLines.map((l) => l.reqId)).size, 4);
    for (const line of handlerLines) {
      assert.equal(line.alsId, line.reqId, `'${line.msg}' of ${String(line.reqId)} logged with ${String(line.alsId)}`);
    }
  });
});
