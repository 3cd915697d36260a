/**
 * cosocket ab's own ceiling: on one nginx worker answering a 10-byte constant, ab, raw autocannon
 * (its CLI, the same connections, keep-alive), cosocket ab and cosocket ab --workers 2 take turns for
 * AB_SECONDS each (rotated order, AB_ROUNDS rounds). Per round: req/s and the generator's CPU (user +
 * system of its whole process, from /usr/bin/time, over the wall time). Prints medians and ranges of
 * the same-round ratios.
 *
 *   npm run build && flock /tmp/bench.lock node dist/bench/ab/ceiling.js
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { envInt } from '../lib/env.js';
import { startNginxConstant, stopProc } from '../lib/processes.js';

const SECONDS = envInt('AB_SECONDS', 5);
const ROUNDS = envInt('AB_ROUNDS', 5);
const CONNECTIONS = envInt('AB_CONNECTIONS', 50);
const BIN = fileURLToPath(new URL('../../../bin/cosocket.js', import.meta.url));
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

interface Figure {
  rps: number;
  cpuShare: number;
}

function timed(command: string, args: string[]): Promise<{ stdout: string; cpu: number; wall: number }> {
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', 'CPU %U %S', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const wall = (performance.now() - started) / 1000;
      const match = /CPU ([\d.]+) ([\d.]+)/.exec(stderr);
      if (code !== 0 || match === null) reject(new Error(`${command} ${args.join(' ')}: exit ${code}: ${stderr}`));
      else resolve({ stdout, cpu: Number(match[1]) + Number(match[2]), wall });
    });
  });
}

const number = (report: string, pattern: RegExp): number => Number(pattern.exec(report)?.[1] ?? NaN);

const TOOLS: Record<string, (url: string) => Promise<Figure>> = {
  ab: async (url) => {
    const run = await timed('ab', ['-q', '-k', '-c', String(CONNECTIONS), '-t', String(SECONDS), '-n', '2000000', url]);
    return { rps: number(run.stdout, /Requests per second:\s+([\d.]+)/), cpuShare: run.cpu / run.wall };
  },
  autocannon: async (url) => {
    const args = [AUTOCANNON, '-c', String(CONNECTIONS), '-d', String(SECONDS), '-p', '1', '--json', url];
    const run = await timed(process.execPath, args);
    const json = JSON.parse(run.stdout) as { requests: { total: number }; duration: number };
    return { rps: json.requests.total / json.duration, cpuShare: run.cpu / run.wall };
  },
  'cosocket ab': async (url) => {
    const args = [BIN, 'ab', '-k', '-c', String(CONNECTIONS), '-t', String(SECONDS), '-n', '2000000', '--json', url];
    const run = await timed(process.execPath, args);
    const json = JSON.parse(run.stdout) as { requestsPerSecond: number };
    return { rps: json.requestsPerSecond, cpuShare: run.cpu / run.wall };
  },
  'cosocket ab --workers 2': async (url) => {
    const args = [BIN, 'ab', '-k', '-c', String(CONNECTIONS), '-t', String(SECONDS), '-n', '2000000', '--workers', '2'];
    const run = await timed(process.execPath, [...args, '--json', url]);
    const json = JSON.parse(run.stdout) as { requestsPerSecond: number };
    return { rps: json.requestsPerSecond, cpuShare: run.cpu / run.wall };
  },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const range = (xs: number[]): string => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;

const nginx = await startNginxConstant('hello12345');
const url = `http://127.0.0.1:${nginx.port}/`;
const names = Object.keys(TOOLS);
const figures: Record<string, Figure[]> = Object.fromEntries(names.map((n) => [n, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      figures[name]!.push(await TOOLS[name]!(url));
    }
    console.error(`round ${round + 1}: ${names.map((n) => `${n} ${Math.round(figures[n]!.at(-1)!.rps)}`).join(', ')}`);
  }
} finally {
  await stopProc(nginx);
}
console.log(
  `\nnginx 10-byte constant, -k -c ${CONNECTIONS}, ${SECONDS} s per run, ${ROUNDS} rounds (node ${process.version})\n`,
);
console.log('| generator | req/s median (range) | generator CPU, share of one core | vs raw autocannon, same-round |');
console.log('| --- | --- | --- | --- |');
for (const name of names) {
  const rps = figures[name]!.map((f) => f.rps);
  const cpu = figures[name]!.map((f) => f.cpuShare * 100);
  const ratios = figures[name]!.map((f, i) => f.rps / figures['autocannon']![i]!.rps);
  console.log(
    `| ${name} | ${Math.round(median(rps))} (${Math.round(Math.min(...rps))}–${Math.round(Math.max(...rps))}) | ` +
      `${Math.round(median(cpu))}% (${Math.round(Math.min(...cpu))}–${Math.round(Math.max(...cpu))}%) | ` +
      `${median(ratios).toFixed(2)}x (${range(ratios)}) |`,
  );
}
