/**
 * bench/redis: GET of a 10-byte value through each Redis mode at concurrency 1, 10 and 100, each
 * beside the async/await code a user would write by hand for the same connection model, all against
 * one private redis-server in one process. Reports requests/s, p50/p99 latency, and the connections
 * Redis saw (opened during the run, and the most open at once, sampled with CLIENT LIST).
 * `npm run bench:redis`.
 */
import { Redis } from 'ioredis';
import type { Operation, redis } from '../../src/index.js';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { MetricLog } from '../lib/bench-json.js';
import { Latencies } from '../lib/latency.js';
import { loadSubject, subjectDir } from '../lib/subject.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const LEVELS = (process.env.CONCURRENCY ?? '1,10,100').split(',').map(Number);

type Baseline = 'ioredis-connect' | 'ioredis-per-worker' | 'ioredis-shared';
type Mode = Baseline | redis.RedisMode;
/** Each cosocket mode right after the hand-written code with the same connection model. */
const MODES: Mode[] = ['ioredis-connect', 'short', 'ioredis-per-worker', 'keepalive', 'ioredis-shared', 'shared'];
const BASELINE_OF: Record<redis.RedisMode, Baseline> = {
  short: 'ioredis-connect',
  keepalive: 'ioredis-per-worker',
  shared: 'ioredis-shared',
};
const LABEL: Record<Mode, string> = {
  'ioredis-connect': 'ioredis, connect per request (hand-written)',
  short: 'cosocket short',
  'ioredis-per-worker': 'ioredis, one connection per worker (hand-written)',
  keepalive: 'cosocket keepalive',
  'ioredis-shared': 'ioredis, one auto-pipelined connection (hand-written)',
  shared: 'cosocket shared',
};

interface Run {
  rps: number;
  p50: number;
  p99: number;
  opened: number;
  maxOpen: number;
}

const lib = await loadSubject();
const { Scheduler, pools } = lib;
const HAND_WRITTEN = new Set<Mode>(['ioredis-connect', 'ioredis-per-worker', 'ioredis-shared']);

