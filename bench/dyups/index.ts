/**
 * bench/dyups: the dyups proxy against its peers, in one run — requests/s and p99 through cosocket's
 * proxy listener (Host names the group), through @fastify/http-proxy, and through nginx proxy_pass when
 * nginx is installed, all forwarding to the same 10-byte upstream with keepalive on both sides (an nginx
 * worker when nginx is installed, so the upstream is never the limit; else a node server), driven by
 * bench/lib/load-generator.ts (ab, else wrk, else autocannon) with its CPU share beside each figure. Then
 * how long a change takes to be live: on every worker of `serve --workers 2` (the admin's `success`
 * waits for all of them), and on a second instance synced through Redis. `npm run bench:dyups`.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { MetricLog } from '../lib/bench-json.js';
import { chooseGenerator, generatorCaveat, runGenerator } from '../lib/load-generator.js';
import { childPids } from '../lib/process-cpu.js';
import { freePort, nginxPath, startNginx, startNginxConstant, startProcess } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { Latencies } from '../lib/latency.js';
import { loadSubject, subjectBin, subjectDir } from '../lib/subject.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const CHANGES = Number(process.env.CHANGES ?? 200);
const BIN = subjectBin;
/** Proxies that do not run the code under test. */
const CONTROLS: ReadonlySet<string> = new Set(['http-proxy', 'nginx']);
const log = new MetricLog('dyups', subjectDir);
const HERE = fileURLToPath(new URL('.', import.meta.url));

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

async function post(adminPort: number, name: string, body: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}`, { method: 'POST', body });
  const text = await res.text();
  if (text !== 'success') throw new Error(`POST /upstream/${name}: ${res.status} ${text}`);
}

/** cosocket serve with the dyups admin and proxy listeners, the group `app.local` pointing at the upstream. */
async function startCosocket(upstreamPort: number, workers: number): Promise<Proc & { adminPort: number }> {
  const [adminPort, proxyPort] = [await freePort(), await freePort()];
  const args = [
    BIN,
    'serve',
    '--port',
    '0',
    '--admin-port',
    String(adminPort),
    '--proxy-port',
    String(proxyPort),
    '--workers',
    String(workers),
    '--log-level',
    'error',
  ];
  const proc = await startProcess(process.execPath, args, /upstream group\(s\)/);
  await post(adminPort, 'app.local', `server 127.0.0.1:${upstreamPort}; keepalive 64;`);
  return { ...proc, port: proxyPort, adminPort };
}

async function throughput(): Promise<string> {
  const generator = chooseGenerator();
  const haveNginx = nginxPath() !== null;
  const upstream = haveNginx
    ? await startNginxConstant('hello12345')
    : await startProcess(process.execPath, [`${HERE}upstream.js`], /listening (\d+)/);
  const proxies: Array<{ label: string; id: string; proc: Proc }> = [
    {
      id: 'cosocket',
      label: 'cosocket dyups proxy (Host -> group, SWRR)',
      proc: await startCosocket(upstream.port, 1),
    },
    {
      id: 'http-proxy',
      label: '@fastify/http-proxy',
      proc: await startProcess(process.execPath, [`${HERE}http-proxy.js`, String(upstream.port)], /listening (\d+)/),
    },
  ];
  if (haveNginx)
    proxies.push({
      id: 'nginx',
      label: 'nginx proxy_pass (1 worker, keepalive 16)',
      proc: await startNginx(upstream.port),
    });
  // nginx's work is done by its worker, not its master
  const workerPid = (proc: Proc): number =>
    (proc.line === 'nginx' ? childPids(proc.child.pid!)[0] : undefined) ?? proc.child.pid!;
  const rps = new Map<string, number[]>();
  const p99 = new Map<string, number[]>();
  const cpu = new Map<string, Array<{ generator: number; proxy: number; upstream: number }>>();
  const failed = new Map<string, number>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const { id, proc } of proxies) {
        const result = await runGenerator(generator, {
          url: `http://127.0.0.1:${proc.port}/`,
          concurrency: CONCURRENCY,
          keepalive: true,
          seconds: SECONDS,
          headers: { host: 'app.local' },
          watch: new Map([
            ['proxy', workerPid(proc)],
            ['upstream', workerPid(upstream)],
          ]),
        });
        if (result.documentLength !== 10)
          throw new Error(`${id} answered ${String(result.documentLength)} bytes, not 10`);
        (rps.get(id) ?? rps.set(id, []).get(id)!).push(result.rps);
        (p99.get(id) ?? p99.set(id, []).get(id)!).push(result.p99Ms);
        (cpu.get(id) ?? cpu.set(id, []).get(id)!).push({
          generator: result.generatorCpu,
          proxy: result.cpu.proxy ?? NaN,
          upstream: result.cpu.upstream ?? NaN,
        });
        failed.set(id, (failed.get(id) ?? 0) + result.non2xx + result.failed);
      }
    }
  } finally {
    for (const { proc } of proxies) {
      await stop(proc.child);
      proc.cleanup?.();
    }
    await stop(upstream.child);
    upstream.cleanup?.();
  }
  const med = (id: string): number => median(rps.get(id)!);
  const cpuCell = (id: string): string => {
    const shares = cpu.get(id)!;
    const of = (pick: (s: { generator: number; proxy: number; upstream: number }) => number): string =>
      fixed(median(shares.map(pick)), 0);
    return `${of((s) => s.generator)} / ${of((s) => s.proxy)} / ${of((s) => s.upstream)}`;
  };
  const rows = proxies.map(({ id, label }) => [
    label,
    fixed(med(id), 0),
    fixed(median(p99.get(id)!), 2),
    cpuCell(id),
    String(failed.get(id) ?? 0),
  ]);
  const ratios = [['cosocket / @fastify/http-proxy', `${fixed(med('cosocket') / med('http-proxy'))}x`]];
  if (rps.has('nginx')) ratios.push(['cosocket / nginx proxy_pass', `${fixed(med('cosocket') / med('nginx'))}x`]);
  for (const { id, label } of proxies) {
    const control = CONTROLS.has(id);
    log.add(`req/s: ${label}`, med(id), 'req/s', 'higher', control);
    log.add(`p99: ${label}`, median(p99.get(id)!), 'ms', 'lower', control);
    log.add(`failed or non-2xx: ${label}`, failed.get(id) ?? 0, 'requests', 'lower', control);
    for (const part of ['generator', 'proxy', 'upstream'] as const)
      log.add(`CPU ${part}: ${label}`, median(cpu.get(id)!.map((s) => s[part])), '%', null, control);
  }
  log.add('ratio: cosocket / @fastify/http-proxy', med('cosocket') / med('http-proxy'), 'x', 'higher');
  if (rps.has('nginx')) log.add('ratio: cosocket / nginx proxy_pass', med('cosocket') / med('nginx'), 'x', 'higher');
  const caveat = generatorCaveat(generator);
  return (
    `Proxied GET, 10-byte upstream body (${haveNginx ? 'an nginx worker' : 'node http server; install nginx for an upstream that is never the limit'}), ` +
    `${CONCURRENCY} concurrent keepalive clients (${generator}), ${SECONDS} s per run, median of ${ROUNDS} rounds (node ${process.version})` +
    `${caveat === null ? '' : `\n\nnote: ${caveat}`}\n\n` +
    `${markdownTable(['proxy', 'req/s', 'p99 ms', `CPU % of a core: ${generator} / proxy / upstream`, 'failed or non-2xx'], rows)}\n\n${markdownTable(['ratio', 'measured'], ratios)}`
  );
}

