/**
 * The per-request cost of each dyups balancer beside smooth weighted round robin (issue 21): one
 * `cosocket serve` with one worker, one group per balancer, each over the same two nginx upstreams
 * (a 10-byte file each: the upstreams are never the limit), ab -k with 50 clients, interleaved rounds
 * (each balancer's run right beside an SWRR run, the order alternating). Per balancer: req/s (median and
 * range), its ratio to the SWRR run beside it, the proxy's CPU per request and its ratio, and the CPU
 * share of ab and of the proxy. Two coroutine balancers from modules named in the
 * config: one that picks without yielding, one that does a Redis GET per request (a private redis-server).
 *
 *   npm run build && flock /tmp/bench.lock node dist/bench/dyups/balancers.js   # env BENCH_SECONDS, ROUNDS, ONLY
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { postUpstream, startDyupsServer } from '../lib/dyups-server.js';
import { envInt } from '../lib/env.js';
import { runGenerator } from '../lib/load-generator.js';
import { startNginxFiles, stopProc, workerPid } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { medianWithRange } from '../lib/rounds.js';
import { subjectDir } from '../lib/subject.js';
import { BUILT_IN_METHODS } from './balancing-methods.js';
import type { BalancingMethod } from './balancing-methods.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = envInt('ROUNDS', 5);
const CONCURRENCY = envInt('CONCURRENCY', 50);

/** Each group: its name (the Host) and its balancing lines. */
const ALL_GROUPS: readonly BalancingMethod[] = [
  ...BUILT_IN_METHODS,
  { id: 'sticky cookie (no cookie sent: a Set-Cookie each)', lines: 'sticky cookie srv;' },
  { id: 'sticky cookie (cookie sent)', lines: 'sticky cookie srv;' },
  { id: 'split 10% (to an SWRR group)', lines: 'split 10% -> swrr.bench;' },
  { id: 'coroutine, no yield', lines: 'balancer noyield;' },
  { id: 'coroutine, a Redis GET', lines: 'balancer redisget; balancer_timeout 1s;' },
];

/** ONLY=coroutine,ewma: SWRR and the balancers whose name has one of these words (all by default). */
const ONLY = (process.env.ONLY ?? '').split(',').filter((word) => word !== '');
const GROUPS = ALL_GROUPS.filter((group, i) => i === 0 || ONLY.length === 0 || ONLY.some((w) => group.id.includes(w)));

interface Run {
  rps: number;
  ab: number;
  proxy: number;
  usPerRequest: number;
  failed: number;
}

