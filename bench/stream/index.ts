/**
 * bench/stream: the write-up's case. An upstream sends one body of 100,000 chunks of 200-500 bytes;
 * each proxy runs in a fresh process and is measured, in one run: CPU seconds of the proxy (its whole
 * process tree, from /proc), wall time, and peak RSS, for 1, 3 and 10 concurrent downloads (fast
 * upstream) and 1 download from a paced upstream. Every download is checked byte for byte (sha256)
 * and for progress (its longest silence). `npm run bench:stream`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixed, markdownTable } from '../lib/table.js';
import { nginxPath, startNginx, startProcess } from '../lib/processes.js';

const CHUNKS = Number(process.env.CHUNKS ?? 100_000);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const TICK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

type Mode = 'naive' | 'off' | 'on' | 'reply-from' | 'nginx';
const LABEL: Record<Mode, string> = {
  naive: '(a) naive Lua loop: readChunk, print, flush(true)',
  off: '(b) cosocket proxy, buffering off',
  on: '(c) cosocket proxy, buffering on',
  'reply-from': '(d) @fastify/reply-from',
  nginx: '(e) nginx proxy_pass',
};

function descendants(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)]).stdout?.toString().trim();
  const children = out ? out.split('\n').map(Number) : [];
  return [pid, ...children.flatMap((c) => descendants(c))];
}

/** CPU seconds used so far by a process and its children (from /proc/PID/stat utime + stime). */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of descendants(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / TICK;
}

/** Peak resident memory in MB of a process and its children (VmHWM). */
function peakRssMb(pid: number): number {
  let kb = 0;
  for (const p of descendants(pid)) {
    try {
      kb += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

interface Download {
  ok: boolean;
  bytes: number;
  ms: number;
  longestSilenceMs: number;
}

function download(port: number, path: string, expected: string): Promise<Download> {
  return new Promise((resolve) => {
    const started = performance.now();
    let last = started;
    let longest = 0;
    let bytes = 0;
    const hash = createHash('sha256');
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.on('data', (d: Buffer) => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        bytes += d.length;
        hash.update(d);
      });
      res.on('end', () => resolve({ ok: hash.digest('hex') === expected, bytes, ms: performance.now() - started, longestSilenceMs: longest }));
      res.on('error', () => resolve({ ok: false, bytes, ms: performance.now() - started, longestSilenceMs: longest }));
    });
    req.setTimeout(180_000, () => req.destroy());
    req.on('error', () => resolve({ ok: false, bytes, ms: performance.now() - started, longestSilenceMs: longest }));
  });
}

interface Row {
  mode: Mode;
  scenario: string;
  cpu: number;
  wall: number;
  rss: number;
  allOk: boolean;
  longestSilence: number;
}

async function main(): Promise<void> {
  const upstream = await startProcess(process.execPath, [join(HERE, 'upstream.js'), String(CHUNKS)], /listening (\d+) ([0-9a-f]{64}) (\d+)/);
  const [, , expected, total] = upstream.line.split(' ');
  const modes: Mode[] = ['naive', 'off', 'on', 'reply-from'];
  const haveNginx = nginxPath() !== null;
  if (haveNginx) modes.push('nginx');
  const scenarios: Array<{ name: string; concurrency: number; path: string }> = [
    { name: '1 download', concurrency: 1, path: '/log' },
    { name: '3 concurrent', concurrency: 3, path: '/log' },
    { name: '10 concurrent', concurrency: 10, path: '/log' },
    { name: '1 download, paced upstream', concurrency: 1, path: '/log?paced=1' },
  ];
  const rows: Row[] = [];
  for (const scenario of scenarios) {
    for (const mode of modes) {
      const proxy = mode === 'nginx'
        ? await startNginx(upstream.port)
        : await startProcess(process.execPath, [join(HERE, 'proxy-server.js'), mode, String(upstream.port)], /listening (\d+)/);
      const pid = proxy.child.pid!;
      const cpuBefore = cpuSeconds(pid);
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: scenario.concurrency }, () => download(proxy.port, scenario.path, expected!)));
      const wall = (performance.now() - started) / 1000;
      const cpu = cpuSeconds(pid) - cpuBefore;
      const rss = peakRssMb(pid);
      proxy.child.kill('SIGTERM');
      await new Promise((r) => proxy.child.once('exit', r));
      proxy.cleanup?.();
      rows.push({
        mode,
        scenario: scenario.name,
        cpu,
        wall,
        rss,
        allOk: results.every((r) => r.ok && r.bytes === Number(total)),
        longestSilence: Math.max(...results.map((r) => r.longestSilenceMs)),
      });
      process.stderr.write(`${scenario.name} ${mode}: cpu ${fixed(cpu)} s, wall ${fixed(wall)} s\n`);
    }
  }
  upstream.child.kill('SIGTERM');

  const table = markdownTable(
    ['proxy', 'scenario', 'proxy CPU s', 'wall s', 'peak RSS MB', 'all finished, byte-identical', 'longest silence ms'],
    rows.map((r) => [LABEL[r.mode], r.scenario, fixed(r.cpu), fixed(r.wall), fixed(r.rss, 0), r.allOk ? 'yes' : 'NO', fixed(r.longestSilence, 0)]),
  );
  console.log(`\n${CHUNKS.toLocaleString('en-US')} chunks, ${(Number(total) / 1e6).toFixed(1)} MB per download (node ${process.version}${haveNginx ? '' : '; nginx not installed: (e) not measured, apt-get install nginx-light'})\n\n${table}`);
  const cpuOf = (mode: Mode, scenario: string): number => rows.find((r) => r.mode === mode && r.scenario === scenario)!.cpu;
  console.log('\nTargets: (b) and (c) use <= 1/5 of (a)\'s CPU and <= 1.5x nginx\'s; 10 concurrent downloads all finish');
  for (const scenario of scenarios.map((s) => s.name)) {
    const naive = cpuOf('naive', scenario);
    const parts = (['off', 'on'] as const).map((mode) => {
      const cpu = cpuOf(mode, scenario);
      const vsNginx = haveNginx ? ` ${fixed(cpu / cpuOf('nginx', scenario))}x nginx` : '';
      return `${mode}: ${fixed(cpu / naive)}x naive${vsNginx}`;
    });
    console.log(`  ${scenario}: ${parts.join('; ')}`);
  }
  const tenOk = rows.filter((r) => r.scenario === '10 concurrent').every((r) => r.allOk);
  console.log(`  10 concurrent downloads all finished byte-identical through every proxy: ${tenOk ? 'yes' : 'NO'}`);
}

await main();
