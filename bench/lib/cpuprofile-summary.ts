/**
 * What a `node --cpu-prof` profile says, in the terms of the proxy path: self time by function and by
 * part (fastify, the coroutine runtime, the HTTP client's head and body code, the tcp cosocket, pools,
 * dyups, node's own http and streams, GC). `node dist/bench/lib/cpuprofile-summary.js FILE.cpuprofile
 * [--skip SECONDS] [--top N]`; --skip leaves out the profile's first seconds (a warm-up).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { partOfUrl, shortUrl } from './profile-parts.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function partOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'native, not attributed (program)';
    return 'native (builtins, syscalls)';
  }
  return partOfUrl(url);
}

function summarize(profile: CpuProfile, skipSeconds: number, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let clock = 0;
  let busy = 0;
  let all = 0;
  // timeDeltas[i] is the time from sample i-1 to sample i: sample i stands for the interval that follows
  for (let i = 0; i < profile.samples.length; i++) {
    clock += profile.timeDeltas[i] ?? 0;
    const next = profile.timeDeltas[i + 1] ?? 0;
    if (clock < skipSeconds * 1e6) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + next);
    all += next;
    if (byId.get(id)?.callFrame.functionName !== '(idle)') busy += next;
  }
  const byFunction = new Map<string, number>();
  const byPart = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const part = partOf(node);
    if (part === 'idle') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'}  ${url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byPart.set(part, (byPart.get(part) ?? 0) + us);
  }
  const share = (us: number): string => `${((us / busy) * 100).toFixed(1)}%`;
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]);
  const lines = [
    `${(all / 1e6).toFixed(2)} s profiled, ${(busy / 1e6).toFixed(2)} s busy (${((busy / all) * 100).toFixed(0)}%); shares are of the busy time`,
    '',
    '| part | self time |',
    '| --- | --- |',
    ...sorted(byPart).map(([part, us]) => `| ${part} | ${share(us)} |`),
    '',
    '| function | self time |',
    '| --- | --- |',
    ...sorted(byFunction)
      .slice(0, top)
      .map(([name, us]) => `| ${name.replace(/\|/g, '\\|')} | ${share(us)} |`),
  ];
  return lines.join('\n');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { skip: { type: 'string', default: '0' }, top: { type: 'string', default: '30' } },
});
if (positionals.length !== 1) {
  process.stderr.write('usage: cpuprofile-summary FILE.cpuprofile [--skip SECONDS] [--top N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile;
console.log(summarize(profile, Number(values.skip), Number(values.top)));