const hostOf = (index: number): string => (index === 0 ? 'swrr.bench' : `g${index}.bench`);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-bench-balancers-'));
  const procs: Proc[] = [];
  const redis = await startEmbeddedRedis();
  try {
    const lib = pathToFileURL(join(subjectDir, 'dist/src/index.js')).href;
    writeFileSync(
      join(dir, 'noyield.mjs'),
      'let i = 0;\nexport default function* (ctx) { return ctx.peers[i++ % ctx.peers.length]; }\n',
    );
    writeFileSync(
      join(dir, 'redisget.mjs'),
      `import { redis } from ${JSON.stringify(lib)};\n` +
        `export default function* (ctx) {\n` +
        `  const conn = yield* redis.connect({ url: ${JSON.stringify(redis.url)}, mode: 'keepalive' });\n` +
        `  const address = yield* conn.get('route:' + (ctx.request.headers['x-user'] ?? 'nobody'));\n` +
        `  conn.setkeepalive();\n  return address;\n}\n`,
    );
    const [one, two] = [
      await startNginxFiles({ '/10b': '0123456789' }),
      await startNginxFiles({ '/10b': '0123456789' }),
    ];
    procs.push(one, two);
    const servers = `server 127.0.0.1:${one.port}; server 127.0.0.1:${two.port}; keepalive 64;`;
    const proxy = await startDyupsServer(one.port, {
      dyups: { balancers: { noyield: join(dir, 'noyield.mjs'), redisget: join(dir, 'redisget.mjs') } },
    });
    procs.push(proxy);
    // the swrr group first: the split group names it
    for (const [i, group] of GROUPS.entries())
      await postUpstream(proxy.adminPort, hostOf(i), `${group.lines} ${servers}`);
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    await admin.set('route:bench', `127.0.0.1:${two.port}`);
    admin.disconnect();

    const headersOf = (i: number): Record<string, string> => {
      const headers: Record<string, string> = { host: hostOf(i), 'x-user': 'bench' };
      if (GROUPS[i]!.id === 'sticky cookie (cookie sent)')
        headers.cookie = `srv=${createHash('md5').update(`127.0.0.1:${two.port}`).digest('hex')}`;
      return headers;
    };
    const watch = new Map([['proxy', workerPid(proxy)]]);
    const run = async (i: number, seconds: number): Promise<Run> => {
      const result = await runGenerator('ab', {
        url: `http://127.0.0.1:${proxy.port}/10b`,
        concurrency: CONCURRENCY,
        keepalive: true,
        seconds,
        headers: headersOf(i),
        watch,
      });
      const proxyCpu = result.cpu.proxy ?? NaN;
      return {
        rps: result.rps,
        ab: result.generatorCpu,
        proxy: proxyCpu,
        usPerRequest: (proxyCpu / 100 / result.rps) * 1e6,
        failed: result.failed + result.non2xx,
      };
    };
    for (let i = 0; i < GROUPS.length; i++) await run(i, 1); // warm-up
    // each balancer beside an SWRR run right before or after it (the order alternates): the machine's
    // drift between the two is seconds, not a whole round
    const pairs = GROUPS.map(() => [] as Array<{ it: Run; swrr: Run }>);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < GROUPS.length - 1; k++) {
        const i = 1 + ((k + round) % (GROUPS.length - 1));
        const swrrFirst = (round + k) % 2 === 0;
        const first = await run(swrrFirst ? 0 : i, SECONDS);
        const second = await run(swrrFirst ? i : 0, SECONDS);
        const pair = swrrFirst ? { swrr: first, it: second } : { swrr: second, it: first };
        pairs[i]!.push(pair);
        pairs[0]!.push({ swrr: pair.swrr, it: pair.swrr });
        process.stderr.write(
          `round ${round + 1}/${ROUNDS} ${GROUPS[i]!.id}: ${fixed(pair.it.rps, 0)} req/s (${fixed(pair.it.usPerRequest, 1)} µs CPU) ` +
            `against SWRR ${fixed(pair.swrr.rps, 0)} (${fixed(pair.swrr.usPerRequest, 1)} µs), ab ${fixed(pair.it.ab, 0)}%, proxy ${fixed(pair.it.proxy, 0)}%\n`,
        );
      }
    }
    const rows = GROUPS.map((group, i) => {
      const list = pairs[i]!;
      const runs = list.map((p) => p.it);
      return [
        group.id,
        medianWithRange(runs.map((r) => r.rps)),
        i === 0
          ? '1'
          : medianWithRange(
              list.map((p) => p.it.rps / p.swrr.rps),
              2,
            ),
        fixed(median(runs.map((r) => r.usPerRequest)), 1),
        i === 0
          ? '1'
          : medianWithRange(
              list.map((p) => p.swrr.usPerRequest / p.it.usPerRequest),
              2,
            ),
        `${fixed(median(runs.map((r) => r.ab)), 0)} / ${fixed(median(runs.map((r) => r.proxy)), 0)}`,
        String(runs.reduce((sum, r) => sum + r.failed, 0)),
      ];
    });
    process.stdout.write(
      `${markdownTable(
        [
          'balancer',
          'req/s median (range)',
          'req/s x SWRR beside it (range)',
          'proxy µs CPU/request',
          'x SWRR by CPU/request (range)',
          'ab / proxy CPU %',
          'failed',
        ],
        rows,
      )}\n`,
    );
  } finally {
    for (const proc of procs.reverse()) await stopProc(proc).catch(() => {});
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
