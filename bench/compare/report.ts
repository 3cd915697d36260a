/** bench/compare.ts's report: markdown for people, JSON with every round's values for tools. */
import { markdownTable } from '../lib/table.js';
import type { SuiteEnv } from './settings.js';
import { WORSE_BELOW } from './summary.js';
import type { MetricSummary, RunRecord, Side } from './summary.js';
import type { Tree } from './tree.js';

export interface Comparison {
  startedAt: string;
  seconds: number;
  node: string;
  base: Tree;
  head: Tree;
  /** the tree whose dist/bench ran, for both sides */
  benchCode: string;
  rounds: number;
  order: Side[][];
  quick: boolean;
  suites: string[];
  settings: Record<string, SuiteEnv>;
  runs: RunRecord[];
  metrics: MetricSummary[];
}

export function worseMetrics(comparison: Pick<Comparison, 'metrics'>): MetricSummary[] {
  return comparison.metrics.filter((m) => m.verdict === 'WORSE');
}

export function failedRuns(comparison: Pick<Comparison, 'runs'>): RunRecord[] {
  return comparison.runs.filter((r) => !r.outcome.ok);
}

/** A figure with as many decimals as its size needs. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return '–';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  const size = Math.abs(value);
  return value.toFixed(size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : 3);
}

/** Gains always with two decimals: the bar is 0.97. */
function gainText(value: number): string {
  if (Number.isNaN(value)) return '–';
  return Number.isFinite(value) ? value.toFixed(2) : formatNumber(value);
}

function ratio(value: number): string {
  return Number.isNaN(value) ? '–' : `${gainText(value)}x`;
}

function duration(seconds: number): string {
  return seconds < 120 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(1)} min`;
}

function settingsText(settings: SuiteEnv): string {
  const entries = Object.entries(settings);
  return entries.length === 0 ? 'its defaults' : entries.map(([k, v]) => `${k}=${v}`).join(' ');
}

export function markdownReport(c: Comparison): string {
  const judged = c.metrics.filter((m) => m.verdict !== 'control' && m.verdict !== 'info');
  const worse = worseMetrics(c);
  const failed = failedRuns(c);
  const lines = [
    '# Benchmark comparison',
    '',
    `- base: \`${c.base.dir}\` (${c.base.commit})`,
    `- head: \`${c.head.dir}\` (${c.head.commit})`,
    `- bench code (both sides): \`${c.benchCode}\``,
    `- ${c.rounds} round(s), order ${c.order.map((o) => o.join(', ')).join(' | ')}; node ${c.node}; started ${c.startedAt}, took ${duration(c.seconds)}${c.quick ? '; --quick: a smoke test, not figures' : ''}`,
    `- suite settings: ${c.suites.map((s) => `${s}: ${settingsText(c.settings[s] ?? {})}`).join('; ')}`,
    '',
    `Gain: head against base, above 1 is better (inverted for times and sizes); the median over rounds of the ` +
      `same-round ratio, with its range. WORSE: a median gain below ${WORSE_BELOW}. Controls do not run the code ` +
      `under test; info figures describe a run (for them the gain is plain head/base).`,
    '',
    worse.length === 0
      ? `**No metric WORSE** (${judged.length} judged).`
      : `**${worse.length} of ${judged.length} judged metrics WORSE**:`,
  ];
  if (worse.length > 0) lines.push('', ...worse.map((m) => `- ${m.suite} / ${m.name}: ${ratio(m.gain)}`));
  if (failed.length > 0) lines.push('', `**${failed.length} run(s) failed**: see the end of this report.`);
  for (const suite of c.suites) {
    const metrics = c.metrics.filter((m) => m.suite === suite);
    lines.push('', `## ${suite}`, '');
    if (metrics.length === 0) {
      lines.push('No metrics: every run of this suite failed.');
      continue;
    }
    lines.push(
      markdownTable(
        ['metric', 'unit', 'base median', 'head median', 'gain', 'rounds', 'verdict'],
        metrics.map((m) => [
          m.name.replace(/\|/g, '\\|'),
          m.unit,
          formatNumber(m.baseMedian),
          formatNumber(m.headMedian),
          ratio(m.gain),
          m.gains.length === 0 ? '–' : `${gainText(m.gainMin)}–${gainText(m.gainMax)} (${m.gains.length})`,
          m.verdict === 'WORSE' ? '**WORSE**' : m.verdict,
        ]),
      ),
    );
  }
  if (failed.length > 0) {
    lines.push('', '## Failed runs');
    for (const run of failed) {
      if (run.outcome.ok) continue;
      lines.push(
        '',
        `round ${run.round + 1}, ${run.suite}, ${run.side}: ${run.outcome.error}`,
        '',
        '```',
        run.outcome.outputTail,
        '```',
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Everything, values by round included; NaN and Infinity become null (JSON has neither). */
export function jsonReport(c: Comparison): string {
  return `${JSON.stringify(
    {
      ...c,
      runs: c.runs.map(({ round, suite, side, outcome }) => ({
        round: round + 1,
        suite,
        side,
        ok: outcome.ok,
        seconds: outcome.seconds,
        ...(outcome.ok
          ? { metrics: outcome.metrics.length }
          : { error: outcome.error, outputTail: outcome.outputTail }),
      })),
      worse: worseMetrics(c).map((m) => `${m.suite} / ${m.name}`),
      failedRuns: failedRuns(c).length,
    },
    null,
    2,
  )}\n`;
}
