/**
 * Small responses through each proxy, one process or worker each, all forwarding to the same upstream
 * (an nginx worker serving a 10-byte and a 4 KB body, so the upstream is never the limit; a node server
 * when nginx is not installed): cosocket's dyups proxy listener against nginx proxy_pass (keepalive 16),
 * @fastify/http-proxy and a hand-written undici proxy, with and without client keepalive, in interleaved
 * rounds (the order of the proxies turns each round). The same rounds drive the load generator straight at
 * the upstream: its own ceiling. Per run: req/s, p50 and p99, and the CPU share of the generator, the
 * proxy, the upstream and the machine.
 */
import { fileURLToPath } from 'node:url';
import type { MetricLog } from '../lib/bench-json.js';
import { startDyupsServer, DYUPS_GROUP } from '../lib/dyups-server.js';
import { envInt } from '../lib/env.js';
import { generatorCaveat, runGenerator } from '../lib/load-generator.js';
import type { GeneratorName, LoadFigures } from '../lib/load-generator.js';
import { nginxPath, startNginx, startNginxFiles, startProcess, stopProc, workerPid } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { medianWithRange, range, roundRatios } from '../lib/rounds.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = envInt('ROUNDS', 3);
const CONCURRENCY = envInt('CONCURRENCY', 50);
/** seconds of load each proxy takes, per body, before the rounds (JIT, pools) */
const WARMUP_SECONDS = envInt('WARMUP_SECONDS', 1, 0);
const HERE = fileURLToPath(new URL('.', import.meta.url));

const BODIES = [
  { id: '10 B', path: '/10b', bytes: 10 },
  { id: '4 KB', path: '/4k', bytes: 4096 },
] as const;
const CONNECTIONS = [
  { id: 'keepalive (-k)', keepalive: true },
  { id: 'a connection per request', keepalive: false },
] as const;

interface Target {
  id: string;
  label: string;
  /** not the code under test: a peer, nginx, the generator's ceiling */
  control: boolean;
  proc: Proc;
  /** why it is measured with client keepalive only */
  keepaliveOnly?: string;
}

/**
 * @fastify/http-proxy copies the upstream's `Connection: keep-alive` to its client, even to an HTTP/1.0
 * client that did not ask for it or that sent `Connection: close`, and keeps the connection open: ab
 * without -k then waits for the close until its timeout. (Checked with curl -0 and ab on 11.6.3.)
 */
const HTTP_PROXY_KEEPS_OPEN =
  "not measurable: it answers ab's HTTP/1.0 requests with the upstream's Connection: keep-alive and never closes";

interface Run {
  rps: number;
  p50: number;
  p99: number;
  generator: number;
  proxy: number;
  upstream: number;
  machine: number;
  failed: number;
}

/** Starts each proxy into `targets` (so a failed start still leaves the others to stop). */
async function startTargets(upstream: Proc, haveNginx: boolean, targets: Target[]): Promise<void> {
  targets.push({
    id: 'cosocket',
    label: 'cosocket dyups proxy (Host -> group, SWRR)',
    control: false,
    proc: await startDyupsServer(upstream.port, { groupExtra: 'keepalive 64;' }),
  });
  if (haveNginx)
    targets.push({
      id: 'nginx',
      label: 'nginx proxy_pass (1 worker, keepalive 16)',
      control: true,
      proc: await startNginx(upstream.port),
    });
  targets.push({
    id: 'http-proxy',
    label: '@fastify/http-proxy',
    control: true,
    keepaliveOnly: HTTP_PROXY_KEEPS_OPEN,
    proc: await startProcess(process.execPath, [`${HERE}http-proxy.js`, String(upstream.port)], /listening (\d+)/),
  });
  targets.push({
    id: 'undici',
    label: 'node:http + undici Pool (hand-written)',
    control: true,
    proc: await startProcess(process.execPath, [`${HERE}undici-proxy.js`, String(upstream.port)], /listening (\d+)/),
  });
  if (haveNginx)
    targets.push({
      id: 'ceiling',
      label: 'load generator ceiling: straight at the upstream',
      control: true,
      proc: upstream,
    });
}

