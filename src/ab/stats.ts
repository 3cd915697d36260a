import type { Sample, SampleLog } from './samples.js';

/** One row of ab's Connection Times table, in microseconds (sd as a double). */
export interface TimeRow {
  min: number;
  mean: number;
  sd: number;
  median: number;
  max: number;
}

export interface AbStats {
  connect: TimeRow;
  processing: TimeRow;
  waiting: TimeRow;
  total: TimeRow;
  /** Every total time, sorted: ab's percentiles and -e come from these. */
  totals: Float64Array;
}

/** ab's median: for an odd count the mean of the two values at n/2 and n/2+1 (sic), else the one at n/2. */
function median(sorted: Float64Array): number {
  const n = sorted.length;
  const half = Math.floor(n / 2);
  if (n > 1 && n % 2 === 1) return Math.trunc((sorted[half]! + sorted[half + 1]!) / 2);
  return sorted[half]!;
}

/** Sorts `values` in place and returns its row of the table. */
function timeRow(values: Float64Array): TimeRow {
  const n = values.length;
  let total = 0;
  for (const v of values) total += v;
  const mean = Math.trunc(total / n);
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  values.sort();
  return {
    min: values[0]!,
    mean,
    sd: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
    median: median(values),
    max: values[n - 1]!,
  };
}

const computed = new WeakMap<SampleLog, AbStats>();

/** ab's output_results figures, computed as ab computes them (integer microseconds, its medians). */
export function abStats(samples: SampleLog): AbStats | null {
  if (samples.length === 0) return null;
  const known = computed.get(samples);
  if (known !== undefined) return known;
  const ctime = samples.column(1);
  const time = samples.column(2);
  const processing = time.map((t, i) => t - ctime[i]!);
  const stats: AbStats = {
    connect: timeRow(ctime),
    processing: timeRow(processing),
    waiting: timeRow(samples.column(3)),
    total: timeRow(time),
    totals: time,
  };
  computed.set(samples, stats);
  return stats;
}

/** The samples sorted by total time, as ab leaves them for -g. */
export function rowsByTotal(samples: SampleLog): Sample[] {
  return samples.rows().sort((a, b) => a.time - b.time);
}

/** ap_round_ms: microseconds to whole milliseconds, half up. */
export const roundMs = (us: number): number => Math.trunc((us + 500) / 1000);

export const PERCENTS = [50, 66, 75, 80, 90, 95, 98, 99, 100] as const;

/** The percentile table's values (ms), from the sorted total times. */
export function percentiles(totals: Float64Array): Record<string, number> {
  const n = totals.length;
  const out: Record<string, number> = {};
  for (const p of PERCENTS) out[String(p)] = roundMs(p === 100 ? totals[n - 1]! : totals[Math.floor((n * p) / 100)]!);
  return out;
}
