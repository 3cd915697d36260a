/**
 * Fragmented bodies through the dyups proxy listener (cosocket serve, as a user runs it) and through nginx:
 * a raw-socket upstream writes a chunked body in three shapes (fragment-upstream.ts), curl downloads it, 1
 * or 10 at once. Per download, the CPU of the whole cosocket process (every thread, from schedstat; its
 * private redis-server is not counted) against the nginx worker's: buffering on against nginx's default,
 * buffering off against `proxy_buffering off`. Each proxy is warmed first; the rounds interleave the
 * proxies, turning their order each round. Apart: the first download of a fresh process, COLD_STARTS
 * fresh starts each. Every body is checked against the upstream's sha256.
 */
import type { MetricLog } from '../lib/bench-json.js';
import { DYUPS_GROUP, startDyupsServer } from '../lib/dyups-server.js';
import { envInt } from '../lib/env.js';
import { machineBusySeconds, treeThreadsCpuSeconds } from '../lib/process-cpu.js';
import { startNginx, startProcess, stopProc, workerPid } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { medianWithRange, range, roundRatios } from '../lib/rounds.js';
import { fixed, markdownTable, median } from '../lib/table.js';
import { curlDownload } from './curl-download.js';
import type { FragmentShape } from './fragment-upstream.js';

const CHUNKS = envInt('CHUNKS', 100_000);
const ROUNDS = envInt('ROUNDS', 5);
/** downloads of each shape each proxy serves before the rounds */
const WARMUP = envInt('FRAG_WARMUP', 6, 0);
/** fresh processes per proxy and shape whose first download is measured */
const COLD_STARTS = envInt('COLD_STARTS', 5, 0);
const CONCURRENCY = [1, 10] as const;

type ProxyId = 'on' | 'off' | 'nginx-on' | 'nginx-off';
interface ProxyKind {
  id: ProxyId;
  label: string;
  control: boolean;
  /** the nginx it is held against */
  against: ProxyId | null;
}
const PROXIES: readonly ProxyKind[] = [
  { id: 'on', label: 'cosocket dyups proxy, buffering on', control: false, against: 'nginx-on' },
  { id: 'off', label: 'cosocket dyups proxy, buffering off', control: false, against: 'nginx-off' },
  { id: 'nginx-on', label: 'nginx proxy_pass, default buffering', control: true, against: null },
  { id: 'nginx-off', label: 'nginx proxy_pass, proxy_buffering off', control: true, against: null },
];

interface Sample {
  /** CPU seconds per download: the batch's CPU over its downloads */
  cpu: number;
  wall: number;
  ok: boolean;
  longestSilence: number;
  /** the machine's busy CPU over the batch, % of one core (200 = both of 2 cores): the proxy, curl, the upstream, anything else */
  machine: number;
}

function start(id: ProxyId, upstreamPort: number): Promise<Proc> {
  switch (id) {
    case 'on':
      return startDyupsServer(upstreamPort);
    case 'off':
      return startDyupsServer(upstreamPort, { dyups: { buffering: false } });
    case 'nginx-on':
      return startNginx(upstreamPort);
    case 'nginx-off':
      return startNginx(upstreamPort, ' proxy_buffering off;');
  }
}

/** `concurrency` downloads at once through `proxy`; CPU of its process (every thread) or nginx's worker. */
async function measure(proxy: Proc, shape: FragmentShape, concurrency: number): Promise<Sample> {
  const pid = workerPid(proxy);
  const before = treeThreadsCpuSeconds(pid) ?? NaN;
  const machineBefore = machineBusySeconds() ?? NaN;
  const started = performance.now();
  const url = `http://127.0.0.1:${proxy.port}${shape.path}`;
  const results = await Promise.all(
    Array.from({ length: concurrency }, () => curlDownload(url, DYUPS_GROUP, shape.sha256)),
  );
  const cpu = (treeThreadsCpuSeconds(pid) ?? NaN) - before;
  const wall = (performance.now() - started) / 1000;
  const machine = (((machineBusySeconds() ?? NaN) - machineBefore) / wall) * 100;
  for (const r of results.filter((r) => !r.ok))
    process.stderr.write(`download ${shape.path} failed: ${r.bytes} bytes; ${r.error}\n`);
  return {
    cpu: cpu / concurrency,
    wall,
    machine,
    ok: results.every((r) => r.ok && r.bytes === shape.bytes),
    longestSilence: Math.max(...results.map((r) => r.longestSilenceMs)),
  };
}

