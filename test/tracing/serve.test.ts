import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import { startTraceparentUpstream } from '../helpers/traceparent-upstream.js';
import type { TraceparentUpstream } from '../helpers/traceparent-upstream.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { deadPort } from '../helpers/tcp-server.js';

const SERVER = 2;
const CLIENT = 3;

/** A caller's trace, continued by the server. */
const CALLER_SPAN = '00f067aa0ba902b7';
const traceparent = (traceId: string): string => `00-${traceId}-${CALLER_SPAN}-01`;

/** A GET to 127.0.0.1:port with these headers (Host too, which fetch will not set). */
function get(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const dir = mkdtempSync(join(tmpdir(), 'cosocket-tracing-serve-'));

describe('cosocket serve with tracing', () => {
  let receiver: OtlpReceiver;
  let redis: TestRedis;
  let upstream: TraceparentUpstream;

  before(async () => {
    receiver = await startOtlpReceiver();
    redis = await startTestRedis();
    upstream = await startTraceparentUpstream('upstream says hi');
  });

  after(async () => {
    await upstream?.close();
    await redis?.stop();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Spans leave the batch every 50 ms: the test waits for them, with no fixed delay. */
  const env = { ...process.env, OTEL_BSP_SCHEDULE_DELAY: '50' };

  it("continues the caller's trace through the app's Redis read and the dyups proxy's upstream call", async () => {
    const config = join(dir, 'tracing.json');
    writeFileSync(
      config,
      JSON.stringify({ tracing: { endpoint: receiver.url, serviceName: 'serve-test', sampleRatio: 1 } }),
    );
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const server = await startServer(
      ['--config', config, '--redis', redis.url, '--admin-port', String(adminPort), '--proxy-port', String(proxyPort)],
      env,
    );
    try {
      const appTrace = 'c'.repeat(32);
      const test = await get(server.port, '/test', { traceparent: traceparent(appTrace) });
      assert.equal(test.status, 200);
      const request = await receiver.waitForSpan((s) => s.traceId === appTrace && s.kind === SERVER);
      assert.equal(request.name, 'GET /test');
      assert.equal(request.parentSpanId, CALLER_SPAN);
      assert.equal(request.serviceName, 'serve-test');
      const command = await receiver.waitForSpan((s) => s.parentSpanId === request.spanId);
      assert.equal(command.name, 'redis GETRANGE'); // /test reads its key with GETRANGE
      assert.equal(command.traceId, appTrace);
      assert.equal(command.kind, CLIENT);

      const added = await fetch(`http://127.0.0.1:${adminPort}/upstream/traced.local`, {
        method: 'POST',
        body: `server 127.0.0.1:${upstream.port};`,
      });
      assert.equal(await added.text(), 'success');
      const proxyTrace = 'd'.repeat(32);
      const proxied = await get(proxyPort, '/through', { host: 'traced.local', traceparent: traceparent(proxyTrace) });
      assert.deepEqual(proxied, { status: 200, body: 'upstream says hi' });
      const served = await receiver.waitForSpan((s) => s.traceId === proxyTrace && s.kind === SERVER);
      assert.equal(served.parentSpanId, CALLER_SPAN);
      assert.equal(served.attributes['server.address'], 'traced.local');
      assert.equal(served.attributes['http.response.status_code'], 200);
      const call = await receiver.waitForSpan((s) => s.parentSpanId === served.spanId);
      assert.equal(call.name, 'HTTP GET');
      assert.equal(call.kind, CLIENT);
      assert.equal(call.attributes['url.path'], '/through');
      // the caller's traceparent is replaced by the upstream call's: one header, naming that span
      assert.deepEqual(upstream.traceparents.at(-1), [`00-${proxyTrace}-${call.spanId}-01`]);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('takes the endpoint from OTEL_EXPORTER_OTLP_ENDPOINT, sending to its /v1/traces', async () => {
    const server = await startServer(['--redis', redis.url], {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.base,
      OTEL_SERVICE_NAME: 'from-env',
    });
    try {
      const trace = 'e'.repeat(32);
      assert.equal((await get(server.port, '/test', { traceparent: traceparent(trace) })).status, 200);
      const request = await receiver.waitForSpan((s) => s.traceId === trace && s.kind === SERVER);
      assert.equal(request.serviceName, 'from-env');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('serves as usual with the collector down, and stops with exit 0', async () => {
    const server = await startServer(['--redis', redis.url], {
      ...env,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${await deadPort()}/v1/traces`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '500',
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await get(server.port, '/test', {})).status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('traces nothing unless configured: the proxy passes the caller traceparent on as it came', async () => {
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const before = receiver.spans.length;
    const server = await startServer(
      ['--redis', redis.url, '--admin-port', String(adminPort), '--proxy-port', String(proxyPort)],
      env,
    );
    try {
      const added = await fetch(`http://127.0.0.1:${adminPort}/upstream/plain.local`, {
        method: 'POST',
        body: `server 127.0.0.1:${upstream.port};`,
      });
      assert.equal(await added.text(), 'success');
      const trace = 'f'.repeat(32);
      const proxied = await get(proxyPort, '/', { host: 'plain.local', traceparent: traceparent(trace) });
      assert.equal(proxied.status, 200);
      assert.deepEqual(upstream.traceparents.at(-1), [traceparent(trace)]);
      assert.equal((await get(server.port, '/test', { traceparent: traceparent(trace) })).status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    assert.equal(receiver.spans.length, before);
  });
});
