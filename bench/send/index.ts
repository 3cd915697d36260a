/**
 * bench/send: followers of one growing file at 10, 100 and 1,000 clients — delivery latency from the
 * write to its receipt (p50, p99), the server's CPU and peak RSS — and requests/s for a finished file.
 * `npm run bench:send`.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadUrl } from '../../src/ab/url-load.js';
import { MetricLog } from '../lib/bench-json.js';
import { processTree } from '../lib/process-cpu.js';
import { Latencies } from '../lib/latency.js';
import { subjectDir } from '../lib/subject.js';
import { fixed, markdownTable } from '../lib/table.js';

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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-bench-send-'));
  writeFileSync(join(dir, 'finished.txt'), 'x'.repeat(1024));
  const server = spawn(process.execPath, [fileURLToPath(new URL('./server.js', import.meta.url)), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => {
    server.stdout.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
  });
  const pid = server.pid!;
  const log = new MetricLog('send', subjectDir);
  const rows: string[][] = [];
  for (const clients of CLIENTS) {
    const name = `growing-${clients}.log`;
    const tmp = join(dir, `${name}.tmp`);
    writeFileSync(tmp, '');
    const latencies = new Latencies();
    const followers = Array.from({ length: clients }, () => follower(port, `/send/${name}`, latencies));
    await Promise.all(followers.map((f) => f.attached));
    await new Promise((r) => setTimeout(r, 200));
    const cpuBefore = cpuSeconds(pid);
    const started = performance.now();
    for (let i = 0; i < LINES; i++) {
      appendFileSync(tmp, `${performance.now().toFixed(3)}\n`);
      await new Promise((r) => setTimeout(r, EVERY_MS));
    }
    renameSync(tmp, join(dir, name));
    const received = await Promise.all(followers.map((f) => f.done));
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    const at = `${clients} followers`;
    log.add(`got every line: ${at}`, received.filter((n) => n === LINES).length, 'followers', 'higher');
    log.add(`latency p50: ${at}`, latencies.percentile(50), 'ms', 'lower');
    log.add(`latency p99: ${at}`, latencies.percentile(99), 'ms', 'lower');
    log.add(`server CPU: ${at}`, cpu, 's', 'lower');
    log.add(`server CPU share: ${at}`, (cpu / seconds) * 100, '%', null);
    log.add(`server peak RSS after: ${at}`, peakRssMb(pid), 'MB', 'lower');
    rows.push([
      String(clients),
      `${received.filter((n) => n === LINES).length}/${clients}`,
      fixed(latencies.percentile(50), 2),
      fixed(latencies.percentile(99), 2),
      fixed(cpu, 2),
      `${fixed((cpu / seconds) * 100, 0)}%`,
      fixed(peakRssMb(pid), 0),
    ]);
  }
  // 1,000 followers that stop reading while the file grows by 20 MB: the server must not buffer for them
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

  const finished = await loadUrl({
    url: `http://127.0.0.1:${port}/send/finished.txt`,
    requests: 10_000_000,
    concurrency: 10,
    keepalive: true,
    timeLimit: 3,
  });
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `\nFollowers of one growing file: ${LINES} lines written ${EVERY_MS} ms apart, then renamed (node ${process.version})\n`,
  );
  console.log(
    markdownTable(
      [
        'followers',
        'got every line',
        'latency p50 ms',
        'latency p99 ms',
        'server CPU s',
        'server CPU %',
        'server peak RSS MB',
      ],
      rows,
    ),
  );
  console.log(
    `\n1,000 followers that stop reading while the file grows by 20 MB: server RSS ${fixed(rssBefore, 0)} MB before, ${fixed(rssSlow, 0)} MB after (20 GB would be buffered for them without backpressure)`,
  );
  console.log(
    `\nFinished file (1 KB), 10 keepalive connections, 3 s: ${fixed(finished.done / finished.seconds, 0)} req/s (seed, nginx module with wrk -c 10: 472 req/s)`,
  );
  log.add('server RSS before 1,000 followers stop reading', rssBefore, 'MB', 'lower');
  log.add('server RSS after the file grew 20 MB under them', rssSlow, 'MB', 'lower');
  log.add('finished 1 KB file, 10 keepalive connections', finished.done / finished.seconds, 'req/s', 'higher');
  log.print();
}

await main();
