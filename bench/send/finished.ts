/**
 * bench/send/finished: a finished 1 KB and 100 KB file through cosocket's /send/ beside nginx (alias +
 * sendfile on, 1 worker), @fastify/static and a bare node:http server answering from memory, with ab
 * -k at 10 and 100 connections, in interleaved rounds. Reports req/s and the server's CPU per request
 * (from /proc: meaningful even where ab, on the same cores, is the limit), each as the median and range
 * of the per-round ratio to nginx, and ab's CPU share. `npm run bench:send:finished`
 * (SEND_ROUNDS, SEND_SECONDS, SEND_CONCURRENCY=10,100, SEND_SIZES=1024,102400).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricLog } from '../lib/bench-json.js';
import { processCpuSeconds, processTree } from '../lib/process-cpu.js';
import { subjectDir } from '../lib/subject.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const ROUNDS = Number(process.env.SEND_ROUNDS ?? 5);
const SECONDS = Number(process.env.SEND_SECONDS ?? 3);
const CONCURRENCY = (process.env.SEND_CONCURRENCY ?? '10,100').split(',').map(Number);
const SIZES = (process.env.SEND_SIZES ?? '1024,102400').split(',').map(Number);

interface Server {
  name: string;
  port: number;
  pid: number;
  child: ChildProcess;
}

function treeCpu(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + (processCpuSeconds(p) ?? 0), 0);
}

function startNode(name: string, script: string, args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(d.toString());
      if (m) resolve({ name, port: Number(m[1]), pid: child.pid!, child });
    });
  });
}

async function startNginx(dir: string, root: string): Promise<Server> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1; daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; keepalive_requests 1000000; default_type text/plain;
  server { listen 127.0.0.1:${port}; location /send/ { alias ${root}/; } } }
`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'inherit' });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const ok = await fetch(`http://127.0.0.1:${port}/send/f1024`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { name: 'nginx', port, pid: child.pid!, child };
  }
  throw new Error('nginx did not start (is nginx installed?)');
}

interface Run {
  rps: number;
  /** server CPU µs per request */
  cpuPerRequest: number;
  /** ab's CPU as a share of one core */
  abShare: number;
}

/** ab -k for SECONDS against `server`; the server's CPU from /proc, ab's from bash's `times`. */
function ab(server: Server, path: string, concurrency: number): Promise<Run> {
  const cpuBefore = treeCpu(server.pid);
  const started = performance.now();
  const url = `http://127.0.0.1:${server.port}${path}`;
  const child = spawn('bash', ['-c', `ab -q -k -c ${concurrency} -t ${SECONDS} -n 100000000 ${url} 2>&1; times`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('close', () => {
      const seconds = (performance.now() - started) / 1000;
      const cpu = treeCpu(server.pid) - cpuBefore;
      const complete = Number(/Complete requests:\s+(\d+)/.exec(out)?.[1]);
      const failed = Number(/Failed requests:\s+(\d+)/.exec(out)?.[1]);
      const rps = Number(/Requests per second:\s+([\d.]+)/.exec(out)?.[1]);
      if (!(complete > 0) || failed > 0) {
        reject(new Error(`ab against ${server.name} ${path}: ${out}`));
        return;
      }
      // `times`: the shell's own times, then its children's: "0m1.234s 0m0.567s"
      const lines = out.trim().split('\n');
      const [user = 0, sys = 0] = (lines.at(-1) ?? '').split(' ').map((t) => {
        const m = /(\d+)m([\d.]+)s/.exec(t);
        return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
      });
      resolve({ rps, cpuPerRequest: (cpu / complete) * 1e6, abShare: (user + sys) / seconds });
    });
    child.on('error', reject);
  });
}

const range = (values: number[], digits: number): string =>
  `${fixed(median(values), digits)} (${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)})`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-bench-finished-'));
  const root = join(dir, 'root');
  rmSync(root, { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(root);
  for (const size of SIZES) writeFileSync(join(root, `f${size}`), Buffer.alloc(size, 'x'));
  const servers = [
    await startNginx(dir, root),
    await startNode('cosocket /send/', './server.js', [root]),
    await startNode('@fastify/static', './peers.js', ['fastify-static', root]),
    await startNode('bare node:http (memory)', './peers.js', ['bare', root]),
  ];
  const log = new MetricLog('send-finished', subjectDir);
  const rows: string[][] = [];
  try {
    for (const size of SIZES) {
      for (const concurrency of CONCURRENCY) {
        const runs = new Map<string, Run[]>(servers.map((s) => [s.name, []]));
        for (const s of servers) await ab(s, `/send/f${size}`, concurrency); // warm-up
        for (let round = 0; round < ROUNDS; round++) {
          // interleaved, each round in another order
          const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
          for (const s of order) runs.get(s.name)!.push(await ab(s, `/send/f${size}`, concurrency));
        }
        const nginx = runs.get('nginx')!;
        for (const s of servers) {
          const mine = runs.get(s.name)!;
          const rpsRatio = mine.map((r, i) => r.rps / nginx[i]!.rps);
          const cpuRatio = mine.map((r, i) => r.cpuPerRequest / nginx[i]!.cpuPerRequest);
          const what = `${size === 1024 ? '1 KB' : `${size / 1024} KB`}, -c ${concurrency}`;
          rows.push([
            what,
            s.name,
            range(
              mine.map((r) => r.rps),
              0,
            ),
            range(rpsRatio, 2),
            range(
              mine.map((r) => r.cpuPerRequest),
              1,
            ),
            range(cpuRatio, 2),
            range(
              mine.map((r) => r.abShare * 100),
              0,
            ),
          ]);
          log.add(`${s.name} req/s vs nginx: ${what}`, median(rpsRatio), 'x', 'higher');
          log.add(`${s.name} server CPU per request vs nginx: ${what}`, median(cpuRatio), 'x', 'lower');
        }
      }
    }
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nFinished files, ab -k, ${SECONDS} s a run, ${ROUNDS} interleaved rounds: median (min–max); ratios per round to nginx (node ${process.version})\n`,
  );
  console.log(
    markdownTable(
      ['file, connections', 'server', 'req/s', 'req/s vs nginx', 'server CPU µs/req', 'CPU/req vs nginx', 'ab CPU %'],
      rows,
    ),
  );
  log.print();
}

await main();
