/** bench/http's figures as BENCH_JSON metrics (bench/lib/bench-json.ts): one set per row and client mode, and the ratios. */
import type { MetricLog } from '../lib/bench-json.js';
import type { LoadFigures } from '../lib/load-generator.js';
import { median } from '../lib/table.js';
import { TARGETS } from './targets.js';
import type { ServerKind } from './targets.js';

/** Servers that run the code under test; the hand-written baselines and the nginx ceilings are controls. */
const SUBJECT_SERVERS: ReadonlySet<ServerKind> = new Set<ServerKind>(['cosocket', 'co-constant']);

export interface MetricRow {
  id: string;
  label: string;
  ceiling: boolean;
}

export interface MetricRatio {
  label: string;
  median: number;
  byServerCpu: { median: number };
}

function isControl(row: MetricRow): boolean {
  if (row.ceiling) return true;
  const target = TARGETS.find((t) => t.id === row.id);
  return target === undefined || !SUBJECT_SERVERS.has(target.server);
}

/** The server's CPU time per request in µs. */
function micros(run: LoadFigures): number {
  return (((run.cpu.server ?? NaN) / 100) * 1e6) / run.rps;
}

export function logHttpMetrics(
  log: MetricLog,
  rows: readonly MetricRow[],
  runs: ReadonlyMap<string, LoadFigures[]>,
  modes: ReadonlyArray<{ key: string }>,
  ratios: readonly MetricRatio[],
): void {
  const med = (values: number[]): number => {
    const finite = values.filter(Number.isFinite);
    return finite.length === 0 ? NaN : median(finite);
  };
  for (const row of rows) {
    const control = isControl(row);
    for (const { key } of modes) {
      const list = runs.get(`${row.id}:${key}`) ?? [];
      const at = `${row.label} (${key === 'k' ? '-k' : 'a connection per request'})`;
      log.add(`req/s: ${at}`, med(list.map((r) => r.rps)), 'req/s', 'higher', control);
      log.add(`p99: ${at}`, med(list.map((r) => r.p99Ms)), 'ms', 'lower', control);
      log.add(`server CPU per request: ${at}`, med(list.map(micros)), 'µs', 'lower', control);
      log.add(`failed or non-2xx: ${at}`, sum(list.map((r) => r.failed + r.non2xx)), 'requests', 'lower', control);
      log.add(
        `CPU ${list[0]?.generator ?? 'generator'}: ${at}`,
        med(list.map((r) => r.generatorCpu)),
        '%',
        null,
        control,
      );
      for (const name of ['server', 'redis', 'machine'])
        log.add(`CPU ${name}: ${at}`, med(list.map((r) => r.cpu[name] ?? NaN)), '%', null, control);
    }
  }
  for (const ratio of ratios) {
    log.add(`ratio: ${ratio.label}`, ratio.median, 'x', 'higher');
    log.add(`ratio by server CPU per request: ${ratio.label}`, ratio.byServerCpu.median, 'x', 'higher');
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
