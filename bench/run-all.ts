/**
 * `npm run bench`: every benchmark in bench/, each in its own process (so one's heap and JIT state
 * does not colour the next), output passed through.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SUITES } from './lib/suites.js';

let failed = 0;
for (const bench of SUITES) {
  process.stdout.write(`\n## bench/${bench.name}\n`);
  const script = fileURLToPath(new URL(bench.script, import.meta.url));
  const result = spawnSync(process.execPath, [...bench.nodeArgs, script], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
