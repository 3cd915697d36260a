/**
 * bench/runtime: cosocket's runtime beside async/await, co, Effection and Effect — one step, 100,000
 * timers, memory per parked coroutine, spawn+join, cancellation, all(), a channel ping-pong and a context
 * lookup. Run with `npm run bench:runtime` (needs --expose-gc, which the script passes); sizes and rounds
 * from the environment (sizes.ts). Every case runs every round, its runners in an order turned by one each
 * round; figures are medians with their range over the rounds, and ratios are taken within a round (so
 * drift between rounds cancels) against async/await, since absolute numbers drift on a shared machine.
 */
import { MetricLog } from '../lib/bench-json.js';
import { subjectDir } from '../lib/subject.js';
import { fixed } from '../lib/table.js';
import { allCase } from './cases/all.js';
import { cancelCase } from './cases/cancel.js';
import { channelCase } from './cases/channel.js';
import { contextCase } from './cases/context.js';
import { parkedCase } from './cases/parked.js';
import { spawnJoinCase } from './cases/spawn-join.js';
import { stepCase } from './cases/step.js';
import { timersCase } from './cases/timers.js';
import { measureUnyieldedCheck } from './dev-mode.js';
import { collectGarbage, runRounds } from './harness.js';
import { LIBRARY_LABELS, librariesFromEnv } from './libraries.js';
import { caseTable, logMetrics, medianOf, medianRatio, summaryTable } from './report.js';
import { sizesFromEnv } from './sizes.js';

/** A target: the figure, its bound, and how to show it (`x` for ratios, `B` for bytes). */
type Target = [label: string, value: number, bound: number, unit: 'x' | 'B'];

function targetLine([label, value, bound, unit]: Target): string {
  if (Number.isNaN(value)) return `  ${label}: n/a`;
  const shown = unit === 'x' ? `${fixed(value)}x` : `${fixed(value, 0)} B`;
  return `  ${label}: ${shown} ${value <= bound ? 'MET' : 'MISSED'}`;
}

const CASE_KEYS = ['step', 'timers', 'parked', 'spawn+join', 'cancel', 'all', 'channel', 'context'];

/** CASES: a comma-separated subset of the case keys to run (all when unset); an unknown one stops the run. */
function casesFromEnv(): string[] | null {
  const text = process.env.CASES;
  if (text === undefined || text.trim() === '') return null;
  const keys = text.split(',').map((s) => s.trim());
  const unknown = keys.filter((k) => !CASE_KEYS.includes(k));
  if (unknown.length > 0) {
    process.stderr.write(`CASES=${text}: unknown ${unknown.join(', ')} (known: ${CASE_KEYS.join(', ')})\n`);
    process.exit(2);
  }
  return keys;
}

async function main(): Promise<void> {
  collectGarbage(); // fails at once without --expose-gc
  const sizes = sizesFromEnv();
  const libraries = librariesFromEnv();
  const only = casesFromEnv();
  const cases = [
    stepCase(sizes),
    timersCase(sizes),
    parkedCase(sizes),
    spawnJoinCase(sizes),
    cancelCase(sizes),
    allCase(sizes),
    channelCase(sizes),
    contextCase(sizes),
  ]
    .filter((c) => only === null || only.includes(c.key))
    .map((c) => ({ ...c, runners: c.runners.filter((r) => libraries.includes(r.library)) }));
  const started = performance.now();
  const seconds = (): string => ((performance.now() - started) / 1000).toFixed(0);
  const results = await runRounds(cases, sizes.rounds, {
    onRound(round, spent) {
      const byCase = [...spent].map(([key, s]) => `${key} ${s.toFixed(1)}`).join(', ');
      process.stderr.write(`bench/runtime: round ${round + 1} of ${sizes.rounds} done, ${seconds()} s (${byCase})\n`);
    },
  });

  console.log(
    `\nbench/runtime: ${sizes.rounds} interleaved rounds, ${seconds()} s, node ${process.version}; ` +
      `${libraries.map((l) => LIBRARY_LABELS[l]).join(', ')}. Effection runs 1/${sizes.effectionDivisor} ` +
      `of each size (EFFECTION_DIVISOR); figures are per item.`,
  );
  for (const c of cases) {
    console.log(`\n${c.title}, ${c.unit}\n`);
    console.log(caseTable(c, results.get(c.key)!));
  }
  console.log('\nSummary: async/await per item, the others as a ratio to it in the same round, median (range)\n');
  console.log(summaryTable(cases, results, libraries));

  const step = (runner: string, baseline = 'await (baseline)'): number =>
    medianRatio(results, 'step', runner, baseline);
  const targets: Target[] = [
    [
      'callback-woken effect step <= 1.5x await',
      step('cosocket callback effect', 'await callback (baseline 2)'),
      1.5,
      'x',
    ],
    ['yield promise step <= 1.5x await', step('cosocket yield promise'), 1.5, 'x'],
    ['yield* call(promise) step <= 1.5x await', step('cosocket call()'), 1.5, 'x'],
    ['parked coroutine <= 1 KB', medianOf(results, 'parked', 'cosocket coroutine in sleep(60000)'), 1024, 'B'],
    ["cancel <= Effect's interruption", medianRatio(results, 'cancel', 'cosocket', 'Effect'), 1, 'x'],
    ['spawn+join <= 3x async fn', medianRatio(results, 'spawn+join', 'cosocket', 'async fn'), 3, 'x'],
    ['all(1000) <= 2x Promise.all', medianRatio(results, 'all', 'cosocket', 'async fn'), 2, 'x'],
  ];
  const shown = targets.filter(([, value]) => !Number.isNaN(value) || only === null);
  console.log(`\nTargets\n${shown.map(targetLine).join('\n')}`);

  const log = new MetricLog('runtime', subjectDir);
  logMetrics(log, cases, results);
  log.print();
}

// the unyielded check's cost first; everything after runs with it off (production), as bench/lib/subject.ts sets
const devModeSizes = sizesFromEnv();
if (process.env.DEV_MODE !== 'skip') await measureUnyieldedCheck(devModeSizes.steps, devModeSizes.rounds);
await main();
