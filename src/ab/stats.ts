import type { Sample } from './samples.js';

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
  /** The samples sorted by total time, as ab leaves them for its percentiles, -e and -g. */
  byTotal: Sample[];
}

/** ab's median: for an odd count the mean of the two values at n/2 and n/2+1 (sic), else the one at n/2. */
function median(sorted: readonly Sample[], value: (s: Sample) => number): number {
  const n = sorted.length;
  const half = Math.floor(n / 2);
  if (n > 1 && n % 2 === 1) return Math.trunc((value(sorted[half]!) + value(sorted[half + 1]!)) / 2);
  return value(sorted[half]!);
}

function timeRow(samples: Sample[], value: (s: Sample) => number): TimeRow {
  const n = samples.length;
  let min = Infinity;
  let max = 0;
  let total = 0;
  for (const s of samples) {
    const v = value(s);
    if (v < min) min = v;
    if (v > max) max = v;
    total += v;
  }
  const mean = Math.trunc(total / n);
  let squares = 0;
  for (const s of samples) squares += (value(s) - mean) ** 2;
  samples.sort((a, b) => value(a) - value(b));
  return { min, mean, sd: n > 1 ? Math.sqrt(squares / (n - 1)) : 0, median: median(samples, value), max };
}

/** ab's output_results figures, computed as ab computes them (integer microseconds, its sorts). */
export function abStats(rows: Sample[]): AbStats | null {
  if (rows.length === 0) return null;
  const samples = [...rows];
  const connect = timeRow(samples, (s) => s.ctime);
  const processing = timeRow(samples, (s) => s.time - s.ctime);
  const waiting = timeRow(samples, (s) => s.wait);
  const total = timeRow(samples, (s) => s.time);
  return { connect, processing, waiting, total, byTotal: samples };
}

/** ap_round_ms: microseconds to whole milliseconds, half up. */
export const roundMs = (us: number): number => Math.trunc((us + 500) / 1000);

export const PERCENTS = [50, 66, 75, 80, 90, 95, 98, 99, 100] as const;

/** The percentile table's values (ms), from samples sorted by total time. */
export function percentiles(byTotal: readonly Sample[]): Record<string, number> {
  const n = byTotal.length;
  const out: Record<string, number> = {};
  for (const p of PERCENTS)
    out[String(p)] = roundMs(p === 100 ? byTotal[n - 1]!.time : byTotal[Math.floor((n * p) / 100)]!.time);
  return out;
}
