/**
 * bench/send: followers of one growing file at 10, 100 and 1,000 clients — delivery latency from the
 * write to its receipt (p50, p99), the server's CPU and peak RSS — beside a bare node:net server doing
 * only the same writes (floor.ts), in interleaved rounds. Finished files: finished.ts. `npm run bench:send`.
 * SEND_BASE_DIR=DIR (a built checkout, say main's) runs its `/send/` beside this tree's in the same rounds
 * and reports p50/p99 against it; SEND_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=DIR`) goes to every server.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricLog } from '../lib/bench-json.js';
import { processTree, treeThreadsCpuSeconds } from '../lib/process-cpu.js';
import { Latencies } from '../lib/latency.js';
import { subjectDir } from '../lib/subject.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const LINES = Number(process.env.SEND_LINES ?? 100);
const EVERY_MS = Number(process.env.SEND_EVERY_MS ?? 20);
/** How many followers each measured run has (the 1,000 that stop reading, below, are a separate check). */
const CLIENTS = (process.env.SEND_CLIENTS ?? '10,100,1000').split(',').map(Number);
/** A built checkout whose `/send/` runs beside this tree's (the previous commit), or null. */
const BASE_DIR = process.env.SEND_BASE_DIR ?? '';
/** Extra node flags for every server the bench starts (a profile: `--cpu-prof --cpu-prof-dir=DIR`). */
const NODE_ARGS = (process.env.SEND_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** SEND_SLOW=0 leaves out the 1,000 followers that stop reading (a profile then holds the measured runs only). */
const SLOW = process.env.SEND_SLOW !== '0';

/** On-CPU seconds of the server's whole process tree, in ns from schedstat (not 10 ms ticks: a 10-follower run is a few ticks). */
function cpuSeconds(pid: number): number {
  return treeThreadsCpuSeconds(pid) ?? NaN;
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return processTree(pid).reduce(
    (sum, p) =>
      sum + Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0),
    0,
  );
}

function rssMb(pid: number): number {
  return statusKb(pid, 'VmRSS') / 1024;
}

function peakRssMb(pid: number): number {
  return statusKb(pid, 'VmHWM') / 1024;
}

function follower(
  port: number,
  path: string,
  latencies: Latencies,
): { attached: Promise<void>; done: Promise<number> } {
  let attach: () => void = () => {};
  const attached = new Promise<void>((r) => (attach = r));
  const done = new Promise<number>((resolve) => {
    let rest = '';
    let lines = 0;
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      attach();
      res.setEncoding('latin1');
      res.on('data', (text: string) => {
        const now = performance.now();
        rest += text;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          const written = Number(line);
          if (Number.isFinite(written)) {
            latencies.add(now - written);
            lines++;
          }
        }
      });
      res.on('end', () => resolve(lines));
    });
    req.on('error', () => resolve(lines));
  });
  return { attached, done };
}

interface Target {
  name: string;
  port: number;
  pid: number;
  kill(): void;
}

function startServer(name: string, script: string, dir: string, subject?: string): Promise<Target> {
  const env = subject === undefined ? process.env : { ...process.env, COSOCKET_SUBJECT_DIR: subject };
  const child = spawn(process.execPath, [...NODE_ARGS, fileURLToPath(new URL(script, import.meta.url)), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  return new Promise((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(d.toString());
      if (m) resolve({ name, port: Number(m[1]), pid: child.pid!, kill: () => child.kill('SIGTERM') });
    });
  });
}

interface FollowersRun {
  complete: number;
  p50: number;
  p99: number;
  cpu: number;
  share: number;
}

let runs = 0;

/** `clients` followers of a fresh file on `target`: LINES lines EVERY_MS apart, then the rename. */
async function followersRun(target: Target, dir: string, clients: number): Promise<FollowersRun> {
  const name = `growing-${runs++}.log`;
  const tmp = join(dir, `${name}.tmp`);
  writeFileSync(tmp, '');
  const latencies = new Latencies();
  const followers = Array.from({ length: clients }, () => follower(target.port, `/send/${name}`, latencies));
  await Promise.all(followers.map((f) => f.attached));
  await new Promise((r) => setTimeout(r, 200));
  const cpuBefore = cpuSeconds(target.pid);
  const started = performance.now();
  for (let i = 0; i < LINES; i++) {
    appendFileSync(tmp, `${performance.now().toFixed(3)}\n`);
    await new Promise((r) => setTimeout(r, EVERY_MS));
  }
  renameSync(tmp, join(dir, name));
  const received = await Promise.all(followers.map((f) => f.done));
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(target.pid) - cpuBefore;
  return {
    complete: received.filter((n) => n === LINES).length,
    p50: latencies.percentile(50),
    p99: latencies.percentile(99),
    cpu,
    share: cpu / seconds,
  };
}

