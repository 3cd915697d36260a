/* eslint-disable cosocket/no-unyielded-operation -- these tests leave out yield* on purpose */
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  Scheduler,
  UnyieldedEffectError,
  all,
  call,
  checkUnyielded,
  defineKind,
  formatUnyielded,
  race,
  sleep,
  spawn,
  spawnDetached,
  timeout,
  unyieldedMode,
} from '../../src/index.js';
import type { Effect, Operation, UnyieldedReport } from '../../src/index.js';
import { runProcess } from '../helpers/process.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const scheduler = new Scheduler({ name: 'unyielded', deadline: 10_000 });
const reports: UnyieldedReport[] = [];
const onReport = (report: UnyieldedReport): void => void reports.push(report);

/** A kind of one's own: settles at once with its operand. */
const PING = defineKind<number>({
  name: 'ping',
  start(waiter, n) {
    waiter.settleWait(n, false);
  },
  abandon() {},
  describe(n) {
    return `ping(${n})`;
  },
});
const ping = (n: number) => PING<number>(n);

/** A kind without `describe`: reported by its name. */
const BARE = defineKind({
  name: 'bare',
  start(waiter) {
    waiter.settleWait(undefined, false);
  },
  abandon() {},
});

/** A kind no earlier test reported: where its effects are made is recorded only once one of them was reported. */
function freshKind(name: string): () => Effect<void> {
  const kind = defineKind({
    name,
    start(waiter) {
      waiter.settleWait(undefined, false);
    },
    abandon() {},
  });
  return () => kind<void>();
}