/** POST -> `success` on `serve --workers 2`: success is sent only once every worker applied the change. */
async function acrossWorkers(): Promise<Latencies> {
  const proc = await startCosocket(1, 2);
  const times = new Latencies();
  try {
    for (let i = 0; i < CHANGES; i++) {
      const started = performance.now();
      await post(proc.adminPort, 'app.local', `server 127.0.0.1:${1000 + (i % 50)};`);
      times.add(performance.now() - started);
    }
  } finally {
    await stop(proc.child);
  }
  return times;
}

/** From the start of a change on instance A until instance B applied it (Redis hash + version + pub/sub). */
async function acrossInstances(): Promise<{ ack: Latencies; visible: Latencies }> {
  const redis = await startEmbeddedRedis();
  const lib = await loadSubject();
  const a = new lib.UpstreamTable({ stateFile: null });
  const b = new lib.UpstreamTable({ stateFile: null });
  const syncA = new lib.RedisSync(a, { url: redis.url });
  const syncB = new lib.RedisSync(b, { url: redis.url });
  await syncA.start();
  await syncB.start();
  const ack = new Latencies();
  const visible = new Latencies();
  let applied = (): void => {};
  b.onChange(() => applied());
  try {
    for (let i = 0; i < CHANGES; i++) {
      const started = performance.now();
      const seen = new Promise<void>((resolve) => (applied = resolve));
      const result = await syncA.change({ op: 'update', name: 'app.local', body: `server 127.0.0.1:${1000 + i};` });
      if (result.status !== 200) throw new Error(result.message);
      ack.add(performance.now() - started);
      await seen;
      visible.add(performance.now() - started);
    }
  } finally {
    await syncA.close();
    await syncB.close();
    await redis.stop();
  }
  return { ack, visible };
}

async function main(): Promise<void> {
  console.log(await throughput());
  const workers = await acrossWorkers();
  const { ack, visible } = await acrossInstances();
  const row = (label: string, l: Latencies): string[] => {
    log.add(`median: ${label}`, l.percentile(50), 'ms', 'lower');
    log.add(`p99: ${label}`, l.percentile(99), 'ms', 'lower');
    return [label, fixed(l.percentile(50)), fixed(l.percentile(99)), String(l.count)];
  };
  console.log(
    `\nChange propagation, ${CHANGES} changes each\n\n${markdownTable(
      ['what', 'median ms', 'p99 ms', 'changes'],
      [
        row('POST -> success, serve --workers 2 (every worker applied it)', workers),
        row('change on A -> acknowledged (stored in Redis)', ack),
        row('change on A -> applied on instance B (via Redis pub/sub)', visible),
      ],
    )}`,
  );
  log.print();
}

await main();
