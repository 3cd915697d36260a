/**
 * bench/dyups: the dyups proxy against its peers, in one run — small responses (10 B and 4 KB, with and
 * without client keepalive) through cosocket's proxy listener (Host names the group), nginx proxy_pass,
 * @fastify/http-proxy and a hand-written undici proxy, all forwarding to one nginx worker, driven by
 * bench/lib/load-generator.ts (ab, else wrk, else autocannon) with its own ceiling and CPU share beside
 * each figure (small-responses.ts). Then how long a change takes to be live: on every worker of
 * `serve --workers 2` (the admin's `success` waits for all of them), and on a second instance synced
 * through Redis. `npm run bench:dyups`; env BENCH_SECONDS, ROUNDS, CONCURRENCY, WARMUP_SECONDS, CHANGES; TLS_WS=1
 * adds an https upstream and WebSocket echo round-trips through the proxy and nginx (tls-ws-sections.ts).
 */
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { MetricLog } from '../lib/bench-json.js';
import { startDyupsServer, postUpstream } from '../lib/dyups-server.js';
import { chooseGenerator } from '../lib/load-generator.js';
import { stopProc } from '../lib/processes.js';
import { Latencies } from '../lib/latency.js';
import { loadSubject, subjectDir } from '../lib/subject.js';
import { fixed, markdownTable } from '../lib/table.js';
import { smallResponses } from './small-responses.js';
import { tlsAndWebSocket } from './tls-ws-sections.js';

const CHANGES = Number(process.env.CHANGES ?? 200);
const log = new MetricLog('dyups', subjectDir);

/** POST -> `success` on `serve --workers 2`: success is sent only once every worker applied the change. */
async function acrossWorkers(): Promise<Latencies> {
  const proc = await startDyupsServer(1, { workers: 2 });
  const times = new Latencies();
  try {
    for (let i = 0; i < CHANGES; i++) {
      const started = performance.now();
      await postUpstream(proc.adminPort, 'app.local', `server 127.0.0.1:${1000 + (i % 50)};`);
      times.add(performance.now() - started);
    }
  } finally {
    await stopProc(proc);
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
  console.log(await smallResponses(chooseGenerator(), log));
  if (process.env.TLS_WS === '1') console.log(`\n${await tlsAndWebSocket(chooseGenerator(), log)}`);
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
