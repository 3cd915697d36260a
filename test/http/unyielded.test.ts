/* eslint-disable cosocket/no-unyielded-operation -- these tests leave out yield* on purpose */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, checkUnyielded, sleep } from '../../src/index.js';
import type { Operation, UnyieldedReport } from '../../src/index.js';
import { co, cosocketPlugin } from '../../src/fastify/plugin.js';
import type { HandlerContext } from '../../src/fastify/plugin.js';

const reports: UnyieldedReport[] = [];
let app: FastifyInstance;
let base = '';

describe('handler output written without yield*', () => {
  before(async () => {
    checkUnyielded({ mode: 'warn', onReport: (report) => void reports.push(report) });
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler: new Scheduler({ name: 'http-unyielded' }) });
    app.get(
      '/write',
      co(function* writer(ctx: HandlerContext): Operation<void> {
        ctx.write(Buffer.from('lost '));
        yield* sleep(1);
        ctx.say('kept');
      }),
    );
    app.get(
      '/flush',
      co(function* flusher(ctx: HandlerContext): Operation<void> {
        ctx.print('early ');
        ctx.flush();
        yield* sleep(1);
        ctx.say('late');
      }),
    );
    app.get(
      '/yielded',
      co(function* (ctx: HandlerContext): Operation<void> {
        yield* ctx.write(Buffer.from('one '));
        ctx.print('two');
        yield* ctx.flush(true);
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  after(async () => {
    checkUnyielded({ mode: 'warn', onReport: null });
    await app.close();
  });

  it('ctx.write(buf): reported, and the bytes never sent', async () => {
    reports.length = 0;
    const res = await fetch(`${base}/write`);
    assert.equal(await res.text(), 'kept\n');
    assert.deepEqual(
      reports.map((report) => [report.effect, report.kind, report.chain.join(' > ')]),
      [['http.write (5 bytes)', 'http.write', 'writer']],
    );
  });

  it('ctx.flush(): reported, and nothing flushed before the end (the body has a length, not chunks)', async () => {
    reports.length = 0;
    const res = await fetch(`${base}/flush`);
    assert.equal(await res.text(), 'early late\n');
    assert.equal(res.headers.get('content-length'), '11', 'the forgotten flush ran: the body was chunked');
    assert.deepEqual(
      reports.map((report) => [report.effect, report.kind, report.chain.join(' > ')]),
      [['http.flush(false)', 'http.flush', 'flusher']],
    );
  });

  it('nothing is reported when every write and flush is yielded', async () => {
    reports.length = 0;
    const res = await fetch(`${base}/yielded`);
    assert.equal(await res.text(), 'one two');
    assert.equal(res.headers.get('transfer-encoding'), 'chunked');
    assert.deepEqual(reports, []);
  });
});
