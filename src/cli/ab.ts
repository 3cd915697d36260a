import { runLoad } from '../ab/load.js';
import { formatReport, summarize } from '../ab/report.js';
import { UsageError, helpText, parseFlags, usageLine } from './flags.js';
import type { FlagSpec } from './flags.js';

export const AB_FLAGS: readonly FlagSpec[] = [
  { name: 'requests', short: 'n', takesValue: true, valueName: 'N', description: 'number of requests (default 1)' },
  { name: 'concurrency', short: 'c', takesValue: true, valueName: 'N', description: 'requests at a time (default 1)' },
  {
    name: 'keepalive',
    short: 'k',
    takesValue: false,
    description: 'use HTTP keep-alive (default: a new connection per request)',
  },
  {
    name: 'timelimit',
    short: 't',
    takesValue: true,
    valueName: 'SECONDS',
    description: 'run at most this long (implies -n 50000)',
  },
  {
    name: 'timeout',
    short: 's',
    takesValue: true,
    valueName: 'SECONDS',
    description: 'seconds a response may take (default 30)',
  },
  {
    name: 'header',
    short: 'H',
    takesValue: true,
    repeatable: true,
    valueName: '"Name: value"',
    description: 'extra request header (repeatable)',
  },
  { name: 'method', short: 'm', takesValue: true, valueName: 'METHOD', description: 'request method (default GET)' },
  { name: 'json', takesValue: false, description: 'print the figures as JSON instead of the report' },
  { name: 'help', short: 'h', takesValue: false, description: 'show this help' },
];

export const AB_HELP = helpText(
  usageLine('cosocket ab', AB_FLAGS, { short: true, operand: 'http://host[:port]/path' }),
  "ApacheBench's interface and report, with autocannon generating the load.",
  AB_FLAGS,
);

function wholeNumber(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`${flag} must be a whole number >= ${min}, got '${value}'`);
  return Number(value);
}

/** `cosocket ab`: resolves with the exit code. */
export async function ab(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('ab', argv, AB_FLAGS);
  if (values.has('help')) {
    process.stdout.write(AB_HELP);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? 'a URL is required' : `one URL only, got ${positionals.length}`);
  let url: URL;
  const given = positionals[0]!;
  // `localhost:8080/` parses as the scheme `localhost:`, `127.0.0.1:8080/` not at all: both lack http://
  const hint = /^[^/@]*:\d+(\/|$)/.test(given) ? ` (a scheme is missing: http://${given})` : '';
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`invalid URL '${given}'${hint}`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`only http:// URLs are supported, got '${given}'${hint}`);
  const timeLimit = wholeNumber('-t', values.get('timelimit') as string | undefined, 0, 1);
  const requests = wholeNumber('-n', values.get('requests') as string | undefined, timeLimit > 0 ? 50_000 : 1, 1);
  const concurrency = wholeNumber('-c', values.get('concurrency') as string | undefined, 1, 1);
  if (concurrency > requests)
    throw new UsageError('cannot use a concurrency level (-c) greater than the number of requests (-n)');
  const timeout = wholeNumber('-s', values.get('timeout') as string | undefined, 30, 1);
  const headers: Record<string, string> = {};
  for (const header of (values.get('header') as string[] | undefined) ?? []) {
    const colon = header.indexOf(':');
    if (colon < 1) throw new UsageError(`-H needs "Name: value", got '${header}'`);
    headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }
  const method = ((values.get('method') as string | undefined) ?? 'GET').toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new UsageError(`-m must be a method name, got '${method}'`);
  const json = values.has('json');
  const keepalive = values.has('keepalive');

  const progress = makeProgress(json, requests, url.hostname);
  const result = await runLoad({
    url: url.href,
    requests,
    concurrency,
    keepalive,
    timeLimit,
    method,
    headers,
    timeout,
    onProgress: progress.tick,
  });
  progress.end(result.completed);
  const run = { url, concurrency, keepalive };
  process.stdout.write(json ? `${JSON.stringify(summarize(run, result), null, 2)}\n` : formatReport(run, result));
  return 0;
}

/** A progress bar on a terminal; ab's "Completed N requests" lines otherwise; nothing for --json. */
function makeProgress(
  json: boolean,
  total: number,
  host: string,
): { tick: (done: number) => void; end: (done: number) => void } {
  if (json) return { tick: () => {}, end: () => {} };
  const tty = process.stderr.isTTY === true;
  const step = Math.max(1, Math.floor(total / 10));
  let nextMark = step;
  let lastDraw = 0;
  if (!tty) process.stdout.write(`Benchmarking ${host} (be patient)\n`);
  return {
    tick(done) {
      if (tty) {
        const t = Date.now();
        if (t - lastDraw < 100 && done < total) return;
        lastDraw = t;
        const width = 40;
        const filled = Math.min(width, Math.round((done / total) * width));
        process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`);
      } else if (total > 150 && done >= nextMark) {
        process.stdout.write(`Completed ${nextMark} requests\n`);
        nextMark += step;
      }
    },
    end(done) {
      if (tty) process.stderr.write('\n');
      else process.stdout.write(`Finished ${done} requests\n`);
    },
  };
}