async function main(): Promise<void> {
  const log = new MetricLog('redis', subjectDir);
  const server = await startEmbeddedRedis();
  const admin = new Redis(server.url);
  await admin.set('test', 'hello12345');
  const scheduler = new Scheduler({ name: 'bench', concurrency: 1_000, deadline: 0 });

  const clients = async (): Promise<number> => ((await admin.client('LIST')) as string).trim().split('\n').length - 1;
  const received = async (): Promise<number> =>
    Number(/total_connections_received:(\d+)/.exec(await admin.info('stats'))![1]);

  async function handWritten(mode: Baseline, concurrency: number, stopAt: number, latencies: Latencies): Promise<void> {
    const options = { enableReadyCheck: false, lazyConnect: true };
    const shared = mode === 'ioredis-shared' ? new Redis(server.url, { ...options, enableAutoPipelining: true }) : null;
    await shared?.connect();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        const own = mode === 'ioredis-per-worker' ? new Redis(server.url, options) : null;
        await own?.connect();
        while (performance.now() < stopAt) {
          const t = performance.now();
          if (mode === 'ioredis-connect') {
            const client = new Redis(server.url, options);
            await client.connect();
            await client.get('test');
            client.disconnect();
          } else {
            await (shared ?? own)!.get('test');
          }
          latencies.add(performance.now() - t);
        }
        own?.disconnect();
      }),
    );
    shared?.disconnect();
  }

  async function once(mode: Mode, concurrency: number): Promise<Run> {
    const latencies = new Latencies();
    const stopAt = performance.now() + SECONDS * 1000;
    let maxOpen = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxOpen = Math.max(maxOpen, await clients());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const openedBefore = await received();
    const started = performance.now();
    const workers: Array<PromiseLike<unknown>> = [];
    if (mode === 'ioredis-connect' || mode === 'ioredis-per-worker' || mode === 'ioredis-shared') {
      workers.push(handWritten(mode, concurrency, stopAt, latencies));
    } else {
      for (let w = 0; w < concurrency; w++) {
        workers.push(
          scheduler.go(function* worker(): Operation<void> {
            while (performance.now() < stopAt) {
              const t = performance.now();
              const red = yield* lib.redis.connect({ url: server.url, mode, poolSize: 100, backlog: 1_000 });
              yield* red.get('test');
              red.setkeepalive();
              latencies.add(performance.now() - t);
            }
          }),
        );
      }
    }
    await Promise.all(workers);
    const elapsed = (performance.now() - started) / 1000;
    sampling = false;
    await sampler;
    const opened = (await received()) - openedBefore;
    // start the next run from nothing: no idle pooled or shared connection carried over
    await pools.drain();
    while ((await clients()) > 0) await new Promise((r) => setTimeout(r, 20));
    return {
      rps: latencies.count / elapsed,
      p50: latencies.percentile(50),
      p99: latencies.percentile(99),
      opened,
      maxOpen,
    };
  }

  const rows: string[][] = [];
  const results: Record<string, Run> = {};
  for (const concurrency of LEVELS) {
    const samples = new Map<Mode, Run[]>(MODES.map((m) => [m, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) samples.get(mode)!.push(await once(mode, concurrency));
    }
    for (const mode of MODES) {
      const runs = samples.get(mode)!;
      const run: Run = {
        rps: median(runs.map((r) => r.rps)),
        p50: median(runs.map((r) => r.p50)),
        p99: median(runs.map((r) => r.p99)),
        opened: median(runs.map((r) => r.opened)),
        maxOpen: median(runs.map((r) => r.maxOpen)),
      };
      results[`${mode}@${concurrency}`] = run;
      const baseline =
        mode in BASELINE_OF ? median(samples.get(BASELINE_OF[mode as redis.RedisMode])!.map((r) => r.rps)) : run.rps;
      const control = HAND_WRITTEN.has(mode);
      const at = `${LABEL[mode]} @ ${concurrency}`;
      log.add(`req/s: ${at}`, run.rps, 'req/s', 'higher', control);
      if (!control) log.add(`vs hand-written: ${at}`, run.rps / baseline, 'x', 'higher');
      log.add(`p50: ${at}`, run.p50, 'ms', 'lower', control);
      log.add(`p99: ${at}`, run.p99, 'ms', 'lower', control);
      log.add(`connections opened: ${at}`, run.opened, 'connections', null, control);
      log.add(`most open at once: ${at}`, run.maxOpen, 'connections', null, control);
      rows.push([
        LABEL[mode],
        String(concurrency),
        fixed(run.rps, 0),
        `${fixed(run.rps / baseline)}x`,
        fixed(run.p50, 3),
        fixed(run.p99, 3),
        String(run.opened),
        String(run.maxOpen),
      ]);
    }
  }
  console.log(
    `\nRedis GET of a 10-byte value, ${SECONDS} s per run, median of ${ROUNDS} rounds (node ${process.version}, redis ${server.version})\n`,
  );
  console.log(
    markdownTable(
      [
        'mode',
        'concurrency',
        'req/s',
        'vs hand-written',
        'p50 ms',
        'p99 ms',
        'connections opened',
        'most open at once',
      ],
      rows,
    ),
  );
  const ratio = (a: string, b: string): number => results[a]!.rps / results[b]!.rps;
  const top = Math.max(...LEVELS);
  console.log(
    `\nkeepalive/short at concurrency ${top}: ${fixed(ratio(`keepalive@${top}`, `short@${top}`))}x (seed, nginx-cosocket: 11,599 / 4,698 = 2.47x)`,
  );
  log.add(`keepalive/short @ ${top}`, ratio(`keepalive@${top}`, `short@${top}`), 'x', 'higher');
  log.print();

  admin.disconnect();
  await pools.drain();
  await server.stop();
}

await main();
