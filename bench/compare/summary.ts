/** From every run's metrics to one line per metric: each side's median, the same-round gains, a verdict. */
import type { Better, Metric } from '../lib/bench-json.js';
import { median } from '../lib/table.js';
import type { RunOutcome } from './run.js';

export type Side = 'base' | 'head';

export interface RunRecord {
  /** 0-based */
  round: number;
  suite: string;
  side: Side;
  outcome: RunOutcome;
}

/** ABBA: base first in odd rounds (1, 3, ...), head first in even ones, so drift in time hits both alike. */
export function roundOrder(round: number): Side[] {
  return round % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
}

/** A metric whose median gain is below this is WORSE (the bar: every median >= 0.97x before). */
export const WORSE_BELOW = 0.97;
/** At or above this a judged metric is called better; in between, ok. */
export const BETTER_FROM = 1 / WORSE_BELOW;

export type Verdict = 'ok' | 'better' | 'WORSE' | 'control' | 'info' | 'no data';

export interface MetricSummary {
  suite: string;
  name: string;
  unit: string;
  better: Better;
  control: boolean;
  /** by round; null where that side's run failed or did not print the metric */
  base: Array<number | null>;
  head: Array<number | null>;
  baseMedian: number;
  headMedian: number;
  /** one per round with both values: head over base, inverted when lower is better (above 1 = better) */
  gains: number[];
  gain: number;
  gainMin: number;
  gainMax: number;
  verdict: Verdict;
}

/** head against base, direction-aware; for figures with no direction, head/base. NaN when either is missing. */
export function gainOf(better: Better, base: number, head: number): number {
  if (!Number.isFinite(base) || !Number.isFinite(head)) return NaN;
  const [over, under] = better === 'lower' ? [base, head] : [head, base];
  if (over === 0 && under === 0) return 1;
  return over / under;
}

export function verdictOf(metric: Pick<MetricSummary, 'better' | 'control' | 'gains' | 'gain'>): Verdict {
  if (metric.control) return 'control';
  if (metric.better === null) return 'info';
  if (metric.gains.length === 0) return 'no data';
  if (metric.gain < WORSE_BELOW) return 'WORSE';
  return metric.gain >= BETTER_FROM ? 'better' : 'ok';
}

export function summarize(records: readonly RunRecord[], suites: readonly string[], rounds: number): MetricSummary[] {
  const summaries: MetricSummary[] = [];
  for (const suite of suites) {
    const byName = new Map<string, MetricSummary>();
    for (const record of records) {
      if (record.suite !== suite || !record.outcome.ok) continue;
      for (const metric of record.outcome.metrics) {
        const summary =
          byName.get(metric.name) ?? byName.set(metric.name, emptySummary(suite, metric, rounds)).get(metric.name)!;
        summary[record.side][record.round] = metric.value;
      }
    }
    for (const summary of byName.values()) summaries.push(complete(summary, rounds));
  }
  return summaries;
}

function emptySummary(suite: string, metric: Metric, rounds: number): MetricSummary {
  return {
    suite,
    name: metric.name,
    unit: metric.unit,
    better: metric.better,
    control: metric.control,
    base: new Array<number | null>(rounds).fill(null),
    head: new Array<number | null>(rounds).fill(null),
    baseMedian: NaN,
    headMedian: NaN,
    gains: [],
    gain: NaN,
    gainMin: NaN,
    gainMax: NaN,
    verdict: 'no data',
  };
}

function complete(summary: MetricSummary, rounds: number): MetricSummary {
  const finite = (values: Array<number | null>): number[] =>
    values.filter((v): v is number => v !== null && Number.isFinite(v));
  const gains: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const gain = gainOf(summary.better, summary.base[round] ?? NaN, summary.head[round] ?? NaN);
    if (!Number.isNaN(gain)) gains.push(gain);
  }
  const base = finite(summary.base);
  const head = finite(summary.head);
  const done: MetricSummary = {
    ...summary,
    baseMedian: base.length === 0 ? NaN : median(base),
    headMedian: head.length === 0 ? NaN : median(head),
    gains,
    gain: gains.length === 0 ? NaN : median(gains),
    gainMin: gains.length === 0 ? NaN : Math.min(...gains),
    gainMax: gains.length === 0 ? NaN : Math.max(...gains),
  };
  return { ...done, verdict: verdictOf(done) };
}
