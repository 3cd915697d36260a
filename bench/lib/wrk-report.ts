/** Parses wrk's report (stdout of `wrk --latency`). */
import { LoadReportError, matchNumber } from './load-report.js';
import type { LoadReport } from './load-report.js';

const MS_PER_UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string, unit: string): number {
  return Number(text) * (MS_PER_UNIT[unit] ?? NaN);
}

export function parseWrkReport(report: string): LoadReport {
  const number = (pattern: RegExp, what: string): number => matchNumber('wrk', report, pattern, what);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(report);
  if (total === null) throw new LoadReportError('wrk', '"N requests in T" line', report);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(report);
  if (p99 === null) throw new LoadReportError('wrk', 'p99 in its latency distribution (run with --latency)', report);
  const p50 = /^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(report);
  // printed only when non-zero: "Socket errors: connect 0, read 12, write 0, timeout 0"
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  return {
    rps: number(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec'),
    completed: Number(total[1]),
    seconds: durationMs(total[2]!, total[3]!) / 1000,
    failed: socket === null ? 0 : socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(report)?.[1] ?? 0),
    documentLength: null,
    p50Ms: p50 === null ? NaN : durationMs(p50[1]!, p50[2]!),
    p99Ms: durationMs(p99[1]!, p99[2]!),
    keepAliveResponses: null,
  };
}
