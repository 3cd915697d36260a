/**
 * bench/runtime: its interleaved rounds (order turned each round, a wrong result stops the run naming
 * the case and runner), its COMPARED_WITH setting, and one real run of the whole suite with tiny sizes.
 * Asserts shapes and checks, never speed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSuiteMetrics } from '../../bench/lib/bench-json.js';
import { Countdown, expectEqual } from '../../bench/runtime/countdown.js';
import { roundOrder, runRounds, unavailableRunner } from '../../bench/runtime/harness.js';
import type { Case, Runner } from '../../bench/runtime/harness.js';
import { parseComparedWith } from '../../bench/runtime/libraries.js';
import * as cosocket from '../../src/index.js';
import { TINY_RUNTIME_ENV } from './tiny-runtime-env.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SUITE = join(ROOT, 'dist', 'bench', 'runtime', 'index.js');

function fakeCase(runners: Runner[]): Case {
  return { key: 'fake', title: 'Fake', unit: 'ns', digits: 0, warmUp: false, runners, ratios: [] };
}

function recordingRunner(name: string, log: string[], value = 1): Runner {
  return {
    name,
    library: 'cosocket',
    what: name,
    items: 1,
    measure: () => {
      log.push(name);
      return Promise.resolve(value);
    },
  };
}

describe('bench/runtime rounds', () => {
  it('turns the order by one place each round', () => {
    assert.deepEqual(roundOrder(['a', 'b', 'c'], 0), ['a', 'b', 'c']);
    assert.deepEqual(roundOrder(['a', 'b', 'c'], 1), ['b', 'c', 'a']);
    assert.deepEqual(roundOrder(['a', 'b', 'c'], 4), ['b', 'c', 'a']);
    assert.deepEqual(roundOrder([], 3), []);
  });

  it('runs every available runner once a round, in the turned order, and keeps each round', async () => {
    const log: string[] = [];
    const c = fakeCase([
      recordingRunner('a', log, 1),
      recordingRunner('b', log, 2),
      unavailableRunner({ name: 'gone', library: 'cosocket', what: 'gone', items: 1 }, 'n/a (not in this build)'),
      recordingRunner('c', log, 3),
    ]);
    const rounds: number[] = [];
    const results = await runRounds([c], 3, { beforeRun: () => {}, onRound: (round) => rounds.push(round) });
    assert.deepEqual(log, ['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
    assert.deepEqual(rounds, [0, 1, 2]);
    assert.deepEqual(
      [...results.get('fake')!],
      [
        ['a', [1, 1, 1]],
        ['b', [2, 2, 2]],
        ['c', [3, 3, 3]],
      ],
    );
  });

  it('stops at a wrong result, naming the case and the runner', async () => {
    const wrong: Runner = {
      ...recordingRunner('miscounts', []),
      measure: () => {
        expectEqual('children joined', 99, 100);
        return Promise.resolve(1);
      },
    };
    await assert.rejects(runRounds([fakeCase([wrong])], 1, { beforeRun: () => {} }), {
      message: 'bench/runtime fake / miscounts: children joined: expected 100, got 99',
    });
    const notANumber: Runner = { ...recordingRunner('nan', []), measure: () => Promise.resolve(NaN) };
    await assert.rejects(runRounds([fakeCase([notANumber])], 1, { beforeRun: () => {} }), /fake \/ nan: measured NaN/);
  });

  it('counts down to done, and a short count fails its check', async () => {
    const countdown = new Countdown(2);
    countdown.hit();
    assert.throws(() => countdown.check('finally blocks run'), { message: 'finally blocks run: 1 of 2' });
    countdown.hit();
    await countdown.done;
    countdown.check('finally blocks run');
  });

  it('takes COMPARED_WITH as a subset of co, effection, effect, or none', () => {
    const all = ['async/await', 'cosocket', 'co', 'Effection', 'Effect'];
    assert.deepEqual(parseComparedWith(undefined), all);
    assert.deepEqual(parseComparedWith(''), all);
    assert.deepEqual(parseComparedWith('none'), ['async/await', 'cosocket']);
    assert.deepEqual(parseComparedWith('Effect, co'), ['async/await', 'cosocket', 'co', 'Effect']);
    assert.throws(
      () => parseComparedWith('effect,bluebird'),
      /unknown bluebird \(known: co, effection, effect, none\)/,
    );
  });
});

describe('bench/runtime end to end', () => {
  it('runs every case for every library with tiny sizes, and prints each runner as a metric', () => {
    const result = spawnSync(process.execPath, ['--expose-gc', SUITE], {
      encoding: 'utf8',
      timeout: 150_000,
      env: { ...process.env, ...TINY_RUNTIME_ENV, BENCH_JSON: '1', COMPARED_WITH: '' },
    });
    assert.equal(result.status, 0, result.stderr);
    const titles = [
      'One step',
      'coroutines in sleep(1)',
      'Memory per parked coroutine',
      'Spawn and join',
      'Cancel',
      'all() of 100 children',
      'Channel ping-pong',
      'Context lookup',
    ];
    for (const title of titles) assert.ok(result.stdout.includes(title), title);
    assert.match(
      result.stdout,
      /\| case \| async\/await \(node v[\d.]+\) \| cosocket \| co [\d.]+ \| Effection [\d.]+ \| Effect [\d.]+ \|/,
    );
    const metrics = new Map(parseSuiteMetrics(result.stdout).metrics.map((m) => [m.name, m]));
    const expected = [
      'step: await (baseline)',
      'step: cosocket call()',
      'step: Effection until()',
      'step: Effect.promise',
      'step vs its await baseline: cosocket call()',
      'timers: cosocket',
      'timers vs async/await: Effection',
      'parked: cosocket coroutine in sleep(60000)',
      'parked vs async fn: Effect fiber in sleep(60000)',
      'spawn+join vs async/await: cosocket',
      'cancel: Effect',
      'cancel vs Effect: cosocket',
      'all vs async/await: co',
      'channel: Effect',
      'context: Effection',
    ];
    for (const name of expected) assert.ok(metrics.has(name), name);
    for (const [name, metric] of metrics) {
      assert.ok(Number.isFinite(metric.value) && metric.value > 0, `${name}: ${metric.value}`);
      assert.equal(metric.control, !/: cosocket/.test(name), name);
    }
    // channel and context light up when the tree under test has them
    const library = cosocket as Readonly<Record<string, unknown>>;
    for (const [key, name] of [
      ['channel', 'Channel'],
      ['context', 'createContext'],
    ] as const) {
      assert.equal(metrics.has(`${key}: cosocket`), typeof library[name] === 'function', key);
    }
    assert.equal(
      result.stdout.includes('n/a (not in this build)'),
      typeof library.Channel !== 'function' || typeof library.createContext !== 'function',
    );
  });
});
