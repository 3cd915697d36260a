/**
 * The HTTP load the benchmarks drive, from a generator that is not the limit: ApacheBench when it is
 * installed, else wrk, else autocannon in this process (src/ab/load.ts, whose ceiling on a 2-core
 * machine is well under a single nginx worker's). Every run reports which generator ran and its own
 * CPU share, so a figure made by a saturated client can be told from one made by the server.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUrl } from '../../src/ab/url-load.js';
import { findOnPath } from '../../src/server/embedded-redis.js';
import { parseAbReport } from './ab-report.js';
import { LoadGeneratorError } from './load-report.js';
import type { LoadReport } from './load-report.js';
import { CpuWatch } from './process-cpu.js';
import { parseWrkReport } from './wrk-report.js';

export type GeneratorName = 'ab' | 'wrk' | 'autocannon';

/** In order of preference. */
export const GENERATORS: readonly GeneratorName[] = ['ab', 'wrk', 'autocannon'];

/** A single-threaded generator at this share of one core or more is the limit of the run. */
export const SATURATED_CPU_PERCENT = 90;

export interface LoadSpec {
  url: string;
  seconds: number;
  concurrency: number;
  /** false: a new connection per request (ab without -k; wrk sending `Connection: close`) */
  keepalive: boolean;
  headers?: Readonly<Record<string, string>>;
  /** processes whose CPU share over the run is reported beside the generator's, by name */
  watch?: ReadonlyMap<string, number>;
}

export interface LoadFigures extends LoadReport {
  generator: GeneratorName;
  /** the generator's own CPU time over the run, % of one core */
  generatorCpu: number;
  /** % of one core of each watched process, and `machine`: all cores' busy time (200 = both of 2 cores) */
  cpu: Record<string, number>;
}

/** Generators this machine has: ab and wrk when on PATH; autocannon always (it is a dependency). */
export function availableGenerators(): GeneratorName[] {
  return GENERATORS.filter((name) => name === 'autocannon' || findOnPath(name) !== null);
}

/** LOAD_GENERATOR from the environment when it names an available one, else the first available. */
export function chooseGenerator(): GeneratorName {
  const available = availableGenerators();
  const wanted = process.env.LOAD_GENERATOR;
  if (wanted === undefined || wanted === '') return available[0]!;
  if (!available.includes(wanted as GeneratorName)) {
    throw new LoadGeneratorError(
      wanted,
      `LOAD_GENERATOR names no available load generator (available: ${available.join(', ')})`,
    );
  }
  return wanted as GeneratorName;
}

/** What to print beside figures from this generator, or null when nothing needs saying. */
export function generatorCaveat(name: GeneratorName): string | null {
  return name === 'autocannon'
    ? "autocannon generated the load (neither ab nor wrk is installed): figures near its ceiling below are the client's, not the server's"
    : null;
}

/** True when the generator used (nearly) all of the one core it can use: the run measured the client. */
export function generatorSaturated(figures: Pick<LoadFigures, 'generatorCpu'>): boolean {
  return figures.generatorCpu >= SATURATED_CPU_PERCENT;
}

export function runGenerator(name: GeneratorName, spec: LoadSpec): Promise<LoadFigures> {
  switch (name) {
    case 'ab':
      return runAb(spec);
    case 'wrk':
      return runWrk(spec);
    case 'autocannon':
      return runAutocannon(spec);
  }
}

function headerArgs(headers: Readonly<Record<string, string>> | undefined): string[] {
  return Object.entries(headers ?? {}).flatMap(([key, value]) => ['-H', `${key}: ${value}`]);
}