const ROUNDS = Number(process.env.SEND_ROUNDS ?? 3);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-bench-send-'));
  const server = await startServer('cosocket /send/', './server.js', dir);
  const base = BASE_DIR === '' ? null : await startServer('base /send/', './server.js', dir, BASE_DIR);
  const floor = await startServer('bare node:net floor', './floor.js', dir);
  const targets = base === null ? [server, floor] : [server, base, floor];
  const pid = server.pid;
  const log = new MetricLog('send', subjectDir);
  const rows: string[][] = [];
  const versusBase: string[][] = [];
  for (const clients of CLIENTS) {
    const results = new Map<Target, FollowersRun[]>(targets.map((t) => [t, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // each target goes first in one round of every `targets.length`: none always runs on a cooler machine
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) results.get(target)!.push(await followersRun(target, dir, clients));
    }
    const floorRuns = results.get(floor)!;
    for (const target of targets) {
      const mine = results.get(target)!;
      const perLine = mine.map((r) => (r.cpu / (clients * LINES)) * 1e6);
      const ratio = mine.map((r, i) => r.cpu / floorRuns[i]!.cpu);
      const at = `${clients} followers`;
      if (target === server) {
        log.add(`got every line: ${at}`, Math.min(...mine.map((r) => r.complete)), 'followers', 'higher');
        log.add(`latency p50: ${at}`, median(mine.map((r) => r.p50)), 'ms', 'lower');
        log.add(`latency p99: ${at}`, median(mine.map((r) => r.p99)), 'ms', 'lower');
        log.add(`server CPU: ${at}`, median(mine.map((r) => r.cpu)), 's', 'lower');
        log.add(`server CPU vs bare-socket floor: ${at}`, median(ratio), 'x', 'lower');
      }
      rows.push([
        String(clients),
        target.name,
        `${Math.min(...mine.map((r) => r.complete))}/${clients}`,
        spread(mine.map((r) => r.p50)),
        spread(mine.map((r) => r.p99)),
        spread(
          mine.map((r) => r.cpu),
          3,
        ),
        spread(perLine, 1),
        spread(ratio),
        `${fixed(median(mine.map((r) => r.share * 100)), 0)}%`,
      ]);
    }
    if (base !== null) {
      const head = results.get(server)!;
      const before = results.get(base)!;
      const per = (f: (r: FollowersRun) => number): number[] => head.map((r, i) => f(r) / f(before[i]!));
      versusBase.push([
        String(clients),
        spread(per((r) => r.p50)),
        spread(per((r) => r.p99)),
        spread(per((r) => r.cpu)),
      ]);
    }
  }
  base?.kill();
  floor.kill();
  const peakRss = peakRssMb(pid);
  const slowRss = SLOW ? await slowFollowers(server, dir) : null;
  server.kill();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `\nFollowers of one growing file: ${LINES} lines written ${EVERY_MS} ms apart, then renamed; ${ROUNDS} interleaved rounds, median (min–max); the floor is a bare node:net server doing only the same watch, read and writes (node ${process.version})\n`,
  );
  console.log(
    markdownTable(
      [
        'followers',
        'server',
        'got every line',
        'latency p50 ms',
        'latency p99 ms',
        'server CPU s',
        'CPU µs per client-line',
        'CPU vs floor',
        'server CPU %',
      ],
      rows,
    ),
  );
  if (base !== null) {
    console.log(
      `\nThis tree against the base tree (${BASE_DIR}), same rounds: per-round ratios this/base, median (min–max); below 1 is better\n`,
    );
    console.log(markdownTable(['followers', 'p50 this/base', 'p99 this/base', 'server CPU this/base'], versusBase));
  }
  console.log(`\ncosocket server peak RSS: ${fixed(peakRss, 0)} MB`);
  if (slowRss !== null) {
    console.log(
      `\n1,000 followers that stop reading while the file grows by 20 MB: server RSS ${fixed(slowRss.before, 0)} MB before, ${fixed(slowRss.after, 0)} MB after (20 GB would be buffered for them without backpressure)`,
    );
    log.add('server RSS before 1,000 followers stop reading', slowRss.before, 'MB', 'lower');
    log.add('server RSS after the file grew 20 MB under them', slowRss.after, 'MB', 'lower');
  }
  log.print();
}

/** 1,000 followers that stop reading while the file grows by 20 MB: the server must not buffer for them. */
async function slowFollowers(server: Target, dir: string): Promise<{ before: number; after: number }> {
  const pid = server.pid;
  const port = server.port;
  const slowTmp = join(dir, 'slow.log.tmp');
  writeFileSync(slowTmp, '');
  const rssBefore = rssMb(pid);
  const slow: Array<{ destroy(): void }> = [];
  await Promise.all(
    Array.from(
      { length: 1_000 },
      () =>
        new Promise<void>((resolve) => {
          const req = get({ host: '127.0.0.1', port, path: '/send/slow.log', agent: false }, (res) => {
            res.pause();
            resolve();
          });
          req.on('error', () => resolve());
          slow.push(req);
        }),
    ),
  );
  const block = Buffer.alloc(64 * 1024, 120);
  for (let i = 0; i < 320; i++) {
    appendFileSync(slowTmp, block);
    if (i % 16 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 1_500));
  const rssSlow = rssMb(pid);
  for (const req of slow) req.destroy();
  return { before: rssBefore, after: rssSlow };
}

function spread(values: number[], digits = 2): string {
  return `${fixed(median(values), digits)} (${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)})`;
}

await main();
