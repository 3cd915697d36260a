/**
 * What `perf record -g` of a node process (run with --perf-basic-prof) says, in the parts of the proxy
 * path: each sample goes to the nearest JavaScript function on its stack, so V8 builtins, inline caches
 * and allocation count for the code that called them; kernel samples go to what the kernel was doing
 * (a loopback TCP send also runs the receiver's side), GC to GC, native code with no JavaScript above it
 * (node's llhttp parser, libuv) to node. Optimized code inlines callees into their callers: a function
 * inlined is counted in its caller. `node dist/bench/lib/perf-summary.js perf.data [--top N]`.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { partOfUrl, shortUrl } from './profile-parts.js';

interface Frame {
  symbol: string;
  kernel: boolean;
}

const GC =
  /v8::internal::(Heap|Scavenger|ScavengeJob|MarkCompact|MinorMarkCompact|ConcurrentMarking|IncrementalMarking|Sweeper|MemoryAllocator|GCTracer|MarkingVisitor|ArrayBufferSweeper)/;

function kernelPart(frames: readonly Frame[]): string {
  const symbols = frames.filter((f) => f.kernel).map((f) => f.symbol);
  const has = (pattern: RegExp): boolean => symbols.some((s) => pattern.test(s));
  if (has(/^tcp_sendmsg|^__sys_sendto|^sock_write_iter/)) return 'kernel: TCP send (loopback: with the receiving side)';
  if (has(/^tcp_recvmsg|^sock_read_iter|^__sys_recvfrom/)) return 'kernel: TCP receive';
  if (has(/epoll/)) return 'kernel: epoll';
  if (has(/^ext4|^xfs|^btrfs|^generic_perform_write|^filemap|^shmem/)) return 'kernel: files';
  if (has(/futex/)) return 'kernel: futex (threads)';
  if (has(/accept|^__sys_connect|tcp_v4_connect|^__x64_sys_close|tcp_close/)) return 'kernel: connect, accept, close';
  if (has(/page_fault|do_anonymous_page|handle_mm_fault|mmap|munmap|madvise/)) return 'kernel: memory';
  return 'kernel: other';
}

/** The sample's part and the function it is counted for. */
function attribute(frames: readonly Frame[]): { part: string; fn: string } {
  const leaf = frames[0];
  if (leaf === undefined) return { part: 'unknown', fn: '(no stack)' };
  if (leaf.kernel) return { part: kernelPart(frames), fn: kernelPart(frames) };
  for (const frame of frames) {
    if (GC.test(frame.symbol)) return { part: 'GC', fn: 'GC' };
    if (frame.symbol.startsWith('JS:') || frame.symbol.startsWith('RegExp:')) {
      if (frame.symbol.startsWith('RegExp:')) continue; // count a regexp for the code that ran it
      // JS:*name url:line:col ('*' optimized, '^' baseline, '~' interpreted)
      const text = frame.symbol.slice(4);
      const space = text.lastIndexOf(' ');
      const url = space >= 0 ? text.slice(space + 1) : '';
      const name = (space >= 0 ? text.slice(0, space) : text) || '(anonymous)';
      return { part: partOfUrl(url), fn: `${name}  ${shortUrl(url)}` };
    }
  }
  if (frames.some((f) => f.symbol.startsWith('llhttp'))) return { part: 'node: llhttp parser', fn: leaf.symbol };
  return { part: 'node, V8, libuv native (no JavaScript above it)', fn: leaf.symbol };
}

function summarize(script: string, top: number): string {
  const byPart = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const block of script.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (lines.length < 2) continue;
    const period = Number(lines[0]!.trim().split(/\s+/)[1] ?? 1);
    const frames = lines.slice(1).map((line): Frame => {
      const match = /^\s*[0-9a-f]+ (.*) \((.*)\)$/.exec(line);
      return { symbol: match?.[1] ?? line.trim(), kernel: match?.[2] === '[kernel.kallsyms]' };
    });
    const { part, fn } = attribute(frames);
    byPart.set(part, (byPart.get(part) ?? 0) + period);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + period);
    total += period;
  }
  const share = (n: number): string => `${((n / total) * 100).toFixed(1)}%`;
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]);
  return [
    '| part (each sample counted for the nearest JavaScript function on its stack) | CPU |',
    '| --- | --- |',
    ...sorted(byPart).map(([part, n]) => `| ${part} | ${share(n)} |`),
    '',
    '| function (with the builtins it called) | CPU |',
    '| --- | --- |',
    ...sorted(byFunction)
      .slice(0, top)
      .map(([fn, n]) => `| ${fn.replace(/\|/g, '\\|')} | ${share(n)} |`),
  ].join('\n');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' } },
});
if (positionals.length !== 1) {
  process.stderr.write('usage: perf-summary perf.data [--top N]\n');
  process.exit(2);
}
const script = spawnSync('perf', ['script', '-i', positionals[0]!, '-F', 'tid,period,ip,sym,dso'], {
  encoding: 'utf8',
  maxBuffer: 1024 * 1024 * 1024,
});
if (script.status !== 0) {
  process.stderr.write(`perf script failed: ${script.stderr}\n`);
  process.exit(1);
}
console.log(summarize(script.stdout, Number(values.top)));