async function runAb(spec: LoadSpec): Promise<LoadFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-ab-'));
  const csv = join(dir, 'percentiles.csv');
  try {
    // -n after -t: -t resets the request count to 50,000
    const args = ['-q', '-r', '-t', String(spec.seconds), '-n', '10000000', '-c', String(spec.concurrency), '-e', csv];
    if (spec.keepalive) args.push('-k');
    const run = await runChild('ab', [...args, ...headerArgs(spec.headers), spec.url], spec.watch);
    return {
      ...parseAbReport(run.stdout, readFileSync(csv, 'utf8')),
      generator: 'ab',
      generatorCpu: run.generatorCpu,
      cpu: run.cpu,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runWrk(spec: LoadSpec): Promise<LoadFigures> {
  // wrk keeps connections open unless the response says close: asking for it makes the server close
  // each connection after one response, and wrk then reconnects (checked: connections == requests)
  const headers = spec.keepalive ? spec.headers : { ...spec.headers, connection: 'close' };
  const args = [
    '-t1',
    `-c${spec.concurrency}`,
    `-d${spec.seconds}s`,
    '--timeout',
    '30s',
    '--latency',
    ...headerArgs(headers),
    spec.url,
  ];
  const documentLength = await probeDocumentLength(spec.url, spec.headers);
  const run = await runChild('wrk', args, spec.watch);
  return {
    ...parseWrkReport(run.stdout),
    documentLength,
    generator: 'wrk',
    generatorCpu: run.generatorCpu,
    cpu: run.cpu,
  };
}

async function runAutocannon(spec: LoadSpec): Promise<LoadFigures> {
  const watch = new CpuWatch(spec.watch ?? new Map());
  const startedCpu = process.cpuUsage();
  const started = performance.now();
  watch.start();
  const result = await loadUrl({
    url: spec.url,
    requests: 10_000_000,
    concurrency: spec.concurrency,
    keepalive: spec.keepalive,
    timeLimit: spec.seconds,
    headers: Object.entries(spec.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
  }).catch((err: unknown) => {
    watch.stop();
    throw err;
  });
  const cpu = watch.stop();
  const used = process.cpuUsage(startedCpu);
  const wallSeconds = (performance.now() - started) / 1000;
  const totals = result.samples
    .rows()
    .map((s) => s.time / 1000)
    .sort((a, b) => a - b);
  return {
    rps: result.done / result.seconds,
    completed: result.done,
    seconds: result.seconds,
    failed: result.failures.connect + result.failures.receive + result.failures.length + result.failures.exceptions,
    non2xx: result.non2xx,
    documentLength: result.documentLength,
    p50Ms: totals[Math.floor(totals.length * 0.5)] ?? NaN,
    p99Ms: totals[Math.floor(totals.length * 0.99)] ?? NaN,
    keepAliveResponses: spec.keepalive ? result.doneKeepAlive : 0,
    generator: 'autocannon',
    // in this process: everything it did during the run was the load generation
    generatorCpu: ((used.user + used.system) / 1e6 / wallSeconds) * 100,
    cpu,
  };
}

interface ChildRun {
  stdout: string;
  generatorCpu: number;
  cpu: Record<string, number>;
}

function runChild(
  command: GeneratorName,
  args: string[],
  watched: ReadonlyMap<string, number> = new Map(),
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let watch: CpuWatch | null = null;
    if (child.pid !== undefined) {
      const generatorPid = new Map([['generator', child.pid]]);
      watch = new CpuWatch(new Map([...generatorPid, ...watched]), new Map([['generator', started]]));
      watch.start();
    }
    child.once('error', (err) => {
      watch?.stop();
      reject(new LoadGeneratorError(command, `could not run: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      const shares = watch?.stop() ?? {};
      if (code !== 0) {
        reject(
          new LoadGeneratorError(
            command,
            `exited with ${String(code ?? signal)}: ${(stderr || stdout).trim().slice(0, 400)}`,
          ),
        );
        return;
      }
      const { generator, ...cpu } = shares;
      resolve({ stdout, generatorCpu: generator ?? NaN, cpu });
    });
  });
}

/** The body length of one GET, for generators whose report does not say (wrk). */
export function probeDocumentLength(url: string, headers: Readonly<Record<string, string>> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: { ...headers }, agent: false }, (res) => {
      let length = 0;
      res.on('data', (d: Buffer) => (length += d.length));
      res.on('end', () => resolve(length));
      res.on('error', reject);
    });
    req.on('error', (err) =>
      reject(new LoadGeneratorError('probe', `GET ${url} before the run failed: ${err.message}`)),
    );
  });
}