/** Collects garbage until `done()` or a few rounds passed, letting FinalizationRegistry callbacks run between. */
async function collectUntil(done: () => boolean): Promise<void> {
  for (let round = 0; round < 20 && !done(); round++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('unyielded effects', () => {
  beforeEach(() => {
    reports.length = 0;
    checkUnyielded({ mode: 'warn', stacks: false, onReport });
  });
  afterEach(() => checkUnyielded({ mode: 'warn', stacks: false, onReport: null }));
  after(() => checkUnyielded({ mode: 'warn' }));

  it('is on, warning, outside production', () => {
    assert.notEqual(process.env.NODE_ENV, 'production');
    checkUnyielded({ onReport: null });
    assert.equal(unyieldedMode(), 'warn');
  });

  it('reports sleep(...) written without yield*, naming the effect and the coroutine chain; it never ran', async () => {
    // ten minutes: had the forgotten sleep run, the test would time out, however busy the machine is
    function* saveLater(): Operation<number> {
      const started = Date.now();
      sleep(600_000);
      yield* sleep(1);
      return Date.now() - started;
    }
    function* handler(): Operation<number> {
      return yield* call(saveLater);
    }
    const took = await scheduler.start({ name: 'handler' }, handler);
    assert.ok(took < 600_000, `the forgotten sleep(600000) ran: took ${took} ms`);
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.equal(report!.effect, 'sleep(600000)');
    assert.equal(report!.kind, 'sleep');
    assert.deepEqual(report!.chain, ['handler', 'saveLater']);
    // found when the coroutine ended, or sooner if a collection during its sleep(1) took the effect first
    assert.ok(report!.found === 'ended' || report!.found === 'collected', report!.found);
    assert.match(formatUnyielded(report!), /coroutine 'handler > saveLater' made sleep\(600000\) and never yielded it/);
  });

  it('reports an effect of a kind defined with defineKind, by its describe() or else its name', async () => {
    await scheduler.go(function* userKind() {
      ping(7);
      BARE();
      return yield* ping(1);
    });
    assert.deepEqual(
      reports.map((r) => [r.effect, r.kind, r.chain.join('>')]),
      [
        ['ping(7)', 'ping', 'userKind'],
        ['bare', 'bare', 'userKind'],
      ],
    );
  });

  it('records where the effect was made: with stacks: true at once, else once its kind was reported', async () => {
    const fresh = freshKind('fresh');
    function* forgetful(): Operation<void> {
      fresh();
      yield* sleep(1);
    }
    await scheduler.go(forgetful);
    assert.equal(reports[0]!.site, null, 'a stack was recorded without being asked for');
    assert.match(formatUnyielded(reports[0]!), /the next effects of kind 'fresh' will be/);
    await scheduler.go(forgetful);
    assert.match(reports[1]!.site ?? '', /forgetful .*unyielded\.test\.js:\d+/, 'the second report has no site');
    assert.doesNotMatch(reports[1]!.site!, /run-loop|task\.js/, 'the runtime frames are left in');

    checkUnyielded({ stacks: true });
    const other = freshKind('other');
    function* elsewhere(): Operation<void> {
      other();
      yield* sleep(1);
    }
    await scheduler.go(elsewhere);
    assert.match(reports[2]!.site ?? '', /elsewhere .*unyielded\.test\.js:\d+/);
    assert.match(formatUnyielded(reports[2]!), /made at:\n {4}at /);
  });

  it('warns through process.emitWarning with a code, once per place, when no onReport is set', async () => {
    checkUnyielded({ onReport: null });
    const emittedKind = freshKind('emitted');
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 3; i++) {
        await scheduler.go(function* emitted() {
          emittedKind();
          yield* sleep(1);
        });
      }
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'COSOCKET_UNYIELDED_EFFECT');
    // the first has no site, the second records it (a new place); the third is the second again
    assert.equal(ours.length, 2);
    assert.equal(ours[0]!.name, 'UnyieldedEffectWarning');
    assert.match(ours[0]!.message, /coroutine 'emitted' made emitted and never yielded it/);
    assert.match(ours[1]!.message, /made at:/);
  });

  it('does not report effects handed to all, race, timeout, spawn or spawnDetached', async () => {
    const result = await scheduler.go(function* handedOn(): Operation<number[]> {
      const a = ping(1);
      const b = ping(2);
      const both: number[] = yield* all([a, b]);
      const first = yield* race({ quick: ping(3), slow: sleep(20) });
      const inTime = yield* timeout(100, ping(4));
      const child = yield* spawn(function* (op: Effect<number>) {
        return yield* op;
      }, ping(5));
      const detached = yield* spawnDetached(function* (op: Effect<number>) {
        return yield* op;
      }, ping(6));
      return [...both, 'quick' in first ? first.quick : NaN, inTime, yield* child, yield* detached];
    });
    assert.deepEqual(result, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(reports, []);
  });

  it('does not report an effect stored and yielded after other steps, or yielded without the star', async () => {
    const result = await scheduler.go(function* stored(): Operation<number> {
      const later = ping(1);
      const muchLater = sleep(2);
      yield* sleep(1);
      yield* sleep(1);
      const value = yield* later;
      yield* muchLater;
      yield ping(2);
      const reused = ping(3);
      return value + (yield* reused) + (yield* reused);
    });
    assert.equal(result, 7);
    assert.deepEqual(reports, []);
  });

  it('reports a stored effect that is then never yielded, when its coroutine ends', async () => {
    await scheduler.go(function* storedForever() {
      const kept = ping(9);
      yield* sleep(1);
      yield* sleep(1);
      return typeof kept;
    });
    assert.deepEqual(
      reports.map((r) => [r.effect, r.found]),
      [['ping(9)', 'ended']],
    );
  });

  it('reports an effect collected unused while its coroutine keeps running (a loop that never ends)', async () => {
    let stop = false;
    const loop = scheduler.go(function* poller() {
      while (!stop) {
        ping(11);
        yield* sleep(2);
      }
    });
    await collectUntil(() => reports.length > 0);
    stop = true;
    await loop;
    assert.ok(reports.length > 0, 'nothing reported while the loop ran');
    assert.equal(reports[0]!.found, 'collected');
    assert.equal(reports[0]!.effect, 'ping(11)');
    assert.deepEqual(reports[0]!.chain, ['poller']);
  });

  it('in strict mode fails the coroutine with UnyieldedEffectError when it ends', async () => {
    checkUnyielded({ mode: 'throw' });
    await assert.rejects(
      scheduler.start({ name: 'strict' }, function* () {
        sleep(50);
        yield* sleep(1);
        return 'done';
      }),
      (err: unknown) => {
        assert.ok(err instanceof UnyieldedEffectError);
        assert.equal(err.code, 'COSOCKET_ERR_UNYIELDED_EFFECT');
        assert.equal(err.statusCode, 500);
        assert.deepEqual(err.effects, ['sleep(50)']);
        assert.deepEqual(err.chain, ['strict']);
        assert.match(err.message, /coroutine 'strict' made sleep\(50\) and never yielded it, so it never ran/);
        return true;
      },
    );
    assert.deepEqual(reports, [], 'strict mode also warned');
  });

  it('in strict mode throws into a running coroutine at its next step, where it can be caught', async () => {
    checkUnyielded({ mode: 'throw' });
    let caught: unknown = null;
    let stop = false;
    const loop = scheduler.go(function* strictLoop() {
      ping(12);
      try {
        while (!stop) yield* sleep(2);
      } catch (err) {
        caught = err;
      }
      return 'caught';
    });
    await collectUntil(() => caught !== null);
    stop = true;
    assert.equal(await loop, 'caught');
    assert.ok(caught instanceof UnyieldedEffectError, `caught ${String(caught)}`);
    assert.ok(caught.effects.includes('ping(12)'));
  });

  it('in strict mode fails a coroutine whose unused effect was collected just before it ended', async () => {
    checkUnyielded({ mode: 'throw' });
    // the effect is collected before the body returns, and the GC's callback only runs after the end
    await assert.rejects(
      scheduler.go(function* collectedBeforeEnd() {
        ping(14);
        yield* sleep(1);
        gc();
      }),
      (err: unknown) => err instanceof UnyieldedEffectError && err.effects.includes('ping(14)'),
    );
  });

  it('in strict mode keeps the error a coroutine failed with, and warns of the effect instead', async () => {
    checkUnyielded({ mode: 'throw' });
    await assert.rejects(
      scheduler.go(function* failing() {
        ping(13);
        yield* sleep(1);
        throw new Error('its own failure');
      }),
      /its own failure/,
    );
    assert.deepEqual(
      reports.map((r) => r.effect),
      ['ping(13)'],
    );
  });

  it('reports nothing, and costs nothing, with mode off', async () => {
    checkUnyielded({ mode: 'off' });
    await scheduler.go(function* quiet() {
      ping(1);
      sleep(50);
      yield* sleep(1);
    });
    assert.deepEqual(reports, []);
  });

  it('checks its options with clear errors', () => {
    assert.throws(() => checkUnyielded({ mode: 'loud' as never }), /mode must be 'off', 'warn' or 'throw', got loud/);
    assert.throws(() => checkUnyielded({ stacks: 1 as never }), /stacks must be true or false/);
    assert.throws(() => checkUnyielded({ onReport: 'x' as never }), /onReport must be a function/);
    assert.throws(() => checkUnyielded(null as never), /needs an options object/);
  });

  it('is off under NODE_ENV=production, and set by COSOCKET_UNYIELDED', async () => {
    const script = `
      import { go, sleep, unyieldedMode } from 'cosocket';
      await go(function* () { sleep(50); yield* sleep(1); });
      console.log('mode', unyieldedMode());`;
    const run = (env: NodeJS.ProcessEnv) =>
      runProcess(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, ...env },
        limitMs: 20_000,
      });
    const production = await run({ NODE_ENV: 'production', COSOCKET_UNYIELDED: '' });
    assert.equal(production.code, 0, production.stderr);
    assert.equal(production.stdout, 'mode off\n');
    assert.doesNotMatch(production.stderr, /UnyieldedEffect/);

    const development = await run({ NODE_ENV: 'development', COSOCKET_UNYIELDED: '' });
    assert.equal(development.stdout, 'mode warn\n');
    assert.match(development.stderr, /\[COSOCKET_UNYIELDED_EFFECT\] UnyieldedEffectWarning: .*made sleep\(50\)/);

    const strict = await run({ NODE_ENV: 'production', COSOCKET_UNYIELDED: 'throw' });
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /UnyieldedEffectError/);

    const wrong = await run({ COSOCKET_UNYIELDED: 'sometimes' });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /COSOCKET_UNYIELDED must be off, warn or throw, got 'sometimes'/);
  });
});
