// Over 300 lines: the write-up's scenarios, measured and reported in one script (fragments.ts is the other part).
/**
 * bench/stream: the write-up's case. An upstream sends one body of 100,000 chunks of 200-500 bytes.
 * Each proxy runs in its own process, started once, and serves WARMUP downloads first (a long-running
 * server's steady state: V8 compiles the hot path over the first few); the first, from a cold process,
 * is reported apart. Then every scenario (1, 3 and 10 concurrent downloads from a
 * fast upstream, 1 from a paced one) runs ROUNDS times, the proxies taking turns within a round so
 * that drift on a shared machine hits them alike. Per proxy and scenario: median CPU seconds of the
 * proxy (its whole process tree: every thread's on-CPU time from /proc), median wall time, peak RSS over the scenario. Every
 * download is checked byte for byte (sha256) and for progress (its longest silence). Then the
 * fragmented bodies through the dyups proxy listener against nginx (fragments.ts).
 * `npm run bench:stream` (env CHUNKS, ROUNDS, WARMUP, FRAG_WARMUP, COLD_STARTS; STREAM_PARTS=writeup,fragments).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricLog } from '../lib/bench-json.js';
import { fixed, markdownTable } from '../lib/table.js';
import { envInt } from '../lib/env.js';
import { nginxPath, startNginx, startProcess } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { subjectDir } from '../lib/subject.js';
import { findOnPath } from '../../src/server/embedded-redis.js';
import { fragments } from './fragments.js';
import { logStreamMetrics } from './metrics.js';

const CHUNKS = envInt('CHUNKS', 100_000);
const ROUNDS = envInt('ROUNDS', 5);
/** Downloads each proxy serves before the measured rounds (the first is reported as the cold one). */
const WARMUP = envInt('WARMUP', 8);
const HERE = fileURLToPath(new URL('.', import.meta.url));

type Mode = 'naive' | 'off' | 'on' | 'reply-from' | 'nginx';
const LABEL: Record<Mode, string> = {
  naive: '(a) naive Lua loop: readChunk, print, flush(true)',
  off: '(b) cosocket proxy, buffering off',
  on: '(c) cosocket proxy, buffering on',
  'reply-from': '(d) @fastify/reply-from',
  nginx: '(e) nginx proxy_pass',
};
/** Proxies that do not run the code under test. */
const CONTROLS: ReadonlySet<Mode> = new Set<Mode>(['reply-from', 'nginx']);

function descendants(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)])
    .stdout?.toString()
    .trim();
  const children = out ? out.split('\n').map(Number) : [];
  return [pid, ...children.flatMap((c) => descendants(c))];
}

/**
 * CPU seconds used so far by a process and its children: the on-CPU nanoseconds of every thread
 * (/proc/PID/task/TID/schedstat), not utime + stime, which count in 10 ms ticks.
 */
function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const p of descendants(pid)) {
    let threads: string[];
    try {
      threads = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of threads) {
      try {
        ns += Number(readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // gone
      }
    }
  }
  return ns / 1e9;
}

/** Starts a new peak for peakRssMb (clear_refs 5 resets VmHWM). */
function resetPeakRss(pid: number): void {
  for (const p of descendants(pid)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      // gone, or not allowed: the peak then covers the process's life
    }
  }
}

/** Peak resident memory in MB of a process and its children (VmHWM). */
function peakRssMb(pid: number): number {
  let kb = 0;
  for (const p of descendants(pid)) {
    try {
      kb += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

interface Download {
  ok: boolean;
  bytes: number;
  ms: number;
  longestSilenceMs: number;
}

function download(port: number, path: string, expected: string): Promise<Download> {
  return new Promise((resolve) => {
    const started = performance.now();
    let last = started;
    let longest = 0;
    let bytes = 0;
    const hash = createHash('sha256');
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.on('data', (d: Buffer) => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        bytes += d.length;
        hash.update(d);
      });
      res.on('end', () =>
        resolve({
          ok: hash.digest('hex') === expected,
          bytes,
          ms: performance.now() - started,
          longestSilenceMs: longest,
        }),
      );
      res.on('error', () => resolve({ ok: false, bytes, ms: performance.now() - started, longestSilenceMs: longest }));
    });
    req.setTimeout(180_000, () => req.destroy());
    req.on('error', () => resolve({ ok: false, bytes, ms: performance.now() - started, longestSilenceMs: longest }));
  });
}

