/**
 * bench/compare.ts: its flags, the gain and verdict arithmetic, the BENCH_JSON line, and one real
 * comparison of this tree with itself (the runtime suite, tiny settings). Asserts shapes, never speed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BENCH_JSON_PREFIX, parseSuiteMetrics } from '../../bench/lib/bench-json.js';
import { UsageError, parseCompareArgs } from '../../bench/compare/options.js';
import { suiteSettings } from '../../bench/compare/settings.js';
import { gainOf, roundOrder, summarize } from '../../bench/compare/summary.js';
import type { RunRecord } from '../../bench/compare/summary.js';
import { TINY_RUNTIME_ENV } from './tiny-runtime-env.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPARE = join(ROOT, 'dist', 'bench', 'compare.js');

describe('bench/compare flags', () => {
  it('takes the documented flags, with rounds 4 and every suite by default', () => {
    const parsed = parseCompareArgs(['--base', 'a', '--head', 'b']);
    assert.ok(!parsed.help);
    assert.equal(parsed.options.rounds, 4);
    assert.deepEqual(parsed.options.suites, ['runtime', 'redis', 'http', 'stream', 'send', 'dyups']);
    const full = parseCompareArgs([
      '--base=a',
      '--head=b',
      '--rounds',
      '2',
      '--suites',
      'http,runtime',
      '--quick',
      '--out',
      'x.md',
    ]);
    assert.ok(!full.help);
    assert.deepEqual(full.options, {
      base: 'a',
      head: 'b',
      rounds: 2,
      suites: ['runtime', 'http'],
      quick: true,
      out: 'x',
    });
    assert.deepEqual(parseCompareArgs(['--help']), { help: true });
  });

  it('refuses bad flags with a message naming them', () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /--base DIR is required/],
      [['--base', 'a'], /--head DIR is required/],
      [['--base', 'a', '--head', 'b', '--rounds', '0'], /--rounds must be a whole number >= 1/],
      [['--base', 'a', '--head', 'b', '--rounds', '2.5'], /--rounds/],
      [['--base', 'a', '--head', 'b', '--suites', 'runtime,nope'], /unknown nope \(known: runtime, redis/],
      [['--base', 'a', '--head', 'b', '--fast'], /Unknown option '--fast'/],
      [['--base', 'a', '--head', 'b', 'extra'], /Unexpected argument 'extra'/],
    ];
    for (const [argv, message] of cases)
      assert.throws(
        () => parseCompareArgs(argv),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
        argv.join(' '),
      );
  });

  it('exits 2 with the reason and a pointer to --help; --help prints the usage', () => {
    const bad = spawnSync(process.execPath, [COMPARE, '--base', ROOT, '--head', tmpdir()], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--head .*: no dist\/src\/index\.js/);
    assert.match(bad.stderr, /--help/);
    const help = spawnSync(process.execPath, [COMPARE, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: node dist\/bench\/compare\.js --base DIR --head DIR/);
  });
});

describe('bench/compare arithmetic', () => {
  it('alternates ABBA: base first in rounds 1 and 3, head first in 2 and 4', () => {
    assert.deepEqual([0, 1, 2, 3].map(roundOrder), [
      ['base', 'head'],
      ['head', 'base'],
      ['base', 'head'],
      ['head', 'base'],
    ]);
  });

  it('gains are above 1 when head is better, in both directions', () => {
    assert.equal(gainOf('higher', 100, 110), 1.1);
    assert.equal(gainOf('lower', 110, 100), 1.1);
    assert.equal(gainOf('lower', 0, 0), 1);
    assert.equal(gainOf('lower', 0, 3), 0);
    assert.equal(gainOf(null, 2, 3), 1.5);
    assert.ok(Number.isNaN(gainOf('higher', NaN, 1)));
  });

  it('summarizes per metric: medians, the median same-round gain, its range, the verdict', () => {
    const run = (round: number, side: 'base' | 'head', values: Record<string, number>): RunRecord => ({
      round,
      suite: 's',
      side,
      outcome: {
        ok: true,
        seconds: 1,
        metrics: Object.entries(values).map(([name, value]) => ({
          name,
          value,
          unit: 'u',
          better: name === 'cpu share' ? null : name === 'ms' ? 'lower' : 'higher',
          control: name === 'control',
        })),
      },
    });
    const records: RunRecord[] = [
      run(0, 'base', { rps: 100, ms: 10, control: 50, 'cpu share': 90 }),
      run(0, 'head', { rps: 90, ms: 10, control: 10, 'cpu share': 45 }),
      run(1, 'head', { rps: 95, ms: 8, control: 10, 'cpu share': 45 }),
      run(1, 'base', { rps: 100, ms: 10, control: 50, 'cpu share': 90 }),
      run(2, 'base', { rps: 100, ms: 10, control: 50, 'cpu share': 90 }),
      { round: 2, suite: 's', side: 'head', outcome: { ok: false, seconds: 1, error: 'boom', outputTail: '' } },
    ];
    const byName = new Map(summarize(records, ['s'], 3).map((m) => [m.name, m]));
    const rps = byName.get('rps')!;
    assert.deepEqual(rps.base, [100, 100, 100]);
    assert.deepEqual(rps.head, [90, 95, null]);
    assert.deepEqual(rps.gains, [0.9, 0.95]);
    assert.equal(rps.gain, 0.925);
    assert.equal(rps.gainMin, 0.9);
    assert.equal(rps.verdict, 'WORSE');
    assert.equal(byName.get('ms')!.gain, 1.125);
    assert.equal(byName.get('ms')!.verdict, 'better');
    assert.equal(byName.get('control')!.verdict, 'control');
    assert.equal(byName.get('cpu share')!.verdict, 'info');
  });

  it("reads the BENCH_JSON line among a suite's tables and refuses a malformed one", () => {
    const line = {
      suite: 'x',
      subject: '/t',
      metrics: [{ name: 'a', value: null, unit: 'ms', better: 'lower', control: false }],
    };
    const parsed = parseSuiteMetrics(`| table |\n${BENCH_JSON_PREFIX}${JSON.stringify(line)}\nmore\n`);
    assert.equal(parsed.suite, 'x');
    assert.ok(Number.isNaN(parsed.metrics[0]!.value));
    assert.throws(() => parseSuiteMetrics('no line'), /no BENCH_JSON line/);
    const bad = { ...line, metrics: [{ name: 'a', value: 1, unit: 'ms', better: 'up', control: false }] };
    assert.throws(() => parseSuiteMetrics(`${BENCH_JSON_PREFIX}${JSON.stringify(bad)}`), /metric 0 is malformed/);
  });

  it('gives suites its settings unless the environment sets them', () => {
    assert.deepEqual(suiteSettings('http', false, {}), { ROUNDS: '1' });
    assert.deepEqual(suiteSettings('http', false, { ROUNDS: '3' }), {});
    assert.equal(suiteSettings('stream', true, {}).CHUNKS, '10000');
  });
});

describe('bench/compare end to end', () => {
  it('compares this tree with itself on the runtime suite: two rounds, ABBA, every metric from both sides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-compare-'));
    try {
      const result = spawnSync(
        process.execPath,
        [COMPARE, '--base', ROOT, '--head', ROOT, '--rounds', '2', '--suites', 'runtime', '--out', join(dir, 'report')],
        { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...TINY_RUNTIME_ENV } },
      );
      // same code on both sides: whether noise made a metric WORSE (1) is not this test's business
      assert.ok(result.status === 0 || result.status === 1, `${result.status}: ${result.stderr}`);
      const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
        order: string[][];
        runs: Array<{ round: number; side: string; ok: boolean }>;
        metrics: Array<{ name: string; base: unknown[]; head: unknown[]; control: boolean }>;
        failedRuns: number;
      };
      assert.equal(report.failedRuns, 0);
      assert.deepEqual(
        report.runs.map((r) => `${r.round}${r.side}`),
        ['1base', '1head', '2head', '2base'],
      );
      assert.ok(report.metrics.some((m) => m.name === 'step: cosocket call()' && !m.control));
      assert.ok(report.metrics.some((m) => m.name === 'step: await (baseline)' && m.control));
      for (const m of report.metrics) assert.equal(m.base.concat(m.head).filter((v) => v === null).length, 0, m.name);
      const markdown = readFileSync(join(dir, 'report.md'), 'utf8');
      assert.match(markdown, /\| step: cosocket call\(\) \| ns\/step \|/);
      assert.equal(result.stdout, markdown);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
