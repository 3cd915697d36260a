/**
 * An https upstream (issue 17): one nginx worker serving a 10-byte constant over TLS (a self-signed
 * certificate made now with openssl), behind cosocket's dyups proxy (the group `proxy_ssl on;` with the
 * certificate as `proxy_ssl_trusted_certificate`, keepalive 64) and behind nginx `proxy_pass https://`
 * (`proxy_ssl_session_reuse on`, the same verification, upstream keepalive 64), one worker each. The
 * client speaks plain HTTP to each proxy with keepalive, in interleaved rounds; per proxy req/s, p50/p99
 * and the CPU share of the generator, the proxy and the upstream. Node's floor is measured in the same
 * rounds: tls-pipe-proxy.ts pipes each client connection to a TLS connection of its own, no HTTP at all.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MetricLog } from '../lib/bench-json.js';
import { startDyupsServer, DYUPS_GROUP } from '../lib/dyups-server.js';
import { runGenerator } from '../lib/load-generator.js';
import type { GeneratorName } from '../lib/load-generator.js';
import { startNginxTlsConstant, startNginxWith, startProcess, stopProc, workerPid } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { medianWithRange, range, roundRatios } from '../lib/rounds.js';
import { makeSelfSigned } from '../lib/self-signed.js';
import { fixed, markdownTable, median } from '../lib/table.js';

export interface RoundSettings {
  seconds: number;
  rounds: number;
  warmupSeconds: number;
}

const BODY = 'hello12345';
const CONCURRENCY = 50;
const HERE = fileURLToPath(new URL('.', import.meta.url));

interface Run {
  rps: number;
  p50: number;
  p99: number;
  generator: number;
  proxy: number;
  upstream: number;
  failed: number;
}

export async function httpsUpstream(
  generator: GeneratorName,
  settings: RoundSettings,
  log: MetricLog,
): Promise<string> {
  const cert = makeSelfSigned([DYUPS_GROUP, '127.0.0.1']);
  const procs: Proc[] = [];
  try {
    const upstream = await startNginxTlsConstant(BODY, cert);
    procs.push(upstream);
    const targets: { id: string; label: string; proc: Proc }[] = [];
    const cosocket = await startDyupsServer(upstream.port, {
      groupExtra: `keepalive 64; proxy_ssl on; proxy_ssl_trusted_certificate ${cert.certFile};`,
    });
    procs.push(cosocket);
    targets.push({ id: 'cosocket', label: 'cosocket dyups proxy (proxy_ssl on, keepalive 64)', proc: cosocket });
    const nginx = await startNginxWith(
      `location / { proxy_pass https://up; proxy_http_version 1.1; proxy_set_header Connection ""; ` +
        `proxy_set_header Host ${DYUPS_GROUP}; proxy_ssl_session_reuse on; proxy_ssl_server_name on; ` +
        `proxy_ssl_name ${DYUPS_GROUP}; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${cert.certFile}; }`,
      `upstream up { server 127.0.0.1:${upstream.port}; keepalive 64; }`,
    );
    procs.push(nginx);
    targets.push({ id: 'nginx', label: 'nginx proxy_pass https:// (session reuse, keepalive 64)', proc: nginx });
    const floor = await startProcess(
      process.execPath,
      [join(HERE, 'tls-pipe-proxy.js'), String(upstream.port), cert.certFile, DYUPS_GROUP],
      /listening (\d+)/,
    );
    procs.push(floor);
    targets.push({ id: 'floor', label: "node's floor: each connection piped to its own TLS connection", proc: floor });

    const load = (proc: Proc, seconds: number): ReturnType<typeof runGenerator> =>
      runGenerator(generator, {
        url: `http://127.0.0.1:${proc.port}/`,
        concurrency: CONCURRENCY,
        keepalive: true,
        seconds,
        headers: { host: DYUPS_GROUP },
        watch: new Map([
          ['proxy', workerPid(proc)],
          ['upstream', workerPid(upstream)],
        ]),
      });
    if (settings.warmupSeconds > 0) for (const t of targets) await load(t.proc, settings.warmupSeconds);
    const runs = new Map<string, Run[]>(targets.map((t) => [t.id, []]));
    for (let round = 0; round < settings.rounds; round++) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(i + round) % targets.length]!;
        const r = await load(target.proc, settings.seconds);
        if (r.documentLength !== null && r.documentLength !== BODY.length)
          throw new Error(`${target.id} answered ${String(r.documentLength)} bytes, not ${BODY.length}`);
        runs.get(target.id)!.push({
          rps: r.rps,
          p50: r.p50Ms,
          p99: r.p99Ms,
          generator: r.generatorCpu,
          proxy: r.cpu.proxy ?? NaN,
          upstream: r.cpu.upstream ?? NaN,
          failed: r.failed + r.non2xx,
        });
        process.stderr.write(
          `https round ${round + 1}/${settings.rounds} ${target.id}: ${fixed(r.rps, 0)} req/s, ` +
            `${generator} ${fixed(r.generatorCpu, 0)}%, proxy ${fixed(r.cpu.proxy ?? NaN, 0)}%\n`,
        );
      }
    }
    const rows = targets.map(({ id, label }) => {
      const list = runs.get(id)!;
      const med = (pick: (r: Run) => number): number => median(list.map(pick));
      const usPerRequest = (med((r) => r.proxy) / 100 / med((r) => r.rps)) * 1e6;
      const failed = list.reduce((sum, r) => sum + r.failed, 0);
      const control = id !== 'cosocket';
      log.add(
        `req/s: ${label}, https upstream`,
        med((r) => r.rps),
        'req/s',
        'higher',
        control,
      );
      log.add(`proxy CPU per request: ${label}, https upstream`, usPerRequest, 'us', 'lower', control);
      return [
        label,
        medianWithRange(list.map((r) => r.rps)),
        `${fixed(med((r) => r.p50))} / ${fixed(med((r) => r.p99))}`,
        `${fixed(
          med((r) => r.generator),
          0,
        )} / ${fixed(
          med((r) => r.proxy),
          0,
        )} / ${fixed(
          med((r) => r.upstream),
          0,
        )}`,
        fixed(usPerRequest, 0),
        String(failed),
      ];
    });
    const rps = (id: string): number[] => runs.get(id)!.map((r) => r.rps);
    const ratios = roundRatios(rps('cosocket'), rps('nginx'));
    const { min, max } = range(ratios);
    log.add('ratio: cosocket / nginx, https upstream', median(ratios), 'x', 'higher');
    const floorRatios = roundRatios(rps('floor'), rps('nginx'));
    const ofFloor = roundRatios(rps('cosocket'), rps('floor'));
    log.add("ratio: node's floor / nginx, https upstream", median(floorRatios), 'x', 'higher', true);
    return (
      `https upstream: ${CONCURRENCY} clients (${generator} -k, plain HTTP to the proxy), ${settings.seconds} s per run, ` +
      `${settings.rounds} interleaved round(s) after ${settings.warmupSeconds} s of warm-up each; the upstream is ` +
      `one nginx worker answering ${BODY.length} bytes over TLS\n\n` +
      markdownTable(
        [
          'proxy',
          'req/s median (range)',
          'p50 / p99 ms',
          `CPU % of a core: ${generator} / proxy / upstream`,
          'proxy CPU µs/request',
          'failed or non-2xx',
        ],
        rows,
      ) +
      `\n\ncosocket / nginx req/s, median of the same-round ratios: ${fixed(median(ratios))}x (${fixed(min)}–${fixed(max)}) (target ≥ 0.5x); ` +
      `node's floor / nginx ${fixed(median(floorRatios))}x (${fixed(range(floorRatios).min)}–${fixed(range(floorRatios).max)}), ` +
      `cosocket / node's floor ${fixed(median(ofFloor))}x (${fixed(range(ofFloor).min)}–${fixed(range(ofFloor).max)})`
    );
  } finally {
    for (const proc of procs.reverse()) await stopProc(proc);
    cert.remove();
  }
}
