import { boundLine } from './cpu.js';
import type { LoadResult } from './load.js';
import type { SampleLog } from './samples.js';
import { PERCENTS, abStats, percentiles, roundMs, rowsByTotal } from './stats.js';
import type { AbStats, TimeRow } from './stats.js';

export interface RunDescription {
  hostname: string;
  port: number;
  /** The request target as ab prints it. */
  path: string;
  concurrency: number;
  keepalive: boolean;
  /** -l */
  variableLength: boolean;
  /** Bytes of each request (head and body) when -p/-u sends a body; 0 otherwise. */
  postedPerRequest: number;
  /** Requests written (ab's `started`). */
  requestsSent: number;
  /** -d turns the percentile table off, -S the confidence columns. */
  showPercentiles: boolean;
  showConfidence: boolean;
}

function failed(result: LoadResult): number {
  const f = result.failures;
  return f.connect + f.receive + f.length + f.exceptions;
}

const fixed = (value: number, digits: number): string => value.toFixed(digits);
const int = (value: number, width: number): string => String(value).padStart(width);

/** ApacheBench's report, byte for byte in its formats (from the blank lines after the progress). */
export function formatReport(run: RunDescription, result: LoadResult): string {
  const out: string[] = [];
  const line = (text: string): void => {
    out.push(text);
  };
  const posted = run.postedPerRequest * run.requestsSent;
  const seconds = result.seconds;
  line('');
  line('');
  line(`Server Software:        ${result.serverSoftware}`);
  line(`Server Hostname:        ${run.hostname}`);
  line(`Server Port:            ${run.port}`);
  line('');
  line(`Document Path:          ${run.path}`);
  line(
    run.variableLength
      ? 'Document Length:        Variable'
      : `Document Length:        ${result.documentLength ?? 0} bytes`,
  );
  line('');
  line(`Concurrency Level:      ${run.concurrency}`);
  line(`Time taken for tests:   ${fixed(seconds, 3)} seconds`);
  line(`Complete requests:      ${result.done}`);
  line(`Failed requests:        ${failed(result)}`);
  const f = result.failures;
  if (failed(result) > 0)
    line(`   (Connect: ${f.connect}, Receive: ${f.receive}, Length: ${f.length}, Exceptions: ${f.exceptions})`);
  if (result.non2xx > 0) line(`Non-2xx responses:      ${result.non2xx}`);
  if (run.keepalive) line(`Keep-Alive requests:    ${result.doneKeepAlive}`);
  line(`Total transferred:      ${result.totalRead} bytes`);
  if (run.postedPerRequest > 0) line(`Total body sent:        ${posted}`);
  line(`HTML transferred:       ${result.bodyRead} bytes`);
  if (seconds > 0 && result.done > 0) {
    line(`Requests per second:    ${fixed(result.done / seconds, 2)} [#/sec] (mean)`);
    line(`Time per request:       ${fixed((run.concurrency * seconds * 1000) / result.done, 3)} [ms] (mean)`);
    line(
      `Time per request:       ${fixed((seconds * 1000) / result.done, 3)} [ms] (mean, across all concurrent requests)`,
    );
    line(`Transfer rate:          ${fixed(result.totalRead / 1024 / seconds, 2)} [Kbytes/sec] received`);
    if (run.postedPerRequest > 0) {
      line(`                        ${fixed(posted / 1024 / seconds, 2)} kb/s sent`);
      line(`                        ${fixed((result.totalRead + posted) / 1024 / seconds, 2)} kb/s total`);
    }
  }
  const stats = abStats(result.samples);
  if (stats !== null) {
    line('');
    line('Connection Times (ms)');
    const rows: [string, TimeRow][] = [
      ['Connect:    ', stats.connect],
      ['Processing: ', stats.processing],
      ['Waiting:    ', stats.waiting],
      ['Total:      ', stats.total],
    ];
    if (run.showConfidence) {
      line('              min  mean[+/-sd] median   max');
      for (const [label, r] of rows)
        line(
          `${label}${int(roundMs(r.min), 5)} ${int(roundMs(r.mean), 4)} ${fixed(r.sd / 1000, 1).padStart(5)} ` +
            `${int(roundMs(r.median), 6)} ${int(roundMs(r.max), 7)}`,
        );
      for (const [what, r] of [
        ['the initial connection time', stats.connect],
        ['the processing time', stats.processing],
        ['the waiting time', stats.waiting],
        ['the total time', stats.total],
      ] as const) {
        const d = Math.abs(roundMs(r.mean) - roundMs(r.median));
        const sd = r.sd / 1000;
        if (d > 2 * sd) {
          line(`ERROR: The median and mean for ${what} are more than twice the standard`);
          line('       deviation apart. These results are NOT reliable.');
        } else if (d > sd) {
          line(`WARNING: The median and mean for ${what} are not within a normal deviation`);
          line('        These results are probably not that reliable.');
        }
      }
    } else {
      line('              min   avg   max');
      for (const [label, r] of rows)
        line(`${label}${int(roundMs(r.min), 5)} ${int(roundMs(r.mean), 5)}${int(roundMs(r.max), 5)}`);
    }
    if (run.showPercentiles && result.done > 1) {
      line('');
      line('Percentage of the requests served within a certain time (ms)');
      const pct = percentiles(stats.totals);
      for (const p of PERCENTS)
        line(p === 100 ? ` 100%  ${int(pct['100']!, 5)} (longest request)` : `  ${p}%  ${int(pct[String(p)]!, 5)}`);
    }
  }
  const bound = boundLine(result.cpu);
  if (bound !== null) {
    line('');
    line(bound);
  }
  return `${out.join('\n')}\n`;
}