interface Sample {
  cpu: number;
  wall: number;
  ok: boolean;
  longestSilence: number;
}

/** CPU and wall time of `concurrency` simultaneous downloads through one proxy. */
async function measure(
  proxy: Proc,
  concurrency: number,
  path: string,
  expected: string,
  total: number,
): Promise<Sample> {
  const pid = proxy.child.pid!;
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: concurrency }, () => download(proxy.port, path, expected)));
  return {
    cpu: cpuSeconds(pid) - cpuBefore,
    wall: (performance.now() - started) / 1000,
    ok: results.every((r) => r.ok && r.bytes === total),
    longestSilence: Math.max(...results.map((r) => r.longestSilenceMs)),
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function writeup(log: MetricLog): Promise<void> {
  const upstream = await startProcess(
    process.execPath,
    [join(HERE, 'upstream.js'), String(CHUNKS)],
    /listening (\d+) ([0-9a-f]{64}) (\d+)/,
  );
  const [, , expected, totalText] = upstream.line.split(' ');
  const total = Number(totalText);
  const modes: Mode[] = ['naive', 'off', 'on', 'reply-from'];
  const haveNginx = nginxPath() !== null;
  if (haveNginx) modes.push('nginx');
  const scenarios: Array<{ name: string; concurrency: number; path: string }> = [
    { name: '1 download', concurrency: 1, path: '/log' },
    { name: '3 concurrent', concurrency: 3, path: '/log' },
    { name: '10 concurrent', concurrency: 10, path: '/log' },
    { name: '1 download, paced upstream', concurrency: 1, path: '/log?paced=1' },
  ];
  const proxies = new Map<Mode, Proc>();
  for (const mode of modes) {
    proxies.set(
      mode,
      mode === 'nginx'
        ? await startNginx(upstream.port)
        : await startProcess(
            process.execPath,
            [join(HERE, 'proxy-server.js'), mode, String(upstream.port)],
            /listening (\d+)/,
          ),
    );
  }
  const cold = new Map<Mode, Sample>();
  for (const mode of modes) {
    const sample = await measure(proxies.get(mode)!, 1, '/log', expected!, total);
    cold.set(mode, sample);
    process.stderr.write(`first download (cold process) ${mode}: cpu ${fixed(sample.cpu)} s\n`);
    for (let i = 1; i < WARMUP; i++) await measure(proxies.get(mode)!, 1, '/log', expected!, total);
  }
  const samples = new Map<string, Sample[]>();
  const peaks = new Map<string, number>();
  for (const scenario of scenarios) {
    for (const mode of modes) resetPeakRss(proxies.get(mode)!.child.pid!);
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of modes) {
        const sample = await measure(proxies.get(mode)!, scenario.concurrency, scenario.path, expected!, total);
        const key = `${mode} ${scenario.name}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        process.stderr.write(
          `${scenario.name} round ${round + 1}/${ROUNDS} ${mode}: cpu ${fixed(sample.cpu)} s, wall ${fixed(sample.wall)} s\n`,
        );
      }
    }
    for (const mode of modes) peaks.set(`${mode} ${scenario.name}`, peakRssMb(proxies.get(mode)!.child.pid!));
  }
  for (const proxy of proxies.values()) {
    proxy.child.kill('SIGTERM');
    await new Promise((r) => proxy.child.once('exit', r));
    proxy.cleanup?.();
  }
  upstream.child.kill('SIGTERM');

  const cpuOf = (mode: Mode, scenario: string): number => median(samples.get(`${mode} ${scenario}`)!.map((s) => s.cpu));
  const table = markdownTable(
    [
      'proxy',
      'scenario',
      'proxy CPU s (median)',
      'wall s (median)',
      'peak RSS MB',
      'all finished, byte-identical',
      'longest silence ms',
    ],
    scenarios.flatMap((scenario) =>
      modes.map((mode) => {
        const runs = samples.get(`${mode} ${scenario.name}`)!;
        return [
          LABEL[mode],
          scenario.name,
          fixed(cpuOf(mode, scenario.name)),
          fixed(median(runs.map((r) => r.wall))),
          fixed(peaks.get(`${mode} ${scenario.name}`)!, 0),
          runs.every((r) => r.ok) ? 'yes' : 'NO',
          fixed(Math.max(...runs.map((r) => r.longestSilence)), 0),
        ];
      }),
    ),
  );
  const coldTable = markdownTable(
    ['proxy', 'first download CPU s (cold process)', 'wall s', 'byte-identical'],
    modes.map((mode) => [
      LABEL[mode],
      fixed(cold.get(mode)!.cpu),
      fixed(cold.get(mode)!.wall),
      cold.get(mode)!.ok ? 'yes' : 'NO',
    ]),
  );
  console.log(
    `\n${CHUNKS.toLocaleString('en-US')} chunks, ${(total / 1e6).toFixed(1)} MB per download, ${ROUNDS} round(s) per scenario after ${WARMUP} warm-up download(s) (node ${process.version}${haveNginx ? '' : '; nginx not installed: (e) not measured, apt-get install nginx-light'})\n\n${table}`,
  );
  console.log(
    `\nEach proxy's first download, before the rounds above (a fresh process; for Node this includes compiling the path):\n\n${coldTable}`,
  );
  console.log(
    "\nTargets: (b) and (c) use <= 1/5 of (a)'s CPU and <= 1.5x nginx's (medians; the range is the ratio round by round); 10 concurrent downloads all finish",
  );
  for (const scenario of scenarios.map((s) => s.name)) {
    const naive = cpuOf('naive', scenario);
    const parts = (['off', 'on'] as const).map((mode) => {
      const cpu = cpuOf(mode, scenario);
      if (!haveNginx) return `${mode}: ${fixed(cpu / naive)}x naive`;
      // the proxies took turns within each round: round i of one against round i of nginx
      const ours = samples.get(`${mode} ${scenario}`)!;
      const theirs = samples.get(`nginx ${scenario}`)!;
      const perRound = ours.map((sample, i) => sample.cpu / theirs[i]!.cpu);
      return `${mode}: ${fixed(cpu / naive)}x naive, ${fixed(cpu / cpuOf('nginx', scenario))}x nginx (rounds ${fixed(Math.min(...perRound))}-${fixed(Math.max(...perRound))}x)`;
    });
    console.log(`  ${scenario}: ${parts.join('; ')}`);
  }
  const tenOk = modes.every((mode) => samples.get(`${mode} 10 concurrent`)!.every((r) => r.ok));
  console.log(
    `  10 concurrent downloads all finished byte-identical through every proxy, every round: ${tenOk ? 'yes' : 'NO'}`,
  );

  logStreamMetrics(log, {
    proxies: modes.map((mode) => ({ id: mode, label: LABEL[mode], control: CONTROLS.has(mode) })),
    scenarios: scenarios.map((s) => s.name),
    cold,
    samples,
    peaks,
  });
}

const PARTS = (process.env.STREAM_PARTS ?? 'writeup,fragments').split(',');
const log = new MetricLog('stream', subjectDir);
if (PARTS.includes('writeup')) await writeup(log);
if (PARTS.includes('fragments')) {
  if (nginxPath() === null || findOnPath('curl') === null)
    console.log('\nFragmented bodies: not measured (they need nginx and curl: apt-get install nginx-light curl)');
  else console.log(`\n${await fragments(log, join(HERE, 'fragment-upstream.js'))}`);
}
log.print();
