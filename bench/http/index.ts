/**
 * bench/http (what `npm run bench` runs after the runtime and Redis benches): the seed's /test
 * comparison, reproduced. Starts a private redis-server, then each server in its own process —
 * cosocket serve and the hand-written baselines — and drives every one with the same load generator
 * (ab when installed, else wrk, else autocannon: bench/lib/load-generator.ts) at the seed's
 * concurrency, with and without client keepalive, in interleaved rounds. The same rounds measure each
 * available load generator against one nginx worker serving a constant: the generators' ceiling.
 * Every figure comes with the CPU share of the generator, the server, redis and the machine.
 * Writes bench/results/<date>.json, .md and .svg.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { MetricLog, metricsRequested } from '../lib/bench-json.js';
import { envInt } from '../lib/env.js';
import {
  availableGenerators,
  chooseGenerator,
  generatorCaveat,
  generatorSaturated,
  runGenerator,
  SATURATED_CPU_PERCENT,
} from '../lib/load-generator.js';
import type { GeneratorName, LoadFigures } from '../lib/load-generator.js';
import { childPids } from '../lib/process-cpu.js';
import { nginxPath, startNginxConstant } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { medianWithRange, range, roundRatios } from '../lib/rounds.js';
import { subjectBin, subjectDir } from '../lib/subject.js';
import { barChart } from '../lib/svg.js';
import { fixed, markdownTable, median } from '../lib/table.js';
import { logHttpMetrics } from './metrics.js';
import { RATIOS, TARGETS } from './targets.js';
import type { ServerKind } from './targets.js';

const SECONDS = envInt('BENCH_SECONDS', 3);
const ROUNDS = envInt('ROUNDS', 3);
const CONCURRENCY = envInt('CONCURRENCY', 100);
const BODY = 'hello12345';

const BIN = subjectBin;
const BASELINE = fileURLToPath(new URL('./baseline-server.js', import.meta.url));

/** One line of the table: a URL, the generator that drives it, the processes whose CPU is watched. */
interface Row {
  id: string;
  label: string;
  generator: GeneratorName;
  url: string;
  watch: Map<string, number>;
  ceiling: boolean;
}

const MODES = [
  { key: 'close', keepalive: false, title: 'a new connection per request' },
  { key: 'k', keepalive: true, title: 'client keepalive (-k)' },
] as const;

