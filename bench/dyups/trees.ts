/**
 * The dyups proxy of several built checkouts side by side, with nginx proxy_pass as the control, in
 * interleaved rounds (the order turns each round): small responses from one nginx upstream, ab with 50
 * clients. Per checkout and case: req/s, the proxy's CPU µs per request (its process tree), the
 * same-round ratio to nginx. For a regression hunt: `node dist/bench/dyups/trees.js main=../base head=.`;
 * env ROUNDS (5), SECS (3), BODIES (10b,4k), KEEP (1,0: with and without -k).
 */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { postUpstream, DYUPS_GROUP } from '../lib/dyups-server.js';
import { runGenerator } from '../lib/load-generator.js';
import { freePort, startNginx, startNginxFiles, startProcess, stopProc, workerPid } from '../lib/processes.js';
import type { Proc } from '../lib/processes.js';
import { medianWithRange, range, roundRatios } from '../lib/rounds.js';
import { fixed, markdownTable, median } from '../lib/table.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SECS = Number(process.env.SECS ?? 3);
const BODIES = (process.env.BODIES ?? '10b,4k').split(',');
const KEEP = (process.env.KEEP ?? '1,0').split(',').map((k) => k === '1');
process.env.COSOCKET_UNYIELDED ||= 'off';

const checkouts = process.argv.slice(2).map((arg) => {
  const [name, dir] = arg.split('=');
  if (name === undefined || dir === undefined) throw new Error(`expected NAME=CHECKOUT, got '${arg}'`);
  return { name, dir: resolve(dir) };
});
if (checkouts.length === 0) checkouts.push({ name: 'this', dir: fileURLToPath(new URL('../../../', import.meta.url)) });

interface Run {
  rps: number;
  cpu: number;
  generator: number;
}

const upstream = await startNginxFiles({ '/10b': 'hello12345', '/4k': 'x'.repeat(4086) + 'hello12345' });
const targets: { name: string; proc: Proc }[] = [];
try {
  for (const { name, dir } of checkouts) {
    const [admin, port] = [await freePort(), await freePort()];
    const proc = await startProcess(
      process.execPath,
      [
        `${dir}/bin/cosocket.js`,
        'serve',
        '--port',
        '0',
        '--admin-port',
        String(admin),
        '--proxy-port',
        String(port),
      ].concat(['--workers', '1', '--log-level', 'error']),
      /upstream group\(s\)/,
    );
    targets.push({ name, proc: { ...proc, port } });
    await postUpstream(admin, DYUPS_GROUP, `server 127.0.0.1:${upstream.port}; keepalive 64;`);
  }
  targets.push({ name: 'nginx', proc: await startNginx(upstream.port) });
  const run = async (proc: Proc, body: string, keepalive: boolean, seconds: number): Promise<Run> => {
    const r = await runGenerator('ab', {
      url: `http://127.0.0.1:${proc.port}/${body}`,
      concurrency: 50,
      keepalive,
      seconds,
      headers: { host: DYUPS_GROUP },
      watch: new Map([['proxy', proc === targets.at(-1)!.proc ? workerPid(proc) : proc.child.pid!]]),
    });
    if (r.failed + r.non2xx > 0) throw new Error(`${r.failed + r.non2xx} requests failed`);
    return { rps: r.rps, cpu: r.cpu.proxy ?? NaN, generator: r.generatorCpu };
  };
  for (const t of targets) for (const body of BODIES) await run(t.proc, body, true, 1);
  const runs = new Map<string, Run[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const body of BODIES)
      for (const keepalive of KEEP)
        for (const t of order) {
          const r = await run(t.proc, body, keepalive, SECS);
          const key = `${t.name}\0${body}, ${keepalive ? '-k' : 'no -k'}`;
          (runs.get(key) ?? runs.set(key, []).get(key)!).push(r);
          process.stderr.write(
            `round ${round + 1} ${key.replace('\0', ' ')}: ${fixed(r.rps, 0)} req/s, proxy ${fixed(r.cpu, 0)}%\n`,
          );
        }
  }
  const rows: string[][] = [];
  for (const body of BODIES)
    for (const keepalive of KEEP) {
      const at = `${body}, ${keepalive ? '-k' : 'no -k'}`;
      const of = (name: string): Run[] => runs.get(`${name}\0${at}`)!;
      const us = (list: Run[]): number[] => list.map((r) => (r.cpu / 100 / r.rps) * 1e6);
      for (const { name } of targets) {
        const ratios =
          name === 'nginx'
            ? []
            : roundRatios(
                of(name).map((r) => r.rps),
                of('nginx').map((r) => r.rps),
              );
        rows.push([
          at,
          name,
          medianWithRange(of(name).map((r) => r.rps)),
          fixed(median(us(of(name))), 1),
          fixed(median(of(name).map((r) => r.generator)), 0),
          ratios.length === 0
            ? ''
            : `${fixed(median(ratios))}x (${fixed(range(ratios).min)}–${fixed(range(ratios).max)})`,
        ]);
      }
    }
  console.log(
    `${ROUNDS} interleaved rounds of ${SECS} s, ab -c 50 (node ${process.version})\n\n` +
      markdownTable(
        ['case', 'proxy', 'req/s median (range)', 'proxy CPU µs/request', 'ab CPU %', 'req/s / nginx, same round'],
        rows,
      ),
  );
} finally {
  for (const t of targets) await stopProc(t.proc);
  await stopProc(upstream);
}
