/**
 * WebSocket echo round-trips (issue 17): a `ws` echo server in its own node process, reached straight (the
 * ceiling), through cosocket's dyups proxy (Upgrade passed through) and through nginx (`proxy_http_version
 * 1.1` with the Upgrade and Connection headers set), one worker each; the same client process (ws-client.ts:
 * SOCKETS sockets, each sending the next message when its echo arrives) in interleaved rounds. Per path:
 * messages/s and the CPU share of the client, the proxy and the echo server.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MetricLog } from '../lib/bench-json.js';
import { startDyupsServer, DYUPS_GROUP } from '../lib/dyups-server.js';
import { CpuWatch } from '../lib/process-cpu.js';
import { startNginxWith, startProcess, stopProc, workerPid } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { medianWithRange, range, roundRatios } from '../lib/rounds.js';
import { fixed, markdownTable, median } from '../lib/table.js';
import type { RoundSettings } from './https-upstream.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const SOCKETS = 100;
const BYTES = 1024;

/** What ws-client.ts prints. */
export interface EchoCount {
  messages: number;
  seconds: number;
  mismatched: number;
  errors: number;
}

interface Run {
  rate: number;
  client: number;
  proxy: number;
  upstream: number;
  bad: number;
}

/** Runs ws-client.ts against `url` for `seconds`, watching the named processes' CPU beside the client's. */
export function runEchoClient(
  url: string,
  seconds: number,
  host: string | undefined,
  watched: ReadonlyMap<string, number> = new Map(),
  sockets = SOCKETS,
  bytes = BYTES,
): Promise<{ count: EchoCount; cpu: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const args = [`${HERE}ws-client.js`, url, String(sockets), String(bytes), String(seconds)];
    if (host !== undefined) args.push(host);
    const started = performance.now();
    const child = execFile(process.execPath, args, (err, stdout, stderr) => {
      const cpu = watch.stop();
      if (err !== null) reject(new Error(`ws-client ${url}: ${err.message} ${stderr}`));
      else resolve({ count: JSON.parse(stdout) as EchoCount, cpu });
    });
    const watch = new CpuWatch(new Map([['client', child.pid!], ...watched]), new Map([['client', started]]));
    watch.start();
  });
}

export async function websocketEcho(settings: RoundSettings, log: MetricLog): Promise<string> {
  const procs: Proc[] = [];
  try {
    const echo = await startProcess(process.execPath, [`${HERE}ws-echo.js`], /listening (\d+)/);
    procs.push(echo);
    const cosocket = await startDyupsServer(echo.port);
    procs.push(cosocket);
    const nginx = await startNginxWith(
      'location / { proxy_pass http://ws; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; ' +
        'proxy_set_header Connection "upgrade"; proxy_read_timeout 60s; }',
      `upstream ws { server 127.0.0.1:${echo.port}; }`,
    );
    procs.push(nginx);
    const targets = [
      { id: 'cosocket', label: 'through cosocket dyups proxy', proc: cosocket as Proc },
      { id: 'nginx', label: 'through nginx (Upgrade headers set)', proc: nginx },
      { id: 'ceiling', label: 'straight at the echo server (ceiling)', proc: echo },
    ];
    const load = (proc: Proc, seconds: number): ReturnType<typeof runEchoClient> => {
      const watched = new Map([['upstream', workerPid(echo)]]);
      if (proc !== echo) watched.set('proxy', workerPid(proc));
      return runEchoClient(`ws://127.0.0.1:${proc.port}/`, seconds, DYUPS_GROUP, watched);
    };
    if (settings.warmupSeconds > 0) for (const t of targets) await load(t.proc, settings.warmupSeconds);
    const runs = new Map<string, Run[]>(targets.map((t) => [t.id, []]));
    for (let round = 0; round < settings.rounds; round++) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(i + round) % targets.length]!;
        const { count, cpu } = await load(target.proc, settings.seconds);
        const run = {
          rate: count.messages / count.seconds,
          client: cpu.client ?? NaN,
          proxy: cpu.proxy ?? NaN,
          upstream: cpu.upstream ?? NaN,
          bad: count.mismatched + count.errors,
        };
        runs.get(target.id)!.push(run);
        process.stderr.write(
          `websocket round ${round + 1}/${settings.rounds} ${target.id}: ${fixed(run.rate, 0)} messages/s, ` +
            `client ${fixed(run.client, 0)}%, proxy ${fixed(run.proxy, 0)}%\n`,
        );
      }
    }
    const rows = targets.map(({ id, label }) => {
      const list = runs.get(id)!;
      const med = (pick: (r: Run) => number): number => median(list.map(pick));
      log.add(
        `messages/s: WebSocket echo ${label}`,
        med((r) => r.rate),
        'messages/s',
        'higher',
        id !== 'cosocket',
      );
      return [
        label,
        medianWithRange(list.map((r) => r.rate)),
        `${fixed(
          med((r) => r.client),
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
        )}`,
        id === 'ceiling' ? '-' : fixed((med((r) => r.proxy) / 100 / med((r) => r.rate)) * 1e6, 1),
        String(list.reduce((sum, r) => sum + r.bad, 0)),
      ];
    });
    const ratios = roundRatios(
      runs.get('cosocket')!.map((r) => r.rate),
      runs.get('nginx')!.map((r) => r.rate),
    );
    const { min, max } = range(ratios);
    log.add('ratio: cosocket / nginx, WebSocket echo', median(ratios), 'x', 'higher');
    return (
      `WebSocket echo: ${SOCKETS} sockets, ${BYTES}-byte messages, each socket sending the next when its echo ` +
      `arrives (one node client process), ${settings.seconds} s per run, ${settings.rounds} interleaved round(s) ` +
      `after ${settings.warmupSeconds} s of warm-up each\n\n` +
      markdownTable(
        [
          'path',
          'echoes/s median (range)',
          'CPU % of a core: client / proxy / echo server',
          'proxy CPU µs/echo',
          'wrong or failed',
        ],
        rows,
      ) +
      `\n\ncosocket / nginx echoes/s, median of the same-round ratios: ${fixed(median(ratios))}x (${fixed(min)}–${fixed(max)}) (target ≥ 0.7x)`
    );
  } finally {
    for (const proc of procs.reverse()) await stopProc(proc);
  }
}
