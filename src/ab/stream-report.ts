import type { StreamEnd, StreamRecord, StreamResult } from './stream.js';

export interface StreamRunDescription {
  hostname: string;
  port: number;
  path: string;
  concurrency: number;
}

interface Spread {
  count: number;
  min: number;
  mean: number;
  sd: number;
  p50: number;
  p99: number;
  max: number;
}

function spread(values: number[]): Spread {
  const n = values.length;
  if (n === 0) return { count: 0, min: 0, mean: 0, sd: 0, p50: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  let total = 0;
  for (const v of sorted) total += v;
  const mean = total / n;
  let squares = 0;
  for (const v of sorted) squares += (v - mean) ** 2;
  const at = (p: number): number => sorted[Math.min(n - 1, Math.floor((n * p) / 100))]!;
  return {
    count: n,
    min: sorted[0]!,
    mean,
    sd: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
    p50: at(50),
    p99: at(99),
    max: sorted[n - 1]!,
  };
}

const ENDS: readonly StreamEnd[] = ['complete', 'cut', 'timed out', 'stopped'];

/** Every figure of a --stream run as numbers (ms, and per-stream rates per second). */
export function summarizeStreams(run: StreamRunDescription, result: StreamResult) {
  const streams = result.streams;
  const ends = Object.fromEntries(ENDS.map((e) => [e, streams.filter((s) => s.end === e).length])) as Record<
    StreamEnd,
    number
  >;
  const sendStatus: Record<string, number> = {};
  for (const s of streams)
    if (s.end === 'complete') {
      const key = s.sendStatus ?? '(no trailer)';
      sendStatus[key] = (sendStatus[key] ?? 0) + 1;
    }
  const rate = (s: StreamRecord, amount: number): number => {
    const seconds = (s.total - (s.firstChunk ?? s.total)) / 1000;
    return seconds > 0 ? amount / seconds : 0;
  };
  const flowing = streams.filter((s) => s.chunks > 1);
  return {
    serverSoftware: result.serverSoftware,
    serverHostname: run.hostname,
    serverPort: run.port,
    documentPath: run.path,
    concurrencyLevel: run.concurrency,
    timeTakenSeconds: result.seconds,
    streams: streams.length,
    ends,
    sendStatus,
    non2xxResponses: streams.filter((s) => s.status !== 0 && (s.status < 200 || s.status >= 300)).length,
    bytes: streams.reduce((n, s) => n + s.bytes, 0),
    chunks: streams.reduce((n, s) => n + s.chunks, 0),
    headMs: spread(streams.filter((s) => s.status !== 0).map((s) => s.head)),
    firstChunkMs: spread(streams.flatMap((s) => (s.firstChunk === null ? [] : [s.firstChunk]))),
    gapMs: spread(streams.flatMap((s) => s.gaps)),
    totalMs: spread(streams.map((s) => s.total)),
    perStream: {
      chunksPerSecond: spread(flowing.map((s) => rate(s, s.chunks - 1))),
      kbytesPerSecond: spread(flowing.map((s) => rate(s, s.bytes) / 1024)),
    },
  };
}

const pad = (label: string): string => label.padEnd(24);
const ms = (v: number): string => v.toFixed(1).padStart(8);

/** The --stream report, in ab's style. */
export function formatStreamReport(run: StreamRunDescription, result: StreamResult): string {
  const s = summarizeStreams(run, result);
  const trailers = Object.entries(s.sendStatus)
    .map(([status, n]) => `${status} ${n}`)
    .join(', ');
  const lines = [
    '',
    '',
    `${pad('Server Software:')}${s.serverSoftware}`,
    `${pad('Server Hostname:')}${s.serverHostname}`,
    `${pad('Server Port:')}${s.serverPort}`,
    '',
    `${pad('Document Path:')}${s.documentPath}`,
    '',
    `${pad('Concurrency Level:')}${s.concurrencyLevel}`,
    `${pad('Time taken for tests:')}${s.timeTakenSeconds.toFixed(3)} seconds`,
    `${pad('Streams:')}${s.streams}`,
    `${pad('Complete streams:')}${s.ends.complete}${trailers === '' ? '' : `   (X-Send-Status: ${trailers})`}`,
    `${pad('Cut streams:')}${s.ends.cut}`,
    `${pad('Timed out streams:')}${s.ends['timed out']}`,
    `${pad('Stopped at -t:')}${s.ends.stopped}`,
  ];
  if (s.non2xxResponses > 0) lines.push(`${pad('Non-2xx responses:')}${s.non2xxResponses}`);
  lines.push(
    `${pad('Body transferred:')}${s.bytes} bytes`,
    `${pad('Chunks received:')}${s.chunks}`,
    `${pad('Transfer rate:')}${(s.bytes / 1024 / Math.max(s.timeTakenSeconds, 1e-9)).toFixed(2)} [Kbytes/sec] received`,
    '',
    'Stream Times (ms)',
    '                  min     mean      p50      p99      max',
  );
  for (const [label, r] of [
    ['Head:', s.headMs],
    ['First chunk:', s.firstChunkMs],
    ['Gap:', s.gapMs],
    ['Total:', s.totalMs],
  ] as const)
    lines.push(`${label.padEnd(14)}${ms(r.min)} ${ms(r.mean)} ${ms(r.p50)} ${ms(r.p99)} ${ms(r.max)}`);
  lines.push(
    '',
    'Per stream (from its first chunk to its end)',
    '                  min     mean      p50      p99      max',
  );
  for (const [label, r] of [
    ['Chunks/sec:', s.perStream.chunksPerSecond],
    ['Kbytes/sec:', s.perStream.kbytesPerSecond],
  ] as const)
    lines.push(`${label.padEnd(14)}${ms(r.min)} ${ms(r.mean)} ${ms(r.p50)} ${ms(r.p99)} ${ms(r.max)}`);
  return `${lines.join('\n')}\n`;
}