/** ab -e: "Percentage served,Time in ms" and 101 rows, from the samples sorted by total time. */
export function formatCsv(stats: AbStats): string {
  const totals = stats.totals;
  const n = totals.length;
  const lines = ['Percentage served,Time in ms'];
  for (let i = 0; i <= 100; i++) {
    // ab reads one past the end for small counts; the last sample stands in for it here
    const index = i === 0 ? 0 : i === 100 ? n - 1 : Math.min(n - 1, Math.floor(0.5 + (n * i) / 100));
    lines.push(`${i},${fixed(totals[index]! / 1000, 3)}`);
  }
  return `${lines.join('\n')}\n`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** apr_ctime: "Mon Dec 07 11:23:16 2026", local time. */
function aprCtime(epochMicros: number): string {
  const d = new Date(epochMicros / 1000);
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`
  );
}

/** ab -g: gnuplot's tab-separated rows, one per request, sorted by total time as ab leaves them. */
export function formatGnuplot(samples: SampleLog): string {
  const lines = ['starttime\tseconds\tctime\tdtime\tttime\twait'];
  for (const s of rowsByTotal(samples))
    lines.push(
      `${aprCtime(s.start)}\t${Math.floor(s.start / 1e6)}\t${roundMs(s.ctime)}\t${roundMs(s.time - s.ctime)}\t` +
        `${roundMs(s.time)}\t${roundMs(s.wait)}`,
    );
  return `${lines.join('\n')}\n`;
}

export interface HtmlAttributes {
  table: string;
  tr: string;
  td: string;
}

/** ab -w: its HTML table (with -x/-y/-z attributes). */
export function formatHtml(run: RunDescription, result: LoadResult, attrs: HtmlAttributes): string {
  const { table, tr, td } = attrs;
  const seconds = result.seconds;
  const posted = run.postedPerRequest * run.requestsSent;
  const out: string[] = [`\n\n<table ${table}>`];
  const row = (label: string, value: string): void => {
    out.push(`<tr ${tr}><th colspan=2 ${td}>${label}</th><td colspan=2 ${td}>${value}</td></tr>`);
  };
  row('Server Software:', result.serverSoftware);
  row('Server Hostname:', run.hostname);
  row('Server Port:', String(run.port));
  row('Document Path:', run.path);
  row('Document Length:', run.variableLength ? 'Variable' : `${result.documentLength ?? 0} bytes`);
  row('Concurrency Level:', String(run.concurrency));
  row('Time taken for tests:', `${fixed(seconds, 3)} seconds`);
  row('Complete requests:', String(result.done));
  row('Failed requests:', String(failed(result)));
  const f = result.failures;
  if (failed(result) > 0)
    out.push(
      `<tr ${tr}><td colspan=4 ${td} >   (Connect: ${f.connect}, Length: ${f.length}, Exceptions: ${f.exceptions})</td></tr>`,
    );
  if (result.non2xx > 0) row('Non-2xx responses:', String(result.non2xx));
  if (run.keepalive) row('Keep-Alive requests:', String(result.doneKeepAlive));
  row('Total transferred:', `${result.totalRead} bytes`);
  if (run.postedPerRequest > 0) row('Total body sent:', String(posted));
  row('HTML transferred:', `${result.bodyRead} bytes`);
  if (seconds > 0) {
    row('Requests per second:', fixed(result.done / seconds, 2));
    row('Transfer rate:', `${fixed(result.totalRead / 1024 / seconds, 2)} kb/s received`);
    if (run.postedPerRequest > 0) {
      out.push(
        `<tr ${tr}><td colspan=2 ${td}>&nbsp;</td><td colspan=2 ${td}>${fixed(posted / 1024 / seconds, 2)} kb/s sent</td></tr>`,
      );
      out.push(
        `<tr ${tr}><td colspan=2 ${td}>&nbsp;</td><td colspan=2 ${td}>${fixed((result.totalRead + posted) / 1024 / seconds, 2)} kb/s total</td></tr>`,
      );
    }
  }
  const rows = result.samples.rows();
  if (rows.length > 0) {
    let minCon = Infinity;
    let minTot = Infinity;
    let maxCon = 0;
    let maxTot = 0;
    let totalCon = 0;
    let total = 0;
    for (const s of rows) {
      minCon = Math.min(minCon, s.ctime);
      minTot = Math.min(minTot, s.time);
      maxCon = Math.max(maxCon, s.ctime);
      maxTot = Math.max(maxTot, s.time);
      totalCon += s.ctime;
      total += s.time;
    }
    [minCon, minTot, maxCon, maxTot, totalCon, total] = [minCon, minTot, maxCon, maxTot, totalCon, total].map(
      roundMs,
    ) as [number, number, number, number, number, number];
    const n = rows.length;
    const cell = (v: number): string => `<td ${td}>${int(v, 5)}</td>`;
    out.push(`<tr ${tr}><th ${td} colspan=4>Connection Times (ms)</th></tr>`);
    out.push(`<tr ${tr}><th ${td}>&nbsp;</th> <th ${td}>min</th>   <th ${td}>avg</th>   <th ${td}>max</th></tr>`);
    const conMean = Math.trunc(totalCon / n);
    out.push(`<tr ${tr}><th ${td}>Connect:</th>${cell(minCon)}${cell(conMean)}${cell(maxCon)}</tr>`);
    out.push(
      `<tr ${tr}><th ${td}>Processing:</th>${cell(minTot - minCon)}${cell(Math.trunc(total / n) - conMean)}${cell(maxTot - maxCon)}</tr>`,
    );
    out.push(`<tr ${tr}><th ${td}>Total:</th>${cell(minTot)}${cell(Math.trunc(total / n))}${cell(maxTot)}</tr>`);
  }
  out.push('</table>');
  return `${out.join('\n')}\n`;
}

/** Every figure of the report as numbers (`cosocket ab --json`), with the load threads' CPU. */
export function summarize(run: RunDescription, result: LoadResult) {
  const stats = abStats(result.samples);
  const ms = (r: TimeRow | undefined) =>
    r === undefined
      ? { min: 0, mean: 0, sd: 0, median: 0, max: 0 }
      : { min: r.min / 1000, mean: r.mean / 1000, sd: r.sd / 1000, median: r.median / 1000, max: r.max / 1000 };
  const done = result.done;
  const seconds = result.seconds;
  const bound = boundLine(result.cpu);
  return {
    serverSoftware: result.serverSoftware,
    serverHostname: run.hostname,
    serverPort: run.port,
    documentPath: run.path,
    documentLength: result.documentLength ?? 0,
    concurrencyLevel: run.concurrency,
    timeTakenSeconds: seconds,
    completeRequests: done,
    failedRequests: failed(result),
    failures: result.failures,
    non2xxResponses: result.non2xx,
    keepAliveRequests: result.doneKeepAlive,
    totalTransferred: result.totalRead,
    totalBodySent: run.postedPerRequest * run.requestsSent,
    htmlTransferred: result.bodyRead,
    requestsPerSecond: seconds > 0 ? done / seconds : 0,
    timePerRequestMs: (run.concurrency * seconds * 1000) / Math.max(1, done),
    timePerRequestAcrossAllMs: (seconds * 1000) / Math.max(1, done),
    transferRateKBps: seconds > 0 ? result.totalRead / 1024 / seconds : 0,
    connectionTimes: {
      connect: ms(stats?.connect),
      processing: ms(stats?.processing),
      waiting: ms(stats?.waiting),
      total: ms(stats?.total),
    },
    percentiles: stats === null ? {} : percentiles(stats.totals),
    loadGenerator: {
      threads: result.cpu,
      bounded: bound !== null,
      ...(bound !== null ? { line: bound } : {}),
    },
  };
}
