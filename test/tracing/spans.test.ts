import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import { sleep } from '../../adapters/sleep.js';
import { race } from '../../src/runtime/effects/group.js';
import { spawn } from '../../src/runtime/effects/spawn.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { activeTracer } from '../../src/runtime/tracing.js';
import { startTracing } from '../../src/tracing/index.js';
import type { Tracing } from '../../src/tracing/index.js';
import { startTraceparentUpstream } from '../helpers/traceparent-upstream.js';
import type { TraceparentUpstream } from '../helpers/traceparent-upstream.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

/** A caller's trace: the request continues it. */
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-spans-'));
const filePath = join(dir, 'data.txt');

/** An app whose route does a Redis GET, another in a child coroutine, a file read and an upstream call. */
async function buildApp(redisUrl: string, upstreamPort: number): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(cosocketPlugin, { scheduler: new Scheduler({ name: 'spans' }) });
  app.get(
    '/work',
    co(function* work(ctx) {
      const red = yield* ctx.redis.connect({ url: redisUrl, mode: 'short' });
      const value = yield* red.get('k');
      red.close();
      const child = yield* spawn(function* inChild() {
        const own = yield* ctx.redis.connect({ url: redisUrl, mode: 'short' });
        const length = yield* own.strlen('k');
        own.close();
        return length;
      });
      const length = yield* child;
      const text = yield* ctx.file.read(filePath);
      const conn = yield* ctx.http.connect('127.0.0.1', upstreamPort);
      // a traceparent of the handler's own is replaced by the span of this call
      const res = yield* conn.request({ path: '/up', headers: { traceparent: 'set-by-the-handler' } });
      const body = yield* res.readBody();
      conn.close();
      return `${String(value)} ${length} ${text.toString().trim()} ${body.toString()}`;
    }),
  );
  app.get(
    '/fail',
    co(function* fail(ctx) {
      const red = yield* ctx.redis.connect({ url: redisUrl, mode: 'short' });
      try {
        yield* red.call('NOSUCHCOMMAND');
      } finally {
        red.close();
      }
    }),
  );
  app.get(
    '/abandon',
    co(function* abandon(ctx) {
      const red = yield* ctx.redis.connect({ url: redisUrl, mode: 'short' });
      // the pop waits forever: the sleep wins the race and the pop's coroutine is cancelled
      yield* race([red.call('BLPOP', 'never-pushed', '0'), sleep(10)]);
      return 'gave up';
    }),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

function childrenOf(spans: readonly ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((span) => span.parentSpanId === parent.spanId);
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('tracing: spans of a request and of what its coroutines do', () => {
  let receiver: OtlpReceiver;
  let redis: TestRedis;
  let upstream: TraceparentUpstream;
  let tracing: Tracing | null;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    writeFileSync(filePath, 'from a file\n');
    receiver = await startOtlpReceiver();
    redis = await startTestRedis();
    await redis.admin.set('k', 'value');
    upstream = await startTraceparentUpstream('from upstream');
    tracing = await startTracing({ endpoint: receiver.url, serviceName: 'spans-test', sampleRatio: 1 });
    app = await buildApp(redis.url, upstream.port);
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await app?.close();
    await tracing?.shutdown();
    await upstream?.close();
    await redis?.stop();
    await receiver?.close();
  });

  /** The span `match` finds, once the spans ended so far are exported (flushing until it is there). */
  async function exported(match: (span: ReceivedSpan) => boolean): Promise<ReceivedSpan> {
    for (;;) {
      await tracing!.flush();
      const found = receiver.spans.find(match);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it("continues the caller's trace: the request span, and under it Redis, child coroutine, file and upstream spans", async () => {
    const res = await fetch(`${base}/work`, { headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` } });
    assert.equal(await res.text(), 'value 5 from a file from upstream');
    const request = await exported((s) => s.traceId === CALLER_TRACE && s.kind === SERVER);
    await tracing!.flush();
    const trace = receiver.spans.filter((s) => s.traceId === CALLER_TRACE);
    assert.equal(request.name, 'GET /work');
    assert.equal(request.parentSpanId, CALLER_SPAN);
    assert.equal(request.serviceName, 'spans-test');
    assert.equal(request.attributes['http.route'], '/work');
    assert.equal(request.attributes['http.response.status_code'], 200);

    const children = childrenOf(trace, request);
    const names = children.map((s) => s.name).sort();
    assert.deepEqual(names, ['HTTP GET', 'file.read', 'redis GET', 'redis STRLEN']);
    for (const child of children) assert.equal(child.kind, CLIENT, child.name);
    const get = children.find((s) => s.name === 'redis GET')!;
    assert.equal(get.attributes['db.system.name'], 'redis');
    assert.equal(get.attributes['db.operation.name'], 'GET');
    assert.match(String(get.attributes['server.address']), /^127\.0\.0\.1:\d+\/0$/);
    assert.equal(children.find((s) => s.name === 'file.read')!.attributes['file.path'], filePath);

    const call = children.find((s) => s.name === 'HTTP GET')!;
    assert.equal(call.attributes['http.response.status_code'], 200);
    assert.equal(call.attributes['url.path'], '/up');
    // the upstream got one traceparent: the call's span, in the caller's trace
    assert.deepEqual(upstream.traceparents.at(-1), [`00-${CALLER_TRACE}-${call.spanId}-01`]);
    // the connects are not effects that trace: nothing else is in the trace
    assert.equal(trace.length, 5);
  });

  it('starts a new trace for a request without a traceparent', async () => {
    const before = new Set(receiver.spans.map((s) => s.spanId));
    const res = await fetch(`${base}/work`);
    assert.equal(res.status, 200);
    const request = await exported((s) => s.kind === SERVER && !before.has(s.spanId));
    assert.equal(request.parentSpanId, '');
    assert.notEqual(request.traceId, CALLER_TRACE);
    await tracing!.flush();
    assert.equal(childrenOf(receiver.spans, request).length, 4);
    assert.deepEqual(upstream.traceparents.at(-1)!.length, 1);
    assert.ok(upstream.traceparents.at(-1)![0]!.startsWith(`00-${request.traceId}-`));
  });

  it('exports nothing for a caller that did not sample, and passes its trace on unsampled', async () => {
    const unsampled = 'a'.repeat(32);
    const res = await fetch(`${base}/work`, { headers: { traceparent: `00-${unsampled}-${CALLER_SPAN}-00` } });
    assert.equal(res.status, 200);
    await tracing!.flush();
    assert.deepEqual(
      receiver.spans.filter((s) => s.traceId === unsampled),
      [],
    );
    assert.match(upstream.traceparents.at(-1)![0]!, new RegExp(`^00-${unsampled}-[0-9a-f]{16}-00$`));
  });

  it('marks the Redis span and the request span failed when the command fails', async () => {
    const trace = 'b'.repeat(32);
    const res = await fetch(`${base}/fail`, { headers: { traceparent: `00-${trace}-${CALLER_SPAN}-01` } });
    assert.equal(res.status, 500);
    const request = await exported((s) => s.traceId === trace && s.kind === SERVER);
    await tracing!.flush();
    assert.equal(request.statusCode, ERROR);
    const [command] = childrenOf(receiver.spans, request);
    assert.equal(command!.name, 'redis NOSUCHCOMMAND');
    assert.equal(command!.statusCode, ERROR);
  });

  it('ends the span of an effect abandoned by cancellation, failed, under the coroutine that made it', async () => {
    const trace = '1'.repeat(32);
    const res = await fetch(`${base}/abandon`, { headers: { traceparent: `00-${trace}-${CALLER_SPAN}-01` } });
    assert.equal(await res.text(), 'gave up');
    const request = await exported((s) => s.traceId === trace && s.kind === SERVER);
    const pop = await exported((s) => s.traceId === trace && s.name === 'redis BLPOP');
    assert.equal(pop.parentSpanId, request.spanId);
    assert.equal(pop.statusCode, ERROR);
    assert.equal(request.statusCode, 0);
  });

  it('ignores a traceparent that is not valid: a new trace', async () => {
    const before = new Set(receiver.spans.map((s) => s.spanId));
    const res = await fetch(`${base}/work`, { headers: { traceparent: `00-${'0'.repeat(32)}-${CALLER_SPAN}-01` } });
    assert.equal(res.status, 200);
    const request = await exported((s) => s.kind === SERVER && !before.has(s.spanId));
    assert.equal(request.parentSpanId, '');
    assert.notEqual(request.traceId, '0'.repeat(32));
  });
});

describe('tracing off', () => {
  it('installs no tracer, adds no traceparent upstream, and the routes work as before', async () => {
    assert.equal(activeTracer(), null);
    writeFileSync(filePath, 'from a file\n');
    const redis = await startTestRedis();
    const upstream = await startTraceparentUpstream('from upstream');
    const app = await buildApp(redis.url, upstream.port);
    try {
      await redis.admin.set('k', 'value');
      const port = (app.server.address() as AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${port}/work`);
      assert.equal(await res.text(), 'value 5 from a file from upstream');
      // the handler's own header goes through untouched
      assert.deepEqual(upstream.traceparents, [['set-by-the-handler']]);
    } finally {
      await app.close();
      await upstream.close();
      await redis.stop();
    }
  });

  it('refuses a bad endpoint or ratio, naming the setting', async () => {
    await assert.rejects(
      startTracing({ endpoint: 'ftp://x/v1/traces', serviceName: 's', sampleRatio: 1 }),
      /tracing\.endpoint must be an http:\/\/ or https:\/\/ URL/,
    );
    await assert.rejects(
      startTracing({ endpoint: 'http://127.0.0.1:1/v1/traces', serviceName: 's', sampleRatio: 2 }),
      /tracing\.sampleRatio must be a number from 0 to 1/,
    );
    assert.equal(await startTracing({ endpoint: null, serviceName: 's', sampleRatio: 1 }), null);
    assert.equal(activeTracer(), null);
  });
});