function load(
  generator: GeneratorName,
  target: Target,
  upstream: Proc,
  path: string,
  keepalive: boolean,
  seconds: number,
): Promise<LoadFigures> {
  const watch = new Map([['upstream', workerPid(upstream)]]);
  if (target.proc !== upstream) watch.set('proxy', workerPid(target.proc));
  return runGenerator(generator, {
    url: `http://127.0.0.1:${target.proc.port}${path}`,
    concurrency: CONCURRENCY,
    keepalive,
    seconds,
    headers: { host: DYUPS_GROUP },
    watch,
  });
}

/** Runs every round, prints nothing; returns the runs by `${target} ${body} ${connection}`. */
async function measure(
  generator: GeneratorName,
  targets: readonly Target[],
  upstream: Proc,
): Promise<Map<string, Run[]>> {
  const runs = new Map<string, Run[]>();
  if (WARMUP_SECONDS > 0)
    for (const target of targets)
      for (const body of BODIES) await load(generator, target, upstream, body.path, true, WARMUP_SECONDS);
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const body of BODIES) {
      for (const connection of CONNECTIONS) {
        for (const target of order) {
          if (!connection.keepalive && target.keepaliveOnly !== undefined) continue;
          const result = await load(generator, target, upstream, body.path, connection.keepalive, SECONDS);
          if (result.documentLength !== null && result.documentLength !== body.bytes)
            throw new Error(`${target.id} answered ${String(result.documentLength)} bytes, not ${body.bytes}`);
          const key = `${target.id} ${body.id}, ${connection.id}`;
          (runs.get(key) ?? runs.set(key, []).get(key)!).push({
            rps: result.rps,
            p50: result.p50Ms,
            p99: result.p99Ms,
            generator: result.generatorCpu,
            proxy: result.cpu.proxy ?? NaN,
            upstream: result.cpu.upstream ?? NaN,
            machine: result.cpu.machine ?? NaN,
            failed: result.failed + result.non2xx,
          });
          process.stderr.write(
            `round ${round + 1}/${ROUNDS} ${body.id}, ${connection.id}, ${target.id}: ${fixed(result.rps, 0)} req/s, ` +
              `p99 ${fixed(result.p99Ms)} ms, ${generator} ${fixed(result.generatorCpu, 0)}%, proxy ${fixed(result.cpu.proxy ?? NaN, 0)}%\n`,
          );
        }
      }
    }
  }
  return runs;
}