const keyOf = (id: ProxyId, shape: FragmentShape, concurrency: number): string => `${id} ${shape.id} ${concurrency}`;

/** The first download of COLD_STARTS fresh processes per proxy and shape. */
async function coldStarts(upstreamPort: number, shapes: readonly FragmentShape[]): Promise<Map<string, Sample[]>> {
  const cold = new Map<string, Sample[]>();
  for (let i = 0; i < COLD_STARTS; i++) {
    for (const shape of shapes) {
      for (const { id } of PROXIES) {
        const proxy = await start(id, upstreamPort);
        try {
          const sample = await measure(proxy, shape, 1);
          const key = keyOf(id, shape, 1);
          (cold.get(key) ?? cold.set(key, []).get(key)!).push(sample);
          process.stderr.write(
            `fresh start ${i + 1}/${COLD_STARTS} ${shape.id} ${id}: cpu ${fixed(sample.cpu, 3)} s\n`,
          );
        } finally {
          await stopProc(proxy);
        }
      }
    }
  }
  return cold;
}

async function warmRounds(upstreamPort: number, shapes: readonly FragmentShape[]): Promise<Map<string, Sample[]>> {
  const samples = new Map<string, Sample[]>();
  const proxies = new Map<ProxyId, Proc>();
  try {
    for (const { id } of PROXIES) proxies.set(id, await start(id, upstreamPort));
    for (const { id } of PROXIES)
      for (const shape of shapes) for (let i = 0; i < WARMUP; i++) await measure(proxies.get(id)!, shape, 1);
    for (let round = 0; round < ROUNDS; round++) {
      const order = PROXIES.map((_, i) => PROXIES[(i + round) % PROXIES.length]!);
      for (const shape of shapes) {
        for (const concurrency of CONCURRENCY) {
          for (const { id } of order) {
            const sample = await measure(proxies.get(id)!, shape, concurrency);
            const key = keyOf(id, shape, concurrency);
            (samples.get(key) ?? samples.set(key, []).get(key)!).push(sample);
            process.stderr.write(
              `round ${round + 1}/${ROUNDS} ${shape.id} x${concurrency} ${id}: cpu/download ${fixed(sample.cpu, 3)} s, wall ${fixed(sample.wall)} s\n`,
            );
          }
        }
      }
    }
  } finally {
    for (const proxy of proxies.values()) await stopProc(proxy);
  }
  return samples;
}

/** The ratios' median and range, and whether the median is within `limit`. */
function verdict(ratios: readonly number[], limit: number): string {
  if (ratios.length === 0) return 'not measured';
  const { min, max } = range(ratios);
  const med = median(ratios);
  return `${fixed(med)}x (${fixed(min)}–${fixed(max)}): ${med <= limit ? 'met' : '**missed**'} (≤ ${limit}x)`;
}

