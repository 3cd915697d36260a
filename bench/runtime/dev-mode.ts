/**
 * What the unyielded-effect check costs a step: the same coroutine steps with the check off (production,
 * NODE_ENV=production) and on (development's `warn`), in interleaved rounds. bench/runtime/index.ts runs
 * it first; after it the check is back as bench/lib/subject.ts set it (off unless COSOCKET_UNYIELDED
 * says), so every other figure of that suite is production mode's. Alone:
 * `node --expose-gc dist/bench/runtime/dev-mode.js`. A tree without the check (bench/compare.ts's base)
 * prints a line saying so and is measured as it is.
 */
import { pathToFileURL } from 'node:url';
import { loadSubject } from '../lib/subject.js';
import { fixed, markdownTable, median } from '../lib/table.js';
import { callLoop, callbackEffectLoop, syncEffectLoop } from './step-loops.js';

const lib = await loadSubject();
const { Scheduler } = lib;
type Mode = 'off' | 'warn';
type CheckUnyielded = (options: { mode: string }) => void;
/** Looked up by name: older trees have no check. */
const checkUnyielded = (lib as Record<string, unknown>).checkUnyielded as CheckUnyielded | undefined;

const loops: Array<[string, (n: number) => Generator<unknown, number, unknown>, (n: number) => number]> = [
  ['`yield* call(Promise.resolve(i))`', callLoop, (n) => (n * (n - 1)) / 2],
  ['`yield* cancelled()` (no promise)', syncEffectLoop, (n) => n],
  ['`yield*` an effect woken by a callback', callbackEffectLoop, (n) => n],
];

/**
 * Prints the step cost of each loop with the check off and on (median ns/step of `rounds` rounds) and
 * their ratio against the target (on <= 1.25x off), then puts the check back as COSOCKET_UNYIELDED says
 * (subject.ts makes that `off`). Every run's sum is checked.
 */
export async function measureUnyieldedCheck(steps: number, rounds: number): Promise<void> {
  if (checkUnyielded === undefined) {
    console.log('\nThe unyielded-effect check: not in this tree.');
    return;
  }
  const scheduler = new Scheduler({ name: 'dev-mode', deadline: 0 });
  const samples = new Map<string, number[]>();
  const run = async (mode: Mode, name: string, loop: (n: number) => Generator<unknown, number, unknown>, n: number) => {
    checkUnyielded({ mode });
    const start = process.hrtime.bigint();
    const sum = await scheduler.go(loop, n);
    const ns = Number(process.hrtime.bigint() - start) / n;
    return { sum, ns, key: `${name}|${mode}` };
  };
  for (const [name, loop] of loops) {
    for (const mode of ['off', 'warn'] as const) await run(mode, name, loop, 10_000); // warm-up
  }
  for (let round = 0; round < rounds; round++) {
    // alternate which mode goes first, so neither always runs on a warmer or a noisier moment
    const modes: Mode[] = round % 2 === 0 ? ['off', 'warn'] : ['warn', 'off'];
    for (const [name, loop, expected] of loops) {
      for (const mode of modes) {
        const { sum, ns, key } = await run(mode, name, loop, steps);
        if (sum !== expected(steps)) throw new Error(`${name} (${mode}) summed ${sum}, expected ${expected(steps)}`);
        samples.set(key, [...(samples.get(key) ?? []), ns]);
      }
    }
  }
  checkUnyielded({ mode: process.env.COSOCKET_UNYIELDED! });
  const rows = loops.map(([name]) => {
    const offs = samples.get(`${name}|off`)!;
    const ons = samples.get(`${name}|warn`)!;
    // the ratio of each round's pair, measured moments apart, drifts less than the ratio of the medians
    const ratios = ons.map((on, i) => on / offs[i]!);
    const ratio = median(ratios);
    return [
      name,
      fixed(median(offs), 1),
      fixed(median(ons), 1),
      `${fixed(ratio)}x ${ratio <= 1.25 ? 'MET' : 'MISSED'}`,
      `${fixed(Math.min(...ratios))}–${fixed(Math.max(...ratios))}`,
    ];
  });
  console.log(
    `\nThe unyielded-effect check: one step with it off (production) and on (warn, development), ${steps.toLocaleString('en-US')} steps x ${rounds} rounds, median ns/step; target on <= 1.25x off\n`,
  );
  console.log(
    markdownTable(['step', 'off ns/step', 'on ns/step', 'on vs off (median of rounds)', 'range of rounds'], rows),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await measureUnyieldedCheck(Number(process.env.STEPS ?? 1_000_000), Number(process.env.ROUNDS ?? 7));
}
