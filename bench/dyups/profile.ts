/**
 * Profiles a warmed dyups proxy listener (cosocket serve) under one of issue 15's loads:
 *   small      ab -k -c 50 for a 10-byte (--body 10b) or 4 KB (--body 4k) body from an nginx worker; with
 *              --upstream https the nginx worker answers 10 bytes over TLS (a self-signed certificate made
 *              for the run) and the group has `proxy_ssl on` with it as trusted certificate (issue 17);
 *   fragments  curl downloads of a fragmented body (bench/stream/fragment-upstream.ts): --shape 64 (64
 *              chunks per write, the default), 1 (one chunk per write) or 4k (4 KB chunks).
 * The proxy runs in serve's worker (serve is a primary with one worker): that process is the one profiled.
 * --perf: `perf record -g` on the process while the load runs (node runs with --perf-basic-prof), then
 * bench/lib/perf-summary.ts over its samples. --cpu-prof: node's sampling profile (written when the
 * server exits), then bench/lib/cpuprofile-summary.ts over the part after the warm-up. Files stay in
 * --out (default a tmpdir).
 * `node dist/bench/dyups/profile.js small|fragments --perf|--cpu-prof [--seconds 15] [--warmup 5]
 * [--buffering on|off] [--concurrency N] [--shape 64|1|4k] [--body 10b|4k] [--upstream http|https]`
 * (--warmup: seconds of ab, or downloads).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DYUPS_GROUP, startDyupsServer } from '../lib/dyups-server.js';
import { chooseGenerator, runGenerator } from '../lib/load-generator.js';
import { startNginxFiles, startNginxTlsConstant, startProcess, stopProc } from '../lib/processes.js';
import { processTree } from '../lib/process-cpu.js';
import type { Proc } from '../lib/processes.js';
import { makeSelfSigned } from '../lib/self-signed.js';
import { curlDownload } from '../stream/curl-download.js';
import type { FragmentShape } from '../stream/fragment-upstream.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    perf: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string' },
    buffering: { type: 'string', default: 'on' },
    concurrency: { type: 'string' },
    shape: { type: 'string', default: '64' },
    body: { type: 'string', default: '10b' },
    upstream: { type: 'string', default: 'http' },
    out: { type: 'string' },
  },
});
const scenario = positionals[0];
if ((scenario !== 'small' && scenario !== 'fragments') || values.perf === values['cpu-prof']) {
  process.stderr.write(
    'usage: profile.js small|fragments --perf|--cpu-prof [--seconds N] [--warmup N] [--buffering on|off]\n',
  );
  process.exit(2);
}
const seconds = Number(values.seconds);
const warmup = Number(values.warmup ?? (scenario === 'small' ? 5 : 6));
const concurrency = Number(values.concurrency ?? (scenario === 'small' ? 50 : 1));
const out = values.out ?? mkdtempSync(join(tmpdir(), 'cosocket-profile-'));
mkdirSync(out, { recursive: true });
const nodeArgs = values.perf
  ? ['--perf-basic-prof', '--interpreted-frames-native-stack']
  : ['--cpu-prof', '--cpu-prof-dir', out];

const https = values.upstream === 'https';
if (values.upstream !== 'http' && (!https || scenario !== 'small')) {
  process.stderr.write('--upstream: http, or https with the small scenario\n');
  process.exit(2);
}
const cert = https ? makeSelfSigned([DYUPS_GROUP, '127.0.0.1']) : null;
const upstream: Proc =
  cert !== null
    ? await startNginxTlsConstant('hello12345', cert)
    : scenario === 'small'
      ? await startNginxFiles({ '/10b': 'hello12345', '/4k': 'x'.repeat(4096) })
      : await startProcess(
          process.execPath,
          [join(HERE, '../stream/fragment-upstream.js')],
          /listening (\d+) (\[.*\])\n/,
        );
const shape =
  scenario === 'fragments'
    ? ((JSON.parse(upstream.line.slice(upstream.line.indexOf('['))) as FragmentShape[]).find(
        (s) => s.path === `/frag/${values.shape}`,
      ) ?? null)
    : null;
if (scenario === 'fragments' && shape === null) {
  await stopProc(upstream);
  throw new Error(`no fragment shape '${values.shape}': 64, 1 or 4k`);
}
const started = performance.now();
const server = await startDyupsServer(upstream.port, {
  groupExtra:
    scenario !== 'small'
      ? ''
      : cert !== null
        ? `keepalive 64; proxy_ssl on; proxy_ssl_trusted_certificate ${cert.certFile};`
        : 'keepalive 64;',
  ...(values.buffering === 'off' ? { dyups: { buffering: false } } : {}),
  nodeArgs,
});
const pid = server.child.pid!;
// serve is a primary with one worker: the proxy runs in the worker, which is what is profiled
const proxyPid = processTree(pid).find((p) => p !== pid && commandOf(p) === 'node') ?? pid;

async function load(howMuch: number, asSeconds: boolean): Promise<string> {
  if (shape === null) {
    const r = await runGenerator(chooseGenerator(), {
      url: `http://127.0.0.1:${server.port}/${values.body}`,
      concurrency,
      keepalive: true,
      seconds: howMuch,
      headers: { host: DYUPS_GROUP },
      watch: new Map([['proxy', pid]]),
    });
    return `${r.rps.toFixed(0)} req/s, p99 ${r.p99Ms} ms, proxy ${(r.cpu.proxy ?? NaN).toFixed(0)}% of a core`;
  }
  const url = `http://127.0.0.1:${server.port}${shape.path}`;
  const until = performance.now() + howMuch * 1000;
  let downloads = 0;
  while (asSeconds ? performance.now() < until : downloads < howMuch) {
    const batch = await Promise.all(
      Array.from({ length: concurrency }, () => curlDownload(url, DYUPS_GROUP, shape.sha256)),
    );
    if (!batch.every((d) => d.ok)) throw new Error(`a download failed: ${batch.map((d) => d.error).join('; ')}`);
    downloads += concurrency;
  }
  return `${downloads} downloads of ${shape.id}`;
}

try {
  process.stderr.write(`warm-up: ${await load(warmup, scenario === 'small')}\n`);
  const skip = (performance.now() - started) / 1000;
  let perf: ReturnType<typeof spawn> | null = null;
  if (values.perf) {
    perf = spawn('perf', ['record', '-F', '999', '-g', '-p', String(proxyPid), '-o', join(out, 'perf.data')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stderr.write(`profiled: ${await load(seconds, true)}\n`);
  if (perf !== null) {
    const exited = new Promise((r) => perf.once('exit', r));
    perf.kill('SIGINT');
    await exited;
  }
  await stopProc(server);
  if (values.perf) {
    const dso = spawnSync(
      'perf',
      ['report', '-i', join(out, 'perf.data'), '--no-children', '--sort', 'dso', '--stdio', '-g', 'none'],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    const lines = dso.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    console.log(
      `perf report --sort dso:\n${lines
        .slice(0, 6)
        .map((l) => l.replace(/\s+-\s+-\s*$/, '').trimEnd())
        .join('\n')}\n`,
    );
    const summary = spawnSync(process.execPath, [join(HERE, '../lib/perf-summary.js'), join(out, 'perf.data')], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    console.log(summary.stdout + summary.stderr);
  } else {
    // node writes one per process (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile): the worker's
    const file = readdirSync(out).find((f) => f.endsWith('.cpuprofile') && f.includes(`.${proxyPid}.`));
    if (file === undefined) throw new Error(`no .cpuprofile in ${out}`);
    const summary = spawnSync(
      process.execPath,
      [join(HERE, '../lib/cpuprofile-summary.js'), join(out, file), '--skip', skip.toFixed(1)],
      { encoding: 'utf8' },
    );
    console.log(summary.stdout + summary.stderr);
  }
  console.log(`files in ${out}`);
} finally {
  await stopProc(server);
  await stopProc(upstream);
  cert?.remove();
}

/** A process's command name, from /proc (null once it is gone). */
function commandOf(processId: number): string | null {
  try {
    return readFileSync(`/proc/${processId}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}