function report(
  shapes: readonly FragmentShape[],
  samples: ReadonlyMap<string, Sample[]>,
  cold: ReadonlyMap<string, Sample[]>,
  log: MetricLog,
): string {
  const rows: string[][] = [];
  const ratioRows: string[][] = [];
  for (const shape of shapes) {
    for (const concurrency of CONCURRENCY) {
      const at = `${shape.id}, ${concurrency === 1 ? '1 download' : `${concurrency} concurrent`}`;
      for (const { id, label, control, against } of PROXIES) {
        const runs = samples.get(keyOf(id, shape, concurrency)) ?? [];
        const cpu = runs.map((r) => r.cpu);
        rows.push([
          label,
          at,
          medianWithRange(cpu, 3),
          cpu.map((c) => fixed(c, 3)).join(' '),
          fixed(median(runs.map((r) => r.wall)), 2),
          runs.every((r) => r.ok) ? 'yes' : 'NO',
          fixed(Math.max(...runs.map((r) => r.longestSilence)), 0),
          fixed(median(runs.map((r) => r.machine)), 0),
        ]);
        log.add(`CPU per download: ${label}, ${at}`, median(cpu), 's', 'lower', control);
        log.add(`CPU per download, slowest round: ${label}, ${at}`, range(cpu).max, 's', 'lower', control);
        log.add(`wall: ${label}, ${at}`, median(runs.map((r) => r.wall)), 's', 'lower', control);
        log.add(`byte-identical rounds: ${label}, ${at}`, runs.filter((r) => r.ok).length, 'rounds', 'higher', control);
        if (against === null) continue;
        const theirs = (samples.get(keyOf(against, shape, concurrency)) ?? []).map((r) => r.cpu);
        const ratios = roundRatios(cpu, theirs);
        log.add(`CPU vs nginx: ${label}, ${at}`, median(ratios), 'x', 'lower');
        ratioRows.push([label, at, verdict(ratios, 1.5)]);
      }
    }
  }
  const coldRows: string[][] = [];
  for (const shape of shapes) {
    for (const { id, label, control, against } of PROXIES) {
      const firsts = (cold.get(keyOf(id, shape, 1)) ?? []).map((r) => r.cpu);
      if (firsts.length === 0) continue;
      const theirs = (cold.get(keyOf(against ?? id, shape, 1)) ?? []).map((r) => r.cpu);
      const ratio = median(firsts) / median(theirs);
      log.add(`fresh process, first download CPU: ${label}, ${shape.id}`, median(firsts), 's', 'lower', control);
      if (against !== null) log.add(`fresh process, CPU vs nginx: ${label}, ${shape.id}`, ratio, 'x', 'lower');
      coldRows.push([
        label,
        shape.id,
        medianWithRange(firsts, 3),
        against === null ? '' : `${fixed(ratio, 2)}x: ${ratio <= 2 ? 'met' : '**missed**'} (≤ 2x)`,
        (cold.get(keyOf(id, shape, 1)) ?? []).every((r) => r.ok) ? 'yes' : 'NO',
      ]);
    }
  }
  const shapeRows = shapes.map((s) => [
    s.id,
    s.path,
    String(s.chunks),
    s.chunkBytes,
    String(s.perWrite),
    (s.bytes / 1e6).toFixed(1),
  ]);
  return [
    `Fragmented bodies through the dyups proxy listener, downloaded by curl; ${ROUNDS} interleaved round(s) after ${WARMUP} warm-up download(s) per shape (node ${process.version})`,
    markdownTable(['shape', 'path', 'chunks', 'chunk bytes', 'chunks per upstream write', 'MB'], shapeRows),
    markdownTable(
      [
        'proxy',
        'shape, downloads',
        'CPU s per download, median (range)',
        'CPU s per download, round by round',
        'wall s (median)',
        'byte-identical',
        'longest silence ms',
        'machine busy % (median; 200 = both cores)',
      ],
      rows,
    ),
    `CPU per download against nginx, median of the same-round ratios (range):\n\n${markdownTable(['proxy', 'shape, downloads', 'vs nginx'], ratioRows)}`,
    COLD_STARTS === 0
      ? 'Fresh processes: not measured (COLD_STARTS=0)'
      : `The first download of a fresh process, ${COLD_STARTS} fresh start(s) each (ratio of the medians):\n\n${markdownTable(
          ['proxy', 'shape', 'CPU s, median (range)', 'vs nginx', 'byte-identical'],
          coldRows,
        )}`,
  ].join('\n\n');
}

export async function fragments(log: MetricLog, upstreamScript: string): Promise<string> {
  const upstream = await startProcess(process.execPath, [upstreamScript, String(CHUNKS)], /listening (\d+) (\[.*\])\n/);
  try {
    const shapes = JSON.parse(upstream.line.slice(upstream.line.indexOf('['))) as FragmentShape[];
    const samples = await warmRounds(upstream.port, shapes);
    const cold = await coldStarts(upstream.port, shapes);
    return report(shapes, samples, cold, log);
  } finally {
    await stopProc(upstream);
  }
}
