/**
 * `node dist/bench/compare.js --base DIR --head DIR [--rounds N] [--suites a,b] [--quick] [--out FILE]`:
 * two builds measured interleaved in one run with this tree's bench code (bench/compare/options.ts has
 * the whole usage). Exit status 0 when no judged metric is WORSE and every run finished, else 1; 2 for
 * a usage error.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SUITES } from './lib/suites.js';
import { USAGE, UsageError, parseCompareArgs } from './compare/options.js';
import type { CompareOptions } from './compare/options.js';
import { failedRuns, jsonReport, markdownReport, worseMetrics } from './compare/report.js';
import type { Comparison } from './compare/report.js';
import { runSuite, stopRunning } from './compare/run.js';
import { runTimeoutMs, suiteSettings } from './compare/settings.js';
import type { SuiteEnv } from './compare/settings.js';
import { roundOrder, summarize } from './compare/summary.js';
import type { RunRecord, Side } from './compare/summary.js';
import { checkBenchCode, checkTree } from './compare/tree.js';
import type { Tree } from './compare/tree.js';

/** dist/bench/compare.js -> dist/bench/ */
const BENCH_DIST = fileURLToPath(new URL('./', import.meta.url));
const BENCH_TREE = fileURLToPath(new URL('../../', import.meta.url));

async function compare(options: CompareOptions, trees: Record<Side, Tree>): Promise<Comparison> {
  const startedAt = new Date();
  const started = performance.now();
  const suites = options.suites.map((name) => SUITES.find((s) => s.name === name)!);
  const settings: Record<string, SuiteEnv> = Object.fromEntries(
    suites.map((s) => [s.name, suiteSettings(s.name, options.quick)]),
  );
  const runs: RunRecord[] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const suite of suites) {
      for (const side of roundOrder(round)) {
        const outcome = await runSuite({
          suite: suite.name,
          script: `${BENCH_DIST}${suite.script}`,
          nodeArgs: suite.nodeArgs,
          subjectDir: trees[side].dir,
          env: settings[suite.name] ?? {},
          timeoutMs: runTimeoutMs(options.quick),
        });
        runs.push({ round, suite: suite.name, side, outcome });
        process.stderr.write(
          `round ${round + 1}/${options.rounds} ${suite.name} ${side}: ${outcome.seconds.toFixed(1)} s, ` +
            `${outcome.ok ? `${outcome.metrics.length} metrics` : `FAILED: ${outcome.error}`}\n`,
        );
      }
    }
  }
  return {
    startedAt: startedAt.toISOString(),
    seconds: (performance.now() - started) / 1000,
    node: process.version,
    base: trees.base,
    head: trees.head,
    benchCode: BENCH_TREE,
    rounds: options.rounds,
    order: Array.from({ length: options.rounds }, (_, round) => roundOrder(round)),
    quick: options.quick,
    suites: options.suites,
    settings,
    runs,
    metrics: summarize(runs, options.suites, options.rounds),
  };
}

async function main(argv: readonly string[]): Promise<number> {
  let options: CompareOptions;
  let trees: Record<Side, Tree>;
  try {
    const command = parseCompareArgs(argv);
    if (command.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    options = command.options;
    trees = { base: checkTree('--base', options.base), head: checkTree('--head', options.head) };
    checkBenchCode(
      BENCH_TREE,
      SUITES.filter((s) => options.suites.includes(s.name)).map((s) => s.script),
    );
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`compare: ${err.message}\n(node dist/bench/compare.js --help for usage)\n`);
    return 2;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopRunning();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  const comparison = await compare(options, trees);
  const markdown = markdownReport(comparison);
  process.stdout.write(markdown);
  if (options.out !== null) {
    writeFileSync(`${options.out}.md`, markdown);
    writeFileSync(`${options.out}.json`, jsonReport(comparison));
    process.stderr.write(`wrote ${options.out}.md and ${options.out}.json\n`);
  }
  return worseMetrics(comparison).length === 0 && failedRuns(comparison).length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
