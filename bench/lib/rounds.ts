/** Figures from interleaved rounds: medians with the round-by-round range, and paired ratios. */
import { fixed, median } from './table.js';

export function range(values: readonly number[]): { min: number; max: number } {
  return { min: Math.min(...values), max: Math.max(...values) };
}

/** `median (min–max)`, with `digits` decimals. */
export function medianWithRange(values: readonly number[], digits = 0): string {
  const { min, max } = range(values);
  return `${fixed(median(values), digits)} (${fixed(min, digits)}–${fixed(max, digits)})`;
}

/** a[i] / b[i] for each round i: both measured in the same round, so drift between rounds cancels. */
export function roundRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.slice(0, Math.min(a.length, b.length)).map((value, i) => value / b[i]!);
}
