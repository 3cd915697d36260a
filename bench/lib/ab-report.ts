/** Parses ApacheBench's report (stdout) and its `-e` percentile CSV. */
import { LoadReportError, matchNumber } from './load-report.js';
import type { LoadReport } from './load-report.js';

/** `percentiles`: what `ab -e FILE` wrote, lines of `percent,ms` from 0 to 100. */
export function parseAbReport(report: string, percentiles: string): LoadReport {
  const number = (pattern: RegExp, what: string): number => matchNumber('ab', report, pattern, what);
  const p99 = /^99,([\d.]+)$/m.exec(percentiles);
  if (p99 === null) throw new LoadReportError('ab', 'p99 in its -e percentiles', percentiles);
  const p50 = /^50,([\d.]+)$/m.exec(percentiles);
  const length = /^Document Length:\s+(\d+) bytes/m.exec(report);
  return {
    rps: number(/^Requests per second:\s+([\d.]+)/m, 'Requests per second'),
    completed: number(/^Complete requests:\s+(\d+)/m, 'Complete requests'),
    seconds: number(/^Time taken for tests:\s+([\d.]+) seconds/m, 'Time taken for tests'),
    failed: number(/^Failed requests:\s+(\d+)/m, 'Failed requests'),
    // ab prints the line only when there were some
    non2xx: Number(/^Non-2xx responses:\s+(\d+)/m.exec(report)?.[1] ?? 0),
    documentLength: length === null ? null : Number(length[1]),
    p50Ms: p50 === null ? NaN : Number(p50[1]),
    p99Ms: Number(p99[1]),
    // ab -k sends HTTP/1.0 with Connection: Keep-Alive: a response without Content-Length closes its connection
    keepAliveResponses: Number(/^Keep-Alive requests:\s+(\d+)/m.exec(report)?.[1] ?? 0),
  };
}
