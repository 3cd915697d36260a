/** What a load generator's report says about one run, whichever generator wrote it. */
export interface LoadReport {
  /** requests/s over the run */
  rps: number;
  completed: number;
  seconds: number;
  /** requests that failed outright: connect, receive/read/write, length, timeouts, exceptions */
  failed: number;
  non2xx: number;
  /** bytes of body in the first response (ab), or null when the report does not say */
  documentLength: number | null;
  p50Ms: number;
  p99Ms: number;
  /** responses that kept their connection open (ab -k says; null when the report does not) */
  keepAliveResponses: number | null;
}

// The benchmarks' own errors: not cosocket's, so not in its error table (src/errors/table.ts).

/** A report that does not have the shape its parser knows: names the generator and what was missing. */
export class LoadReportError extends Error {
  readonly code = 'BENCH_ERR_LOAD_REPORT';

  constructor(generator: string, missing: string, report: string) {
    super(`${generator} report has no ${missing}: ${JSON.stringify(report.slice(0, 400))}`);
    this.name = 'LoadReportError';
  }
}

/** A load generator that exited with an error, or could not be started. */
export class LoadGeneratorError extends Error {
  readonly code = 'BENCH_ERR_LOAD_GENERATOR';

  constructor(generator: string, detail: string) {
    super(`${generator}: ${detail}`);
    this.name = 'LoadGeneratorError';
  }
}

export function matchNumber(generator: string, report: string, pattern: RegExp, what: string): number {
  const match = pattern.exec(report);
  if (match === null) throw new LoadReportError(generator, what, report);
  return Number(match[1]);
}
