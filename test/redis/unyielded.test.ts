/* eslint-disable cosocket/no-unyielded-operation -- these tests leave out yield* on purpose */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Scheduler, UnyieldedEffectError, checkUnyielded, pools, redis } from '../../src/index.js';
import type { Operation, UnyieldedReport } from '../../src/index.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';

const scheduler = new Scheduler({ name: 'redis-unyielded' });
const reports: UnyieldedReport[] = [];
let r: TestRedis;

describe('a Redis command written without yield*', () => {
  before(async () => {
    r = await startTestRedis();
    checkUnyielded({ mode: 'warn', onReport: (report) => void reports.push(report) });
  });
  after(async () => {
    checkUnyielded({ mode: 'warn', onReport: null });
    await pools.drain();
    await r.stop();
  });

  it('is reported naming SET, and the key really is not set', async () => {
    reports.length = 0;
    const seen = await scheduler.go(function* saveUser(): Operation<string | null> {
      const red = yield* redis.connect({ url: r.url, pool: 'unyielded' });
      red.set('forgotten', 'v');
      const other = yield* red.get('forgotten');
      red.setkeepalive();
      return other;
    });
    assert.equal(seen, null);
    assert.equal(await r.admin.exists('forgotten'), 0, 'the forgotten SET ran');
    assert.deepEqual(
      reports.map((report) => [report.effect, report.kind, report.chain.join(' > ')]),
      [['redis SET', 'redis', 'saveUser']],
    );
  });

  it('is not reported once yielded, in a pipeline, or in shared mode', async () => {
    reports.length = 0;
    await scheduler.go(function* (): Operation<void> {
      const red = yield* redis.connect({ url: r.url, pool: 'unyielded' });
      yield* red.set('yielded', '1');
      const batch = red.pipeline();
      batch.set('piped', '2').incr('piped');
      yield* batch.exec();
      red.setkeepalive();
      const shared = yield* redis.connect({ url: r.url, mode: 'shared' });
      yield* shared.set('shared', '3');
    });
    assert.deepEqual(reports, []);
    assert.deepEqual(await r.admin.mget('yielded', 'piped', 'shared'), ['1', '3', '3']);
  });

  it('fails the coroutine in strict mode', async () => {
    checkUnyielded({ mode: 'throw' });
    try {
      await assert.rejects(
        scheduler.go(function* strictSave(): Operation<void> {
          const red = yield* redis.connect({ url: r.url, mode: 'shared' });
          red.del('x');
          yield* red.ping();
        }),
        (err: unknown) =>
          err instanceof UnyieldedEffectError && /made redis DEL and never yielded it/.test(err.message),
      );
    } finally {
      checkUnyielded({ mode: 'warn' });
    }
  });
});
