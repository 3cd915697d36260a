import type { LoadResult, Sample } from './load.js';

export interface RunDescription {
  url: URL;
  concurrency: number;
  keepalive: boolean;
}

interface Row {
  min: number;
  mean: number;
  sd: number;
  median: number;
  max: number;
}

function row(values: number[]): Row {
  if (values.length === 0) return { min: 0, mean: 0, sd: 0, median: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1);
  return {
    min: sorted[0]!,
    mean,
    sd: Math.sqrt(variance),
    median: sorted[Math.floor((sorted.length - 1) / 2)]!,
    max: sorted[sorted.length - 1]!,
  };
}

const PERCENTS = [50, 66, 75, 80, 90, 95, 98, 99, 100] as const;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  if (p === 100) return sorted[sorted.length - 1]!;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Every figure of ab's report, as numbers (`cosocket ab --json`). */
export function summarize(run: RunDescription, result: LoadResult) {
  const totals = result.samples.map((s: Sample) => s.total).sort((a, b) => a - b);
  const done = result.completed;
  const failed =
    result.failures.connect + result.failures.receive + result.failures.length + result.failures.exceptions;
  return {
    serverSoftware: result.serverSoftware,
    serverHostname: run.url.hostname,
    serverPort: Number(run.url.port || 80),
    documentPath: `${run.url.pathname}${run.url.search}`,
    documentLength: result.documentLength ?? 0,
    concurrencyLevel: run.concurrency,
    timeTakenSeconds: result.seconds,
    completeRequests: done,
    failedRequests: failed,
    failures: result.failures,
    non2xxResponses: result.non2xx,
    keepAliveRequests: result.keepAliveResponses,
    totalTransferred: result.totalBytes,
    htmlTransferred: result.htmlBytes,
    requestsPerSecond: done / result.seconds,
    timePerRequestMs: (run.concurrency * result.seconds * 1000) / Math.max(1, done),
    timePerRequestAcrossAllMs: (result.seconds * 1000) / Math.max(1, done),
    transferRateKBps: result.totalBytes / 1024 / result.seconds,
    connectionTimes: {
      connect: row(result.samples.map((s) => s.connect)),
      processing: row(result.samples.map((s) => s.total - s.connect)),
      waiting: row(result.samples.map((s) => s.waiting)),
      total: row(totals),
    },
    percentiles: Object.fromEntries(PERCENTS.map((p) => [String(p), percentile(totals, p)])),
  };
}

const pad = (label: string): string => label.padEnd(24);
const ms = (value: number): string => String(Math.round(value)).padStart(5);

/** ApacheBench's report, line for line. */
export function formatReport(run: RunDescription, result: LoadResult): string {
  const s = summarize(run, result);
  const times = s.connectionTimes;
  const failures = result.failures;
  const lines = [
    '',
    `${pad('Server Software:')}${result.serverSoftware}`,
    `${pad('Server Hostname:')}${run.url.hostname}`,
    `${pad('Server Port:')}${run.url.port || 80}`,
    '',
    `${pad('Document Path:')}${run.url.pathname}${run.url.search}`,
    `${pad('Document Length:')}${result.documentLength ?? 0} bytes`,
    '',
    `${pad('Concurrency Level:')}${run.concurrency}`,
    `${pad('Time taken for tests:')}${result.seconds.toFixed(3)} seconds`,
    `${pad('Complete requests:')}${result.completed}`,
    `${pad('Failed requests:')}${s.failedRequests}`,
  ];
  if (s.failedRequests > 0) {
    lines.push(
      `   (Connect: ${failures.connect}, Receive: ${failures.receive}, Length: ${failures.length}, Exceptions: ${failures.exceptions})`,
    );
  }
  if (result.non2xx > 0) lines.push(`${pad('Non-2xx responses:')}${result.non2xx}`);
  if (run.keepalive) lines.push(`${pad('Keep-Alive requests:')}${result.keepAliveResponses}`);
  lines.push(
    `${pad('Total transferred:')}${result.totalBytes} bytes`,
    `${pad('HTML transferred:')}${result.htmlBytes} bytes`,
    `${pad('Requests per second:')}${s.requestsPerSecond.toFixed(2)} [#/sec] (mean)`,
    `${pad('Time per request:')}${s.timePerRequestMs.toFixed(3)} [ms] (mean)`,
    `${pad('Time per request:')}${s.timePerRequestAcrossAllMs.toFixed(3)} [ms] (mean, across all concurrent requests)`,
    `${pad('Transfer rate:')}${s.transferRateKBps.toFixed(2)} [Kbytes/sec] received`,
    '',
    'Connection Times (ms)',
    '              min  mean[+/-sd] median   max',
  );
  for (const [label, r] of [
    ['Connect:', times.connect],
    ['Processing:', times.processing],
    ['Waiting:', times.waiting],
    ['Total:', times.total],
  ] as const) {
    lines.push(
      `${label.padEnd(12)}${ms(r.min)} ${ms(r.mean)} ${r.sd.toFixed(1).padStart(5)} ${ms(r.median)} ${ms(r.max)}`,
    );
  }
  lines.push('', 'Percentage of the requests served within a certain time (ms)');
  const pct = s.percentiles;
  for (const p of PERCENTS) {
    lines.push(`${String(p).padStart(4)}% ${ms(pct[String(p)]!).padStart(6)}${p === 100 ? ' (longest request)' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