/** The figures as markdown, and as metrics in `log`. */
function report(
  generator: GeneratorName,
  targets: readonly Target[],
  runs: ReadonlyMap<string, Run[]>,
  log: MetricLog,
): string {
  const sections: string[] = [];
  const ratioRows: string[][] = [];
  for (const body of BODIES) {
    for (const connection of CONNECTIONS) {
      const at = `${body.id}, ${connection.id}`;
      const of = (id: string): Run[] => runs.get(`${id} ${at}`) ?? [];
      const rows = targets.map(({ id, label, control }) => {
        const list = of(id);
        if (list.length === 0)
          return [label, targets.find((t) => t.id === id)?.keepaliveOnly ?? 'not measured', '', '', '', '', ''];
        const med = (pick: (r: Run) => number): number => median(list.map(pick));
        // CPU µs of the proxy per request: its share of a core over the run, per request per second
        const usPerRequest = (med((r) => r.proxy) / 100 / med((r) => r.rps)) * 1e6;
        const failed = list.reduce((sum, r) => sum + r.failed, 0);
        log.add(
          `req/s: ${label}, ${at}`,
          med((r) => r.rps),
          'req/s',
          'higher',
          control,
        );
        log.add(
          `p50: ${label}, ${at}`,
          med((r) => r.p50),
          'ms',
          'lower',
          control,
        );
        log.add(
          `p99: ${label}, ${at}`,
          med((r) => r.p99),
          'ms',
          'lower',
          control,
        );
        if (id !== 'ceiling') log.add(`proxy CPU per request: ${label}, ${at}`, usPerRequest, 'us', 'lower', control);
        for (const part of ['generator', 'proxy', 'upstream', 'machine'] as const) {
          if (part === 'proxy' && id === 'ceiling') continue; // no proxy between ab and the upstream
          log.add(
            `CPU ${part}: ${label}, ${at}`,
            med((r) => r[part]),
            '%',
            null,
            control,
          );
        }
        log.add(`failed or non-2xx: ${label}, ${at}`, failed, 'requests', 'lower', control);
        return [
          label,
          medianWithRange(list.map((r) => r.rps)),
          fixed(med((r) => r.p50)),
          fixed(med((r) => r.p99)),
          `${fixed(
            med((r) => r.generator),
            0,
          )} / ${
            id === 'ceiling'
              ? '-'
              : fixed(
                  med((r) => r.proxy),
                  0,
                )
          } / ${fixed(
            med((r) => r.upstream),
            0,
          )} / ${fixed(
            med((r) => r.machine),
            0,
          )}`,
          id === 'ceiling' ? '-' : fixed(usPerRequest, 0),
          String(failed),
        ];
      });
      sections.push(
        `${at}\n\n${markdownTable(
          [
            'proxy',
            'req/s median (range)',
            'p50 ms',
            'p99 ms',
            `CPU % of a core: ${generator} / proxy / upstream / machine`,
            'proxy CPU µs/request',
            'failed or non-2xx',
          ],
          rows,
        )}`,
      );
      const cosocket = of('cosocket').map((r) => r.rps);
      for (const peer of targets.filter((t) => t.id !== 'cosocket' && t.id !== 'ceiling')) {
        const ratios = roundRatios(
          cosocket,
          of(peer.id).map((r) => r.rps),
        );
        if (ratios.length === 0) continue;
        log.add(`ratio: cosocket / ${peer.label}, ${at}`, median(ratios), 'x', 'higher');
        const { min, max } = range(ratios);
        ratioRows.push([`cosocket / ${peer.label}`, at, `${fixed(median(ratios))}x (${fixed(min)}–${fixed(max)})`]);
      }
    }
  }
  const caveat = generatorCaveat(generator);
  return (
    `Small responses: ${CONCURRENCY} concurrent clients (${generator}), ${SECONDS} s per run, ${ROUNDS} interleaved round(s) ` +
    `after ${WARMUP_SECONDS} s of warm-up per proxy and body (node ${process.version})` +
    `${caveat === null ? '' : `\n\nnote: ${caveat}`}\n\n${sections.join('\n\n')}\n\n` +
    `req/s ratios, median of the same-round ratios (range):\n\n${markdownTable(['ratio', 'body, connections', 'measured'], ratioRows)}`
  );
}

export async function smallResponses(generator: GeneratorName, log: MetricLog): Promise<string> {
  const haveNginx = nginxPath() !== null;
  const upstream = haveNginx
    ? await startNginxFiles(Object.fromEntries(BODIES.map((b) => [b.path, 'x'.repeat(b.bytes - 10) + 'hello12345'])))
    : await startProcess(process.execPath, [`${HERE}upstream.js`], /listening (\d+)/);
  const targets: Target[] = [];
  try {
    await startTargets(upstream, haveNginx, targets);
    const runs = await measure(generator, targets, upstream);
    const text = report(generator, targets, runs, log);
    return haveNginx
      ? text
      : `${text}\n\nnginx is not installed: the upstream is a node server, and neither nginx proxy_pass nor the ceiling was measured (apt-get install nginx-light)`;
  } finally {
    for (const { proc } of targets) if (proc !== upstream) await stopProc(proc);
    await stopProc(upstream);
  }
}
