/**
 * bench/send: followers of one growing file at 10, 100 and 1,000 clients — delivery latency from the
 * write to its receipt (p50, p99), the server's CPU and peak RSS — beside a bare node:net server doing
 * only the same writes (floor.ts), in interleaved rounds. Finished files: finished.ts. `npm run bench:send`.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricLog } from '../lib/bench-json.js';
import { processTree } from '../lib/process-cpu.js';
import { Latencies } from '../lib/latency.js';
import { subjectDir } from '../lib/subject.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const LINES = Number(process.env.SEND_LINES ?? 100);
const EVERY_MS = Number(process.env.SEND_EVERY_MS ?? 20);
/** How many followers each measured run has (the 1,000 that stop reading, below, are a separate check). */
const CLIENTS = (process.env.SEND_CLIENTS ?? '10,100,1000').split(',').map(Number);
const TICK = 100;

/** The figures of the server's whole process tree (a process under it counts too). */
function cpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return sum + (Number(fields[11]) + Number(fields[12])) / TICK;
  }, 0);
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

function startServer(name: string, script: string, dir: string): Promise<Target> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
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
  const floor = await startServer('bare node:net floor', './floor.js', dir);
  const pid = server.pid;
  const log = new MetricLog('send', subjectDir);
  const rows: string[][] = [];
  for (const clients of CLIENTS) {
    const results = new Map<Target, FollowersRun[]>([
      [server, []],
      [floor, []],
    ]);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [server, floor] : [floor, server];
      for (const target of order) results.get(target)!.push(await followersRun(target, dir, clients));
    }
    const floorRuns = results.get(floor)!;
    for (const target of [server, floor]) {
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
          2,
        ),
        spread(perLine, 1),
        spread(ratio),
        `${fixed(median(mine.map((r) => r.share * 100)), 0)}%`,
      ]);
    }
  }
  floor.kill();
  const peakRss = peakRssMb(pid);
  // 1,000 followers that stop reading while the file grows by 20 MB: the server must not buffer for them
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
  console.log(`\ncosocket server peak RSS: ${fixed(peakRss, 0)} MB`);
  console.log(
    `\n1,000 followers that stop reading while the file grows by 20 MB: server RSS ${fixed(rssBefore, 0)} MB before, ${fixed(rssSlow, 0)} MB after (20 GB would be buffered for them without backpressure)`,
  );
  log.add('server RSS before 1,000 followers stop reading', rssBefore, 'MB', 'lower');
  log.add('server RSS after the file grew 20 MB under them', rssSlow, 'MB', 'lower');
  log.print();
}

function spread(values: number[], digits = 2): string {
  return `${fixed(median(values), digits)} (${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)})`;
}

await main();
