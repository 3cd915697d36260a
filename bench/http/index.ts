/**
 * bench/http (what `npm run bench` runs after the runtime and Redis benches): the seed's /test
 * comparison, reproduced. Starts a private redis-server, then each server in its own process —
 * cosocket serve and the hand-written baselines — and drives every one with the same load generator
 * (cosocket ab's, on autocannon) at the seed's concurrency, with and without client keepalive.
 * Several rounds, medians. Writes bench/results/<date>.json, .md and .svg.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { runLoad } from '../../src/ab/load.js';
import { startEmbeddedRedis } from '../../src/redis/embedded.js';
import { barChart } from '../lib/svg.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 100);

const BIN = fileURLToPath(new URL('../../../bin/cosocket.js', import.meta.url));
const BASELINE = fileURLToPath(new URL('./baseline-server.js', import.meta.url));

interface Target {
  id: string;
  label: string;
  server: 'cosocket' | 'constant' | 'ioredis' | 'ioredis-pool' | 'connect';
  path: string;
}

const TARGETS: Target[] = [
  { id: 'short', label: 'cosocket /test/short', server: 'cosocket', path: '/test/short' },
  { id: 'keepalive', label: 'cosocket /test/keepalive', server: 'cosocket', path: '/test/keepalive' },
  { id: 'shared', label: 'cosocket /test/shared', server: 'cosocket', path: '/test/shared' },
  { id: 'constant', label: 'fastify, constant body (no Redis)', server: 'constant', path: '/test' },
  { id: 'ioredis', label: 'fastify + ioredis, shared client (hand-written)', server: 'ioredis', path: '/test' },
  { id: 'ioredis-pool', label: 'fastify + ioredis + generic-pool (hand-written)', server: 'ioredis-pool', path: '/test' },
  { id: 'connect', label: 'fastify + ioredis, connect per request (hand-written)', server: 'connect', path: '/test' },
];

function startServer(kind: Target['server'], redisUrl: string): Promise<{ child: ChildProcess; port: number }> {
  const args =
    kind === 'cosocket'
      ? [BIN, 'serve', '--port', '0', '--redis', redisUrl, '--log-level', 'error']
      : [BASELINE, kind, redisUrl];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening (?:on http:\/\/[^:]+:)?(\d+)/.exec(out);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${String(code)}: ${out}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  const redisServer = await startEmbeddedRedis();
  const admin = new Redis(redisServer.url);
  await admin.set('test', 'hello12345');
  const servers = new Map<Target['server'], { child: ChildProcess; port: number }>();
  for (const kind of new Set(TARGETS.map((t) => t.server))) servers.set(kind, await startServer(kind, redisServer.url));

  const rps = new Map<string, number[]>();
  const p99 = new Map<string, number[]>();
  const failures = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const keepalive of [false, true]) {
      for (const target of TARGETS) {
        const key = `${target.id}:${keepalive ? 'k' : 'close'}`;
        const { port } = servers.get(target.server)!;
        const result = await runLoad({
          url: `http://127.0.0.1:${port}${target.path}`,
          requests: 10_000_000,
          concurrency: CONCURRENCY,
          keepalive,
          timeLimit: SECONDS,
          method: 'GET',
          headers: {},
          timeout: 30,
        });
        const totals = result.samples.map((s) => s.total).sort((a, b) => a - b);
        (rps.get(key) ?? rps.set(key, []).get(key)!).push(result.completed / result.seconds);
        (p99.get(key) ?? p99.set(key, []).get(key)!).push(totals[Math.floor(totals.length * 0.99)] ?? 0);
        const bad = result.non2xx + result.failures.connect + result.failures.receive + result.failures.length;
        failures.set(key, (failures.get(key) ?? 0) + bad);
        if (result.documentLength !== 10) throw new Error(`${target.label} answered ${String(result.documentLength)} bytes, not 10`);
      }
    }
  }
  for (const { child } of servers.values()) await stopServer(child);
  admin.disconnect();
  await redisServer.stop();

  const med = (key: string): number => median(rps.get(key)!);
  const rows = TARGETS.map((t) => [
    t.label,
    fixed(med(`${t.id}:close`), 0),
    fixed(med(`${t.id}:k`), 0),
    fixed(median(p99.get(`${t.id}:k`)!), 2),
    String((failures.get(`${t.id}:close`) ?? 0) + (failures.get(`${t.id}:k`) ?? 0)),
  ]);
  const ratio = (a: string, b: string): number => med(a) / med(b);
  const summary = {
    'keepalive/short, no client keepalive (seed: 11,599/4,698 = 2.47x)': ratio('keepalive:close', 'short:close'),
    'keepalive/short, client keepalive (seed: 13,538/4,698 = 2.88x; target >= 3x)': ratio('keepalive:k', 'short:k'),
    '/test/keepalive vs fastify+ioredis shared client (target >= 0.95x)': ratio('keepalive:k', 'ioredis:k'),
    '/test/keepalive vs fastify+ioredis+generic-pool, same connection model': ratio('keepalive:k', 'ioredis-pool:k'),
    '/test/shared vs fastify+ioredis shared client (target >= 1.0x)': ratio('shared:k', 'ioredis:k'),
    '/test/short vs fastify+ioredis connect per request, same model': ratio('short:k', 'connect:k'),
  };
  const table = markdownTable(
    ['server and route', 'req/s, new connection per request', 'req/s, client keepalive (-k)', 'p99 ms (-k)', 'failed or non-2xx'],
    rows,
  );
  const ratios = markdownTable(['ratio', 'measured'], Object.entries(summary).map(([k, v]) => [k, `${fixed(v)}x`]));
  const header = `GET of a 10-byte value, ${CONCURRENCY} concurrent, ${SECONDS} s per run, median of ${ROUNDS} rounds (node ${process.version})`;
  console.log(`\n${header}\n\n${table}\n\n${ratios}`);

  const date = new Date().toISOString().slice(0, 10);
  const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}${date}.json`,
    JSON.stringify({ date, node: process.version, concurrency: CONCURRENCY, seconds: SECONDS, rounds: ROUNDS, rps: Object.fromEntries(rps), p99: Object.fromEntries(p99), summary }, null, 2),
  );
  writeFileSync(`${dir}${date}.md`, `${header}\n\n${table}\n\n${ratios}\n`);
  writeFileSync(
    `${dir}${date}.svg`,
    barChart(
      `/test: requests per second, ${CONCURRENCY} concurrent (median of ${ROUNDS})`,
      TARGETS.map((t) => t.label),
      [
        { name: 'new connection per request', color: '#8fa8c8', values: TARGETS.map((t) => med(`${t.id}:close`)) },
        { name: 'client keepalive (-k)', color: '#2f5d8a', values: TARGETS.map((t) => med(`${t.id}:k`)) },
      ],
      'req/s',
    ),
  );
  console.log(`\nwrote bench/results/${date}.json, .md and .svg`);
}

await main();