function startServer(kind: ServerKind, redisUrl: string): Promise<{ child: ChildProcess; port: number }> {
  const args =
    kind === 'cosocket'
      ? [BIN, 'serve', '--port', '0', '--redis', redisUrl, '--log-level', 'error']
      : [BASELINE, kind, redisUrl];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening (?:on http:\/\/[^:]+:)?(\d+)/.exec(out);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${String(code)}: ${out}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

function cpuCell(runs: readonly LoadFigures[], generator: GeneratorName): string {
  const share = (name: string): string => {
    const values = runs.map((r) => r.cpu[name]).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return values.length === 0 ? '–' : fixed(median(values), 0);
  };
  const generatorCpu = median(runs.map((r) => r.generatorCpu));
  const limit = generatorSaturated({ generatorCpu }) ? ' (limit)' : '';
  return `${generator} ${fixed(generatorCpu, 0)}${limit} / ${share('server')} / ${share('redis')} / ${share('machine')}`;
}

/** The server's CPU time per request in µs: what a request costs it, however much of a core it was given. */
function serverMicrosPerRequest(run: LoadFigures): number {
  return (((run.cpu.server ?? NaN) / 100) * 1e6) / run.rps;
}

/** What limited the figures: a saturated generator, connections the server closed, a figure near the ceiling, other work on the machine. */
function limitNotes(
  rows: readonly Row[],
  runs: ReadonlyMap<string, LoadFigures[]>,
  caveat: string | null,
  cores: number,
): string[] {
  const rps = (key: string): number[] => runs.get(key)!.map((r) => r.rps);
  const notes: string[] = [];
  if (caveat !== null) notes.push(caveat);
  let saturated = false;
  for (const row of rows) {
    for (const mode of MODES) {
      const cpu = median(runs.get(`${row.id}:${mode.key}`)!.map((r) => r.generatorCpu));
      if (cpu >= SATURATED_CPU_PERCENT) {
        saturated = true;
        notes.push(
          `${row.label}, ${mode.title}: ${row.generator} used ${fixed(cpu, 0)}% of a core, so ${row.generator} (single-threaded) is the limit of that figure`,
        );
      }
      const modeRuns = runs.get(`${row.id}:${mode.key}`)!;
      const closed = modeRuns.reduce(
        (sum, r) => sum + (r.keepAliveResponses === null ? 0 : r.completed - r.keepAliveResponses),
        0,
      );
      if (mode.keepalive && closed > 0.01 * modeRuns.reduce((sum, r) => sum + r.completed, 0)) {
        notes.push(
          `${row.label}, ${mode.title}: ${closed} responses closed their connection although ${row.generator} asked for keepalive (an HTTP/1.0 response without Content-Length?)`,
        );
      }
      const ceiling = runs.get(`ceiling-${row.generator}:${mode.key}`);
      const value = median(rps(`${row.id}:${mode.key}`));
      if (!row.ceiling && ceiling !== undefined && value >= 0.8 * median(ceiling.map((r) => r.rps))) {
        notes.push(
          `${row.label}, ${mode.title}: ${fixed(value, 0)} req/s is within 80% of ${row.generator}'s own ceiling; gaps near it are under-reported`,
        );
      }
    }
  }
  if (!saturated)
    notes.push(
      `no load generator reached ${SATURATED_CPU_PERCENT}% of a core in any median: the generator limited no figure`,
    );
  const allRuns = [...runs.values()].flat();
  const others = allRuns
    .map((r) => (r.cpu.machine ?? NaN) - r.generatorCpu - (r.cpu.server ?? 0) - (r.cpu.redis ?? 0))
    .filter(Number.isFinite);
  if (others.length > 0) {
    const busy = median(others);
    notes.push(
      `work outside this benchmark (the machine's busy time less generator, server and redis) took a median ${fixed(busy, 0)}% of a core ` +
        `of the ${cores * 100}% there is${busy >= 50 ? ': the machine was shared, so absolute req/s are low and noisy; compare same-round ratios' : ''}`,
    );
  }
  return notes;
}

async function main(): Promise<void> {
  const generator = chooseGenerator();
  const generators = availableGenerators();
  const cores = availableParallelism();
  const caveat = generatorCaveat(generator);
  if (caveat !== null) console.log(`note: ${caveat}`);
  console.log(`load generator: ${generator} (available: ${generators.join(', ')}; LOAD_GENERATOR picks another)`);

  const redisServer = await startEmbeddedRedis();
  const admin = new Redis(redisServer.url);
  await admin.set('test', BODY);
  const redisPid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
  const servers = new Map<ServerKind, { child: ChildProcess; port: number }>();
  let nginx: Proc | null = null;
  const rows: Row[] = [];
  const runs = new Map<string, LoadFigures[]>();
  try {
    for (const kind of new Set(TARGETS.map((t) => t.server)))
      servers.set(kind, await startServer(kind, redisServer.url));
    for (const target of TARGETS) {
      const { child, port } = servers.get(target.server)!;
      const watch = new Map([['server', child.pid!]]);
      if (Number.isInteger(redisPid)) watch.set('redis', redisPid);
      rows.push({
        id: target.id,
        label: target.label,
        generator,
        url: `http://127.0.0.1:${port}${target.path}`,
        watch,
        ceiling: false,
      });
    }
    if (nginxPath() === null) {
      console.log('note: nginx is not installed: no load generator ceiling (apt-get install nginx-light)');
    } else {
      nginx = await startNginxConstant(BODY);
      const worker = childPids(nginx.child.pid!)[0] ?? nginx.child.pid!;
      for (const name of generators) {
        rows.push({
          id: `ceiling-${name}`,
          label: `load generator ceiling (nginx constant): ${name}`,
          generator: name,
          url: `http://127.0.0.1:${nginx.port}/`,
          watch: new Map([['server', worker]]),
          ceiling: true,
        });
      }
    }

    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        for (const row of rows) {
          const figures = await runGenerator(row.generator, {
            url: row.url,
            seconds: SECONDS,
            concurrency: CONCURRENCY,
            keepalive: mode.keepalive,
            watch: row.watch,
          });
          if (figures.documentLength !== null && figures.documentLength !== BODY.length) {
            throw new Error(`${row.label} answered ${figures.documentLength} bytes, not ${BODY.length}`);
          }
          const key = `${row.id}:${mode.key}`;
          (runs.get(key) ?? runs.set(key, []).get(key)!).push(figures);
          process.stderr.write(
            `round ${round + 1}/${ROUNDS} ${mode.key.padEnd(5)} ${row.label}: ${fixed(figures.rps, 0)} req/s, ${row.generator} ${fixed(figures.generatorCpu, 0)}% cpu\n`,
          );
        }
      }
    }
  } finally {
    for (const { child } of servers.values()) await stopServer(child);
    if (nginx !== null) {
      await stopServer(nginx.child);
      nginx.cleanup?.();
    }
    admin.disconnect();
    await redisServer.stop();
  }

  const rps = (key: string): number[] => runs.get(key)!.map((r) => r.rps);
  const table = markdownTable(
    [
      'server and route',
      `req/s, ${MODES[0].title}: median (range)`,
      'CPU % (generator / server / redis / machine)',
      `req/s, ${MODES[1].title}: median (range)`,
      'CPU % (generator / server / redis / machine)',
      'p99 ms (-k)',
      'server CPU µs per request (-k)',
      'failed or non-2xx',
    ],
    rows.map((row) => {
      const close = runs.get(`${row.id}:close`)!;
      const k = runs.get(`${row.id}:k`)!;
      const failed = [...close, ...k].reduce((sum, r) => sum + r.failed + r.non2xx, 0);
      return [
        row.label,
        medianWithRange(rps(`${row.id}:close`)),
        cpuCell(close, row.generator),
        medianWithRange(rps(`${row.id}:k`)),
        cpuCell(k, row.generator),
        fixed(median(k.map((r) => r.p99Ms)), 2),
        fixed(median(k.map(serverMicrosPerRequest)), 0),
        String(failed),
      ];
    }),
  );

  const ratioFigures = RATIOS.map((ratio) => {
    const perRound = roundRatios(rps(ratio.a), rps(ratio.b));
    const { min, max } = range(perRound);
    // the same comparison by what a request costs the server: robust to how much CPU the machine left it
    const byCost = roundRatios(
      runs.get(ratio.b)!.map(serverMicrosPerRequest),
      runs.get(ratio.a)!.map(serverMicrosPerRequest),
    );
    const cost = range(byCost);
    return {
      ...ratio,
      median: median(perRound),
      min,
      max,
      met: ratio.atLeast === null ? null : median(perRound) >= ratio.atLeast,
      byServerCpu: { median: median(byCost), min: cost.min, max: cost.max },
    };
  });
  const ratios = markdownTable(
    ['ratio (same-round pairs)', 'req/s: median (round range)', 'target', 'by server CPU per request: median (range)'],
    ratioFigures.map((r) => [
      r.label,
      `${fixed(r.median)}x (${fixed(r.min)}–${fixed(r.max)})`,
      r.atLeast === null ? 'report' : `≥ ${r.atLeast}x: ${r.met ? 'met' : 'missed'}`,
      `${fixed(r.byServerCpu.median)}x (${fixed(r.byServerCpu.min)}–${fixed(r.byServerCpu.max)})`,
    ]),
  );

  const header =
    `GET of a 10-byte value, ${CONCURRENCY} concurrent, ${SECONDS} s per run, ${ROUNDS} interleaved rounds, load generator ${generator} ` +
    `(node ${process.version}, redis ${redisServer.version}, ${cores} cores). CPU shares are % of one core over each run; machine is ` +
    `all cores' busy time (${cores * 100} = every core busy, other work on the machine included). Server CPU µs per request is ` +
    `the server's CPU time over its requests: what a request costs it, steadier than req/s when other work takes the cores.`;
  const notes = limitNotes(rows, runs, caveat, cores);
  const notesText = notes.map((n) => `- ${n}`).join('\n');
  const text = `${header}\n\n${table}\n\n${ratios}\n\n${notesText}\n`;
  console.log(`\n${text}`);
  const log = new MetricLog('http', subjectDir);
  logHttpMetrics(log, rows, runs, MODES, ratioFigures);
  log.print();
  // a comparison run (bench/compare.ts) keeps its figures in its own report, not in bench/results
  if (metricsRequested()) return;

  const date = new Date().toISOString().slice(0, 10);
  const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}${date}.json`,
    JSON.stringify(
      {
        date,
        node: process.version,
        generator,
        generators,
        cores,
        concurrency: CONCURRENCY,
        seconds: SECONDS,
        rounds: ROUNDS,
        rows: rows.map(({ id, label, generator: g, ceiling }) => ({ id, label, generator: g, ceiling })),
        runs: Object.fromEntries(runs),
        ratios: ratioFigures,
        notes,
      },
      null,
      2,
    ),
  );
  writeFileSync(`${dir}${date}.md`, text);
  writeFileSync(
    `${dir}${date}.svg`,
    barChart(
      `/test: requests per second, ${CONCURRENCY} concurrent, ${generator} (median of ${ROUNDS})`,
      rows.map((r) => r.label),
      MODES.map((mode, i) => ({
        name: mode.title,
        color: i === 0 ? '#8fa8c8' : '#2f5d8a',
        values: rows.map((r) => median(rps(`${r.id}:${mode.key}`))),
      })),
      'req/s',
    ),
  );
  console.log(`wrote bench/results/${date}.json, .md and .svg`);
}

await main();
