/**
 * The machine-readable line a suite prints for bench/compare.ts: `BENCH_JSON {"suite":…,"metrics":[…]}`
 * on stdout, only when the environment has BENCH_JSON=1 (a plain run prints its tables alone).
 */

/** Which way a metric improves; null for figures that describe the run rather than rate it (CPU shares, counts). */
export type Better = 'higher' | 'lower' | null;

export interface Metric {
  /** unique within its suite, stable across trees: the key base and head runs are matched by */
  name: string;
  value: number;
  unit: string;
  better: Better;
  /** true for a figure that does not run the code under test (a hand-written baseline, nginx, the load generator) */
  control: boolean;
}

export interface SuiteMetrics {
  suite: string;
  /** the checkout whose library was measured (bench/lib/subject.ts) */
  subject: string;
  metrics: Metric[];
}

export const BENCH_JSON_PREFIX = 'BENCH_JSON ';

/** True when the run was asked for its metrics (by bench/compare.ts). */
export function metricsRequested(): boolean {
  return process.env.BENCH_JSON === '1';
}

/** Collects a suite's figures as it prints them; `print` writes the line when BENCH_JSON=1. */
export class MetricLog {
  readonly metrics: Metric[] = [];

  constructor(
    readonly suite: string,
    readonly subject: string,
  ) {}

  add(name: string, value: number, unit: string, better: Better, control = false): void {
    this.metrics.push({ name, value, unit, better, control });
  }

  print(): void {
    if (!metricsRequested()) return;
    const line: SuiteMetrics = { suite: this.suite, subject: this.subject, metrics: this.metrics };
    process.stdout.write(`\n${BENCH_JSON_PREFIX}${JSON.stringify(line)}\n`);
  }
}

/** The BENCH_JSON line in a suite's stdout, checked; throws naming what is wrong. */
export function parseSuiteMetrics(stdout: string): SuiteMetrics {
  const line = stdout.split('\n').find((l) => l.startsWith(BENCH_JSON_PREFIX));
  if (line === undefined) throw new Error(`no ${BENCH_JSON_PREFIX.trim()} line in the suite's output`);
  const parsed: unknown = JSON.parse(line.slice(BENCH_JSON_PREFIX.length));
  if (
    !isRecord(parsed) ||
    typeof parsed.suite !== 'string' ||
    typeof parsed.subject !== 'string' ||
    !Array.isArray(parsed.metrics)
  ) {
    throw new Error(`${BENCH_JSON_PREFIX.trim()} line is not {suite, subject, metrics[]}: ${line.slice(0, 200)}`);
  }
  const metrics = parsed.metrics.map((m: unknown, i): Metric => {
    if (
      !isRecord(m) ||
      typeof m.name !== 'string' ||
      // JSON has no NaN: a figure the run could not take arrives as null
      (typeof m.value !== 'number' && m.value !== null) ||
      typeof m.unit !== 'string' ||
      (m.better !== 'higher' && m.better !== 'lower' && m.better !== null) ||
      typeof m.control !== 'boolean'
    ) {
      throw new Error(`${BENCH_JSON_PREFIX.trim()} metric ${i} is malformed: ${JSON.stringify(m).slice(0, 200)}`);
    }
    return { name: m.name, value: m.value ?? NaN, unit: m.unit, better: m.better, control: m.control };
  });
  return { suite: parsed.suite, subject: parsed.subject, metrics };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
