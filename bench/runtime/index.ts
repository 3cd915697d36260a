/**
 * bench/runtime: cost of one coroutine step against one `await` step and against `co`, and memory
 * per parked coroutine. Run with `npm run bench:runtime` (needs --expose-gc, which the script passes).
 * All figures are medians of several rounds in this one process; ratios are against `await` measured
 * in the same rounds, since absolute numbers drift on a shared machine.
 */
import co from 'co';
import type { Task } from '../../src/index.js';
import { MetricLog } from '../lib/bench-json.js';
import { loadSubject, subjectDir } from '../lib/subject.js';
import { fixed, markdownTable, median } from '../lib/table.js';
import { ping } from './callback-effect.js';
import { measureUnyieldedCheck } from './dev-mode.js';

const { Scheduler, call, cancelled, sleep } = await loadSubject();

const STEPS = Number(process.env.STEPS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PARKED = Number(process.env.PARKED ?? 100_000);

const scheduler = new Scheduler({ name: 'bench', deadline: 0 });

async function awaitLoop(n: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await Promise.resolve(i);
  return sum;
}

function* callLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += yield* call(Promise.resolve(i));
  return sum;
}

function* rawYieldLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield Promise.resolve(i)) as number;
  return sum;
}

function* syncEffectLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield* cancelled()) ? 0 : 1;
  return sum;
}

// An effect woken by a callback, the way cosocket's I/O effects are woken by socket events.
// The callback source here is queueMicrotask, for both sides.
function* callbackEffectLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += yield* ping();
  return sum;
}

async function callbackAwaitLoop(n: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await new Promise<number>((resolve) => queueMicrotask(() => resolve(1)));
  return sum;
}

function* coLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield Promise.resolve(i)) as number;
  return sum;
}

type Runner = (n: number) => PromiseLike<unknown>;

/** Runners that do not run cosocket: what its steps are compared with. */
const CONTROLS = new Set(['await (baseline)', 'co 4.6', 'await callback (baseline 2)']);

const runners: Array<[string, string, Runner]> = [
  ['await (baseline)', 'async fn: `await Promise.resolve(i)`', (n) => awaitLoop(n)],
  ['cosocket call()', 'coroutine: `yield* call(Promise.resolve(i))`', (n) => scheduler.go(callLoop, n)],
  ['cosocket yield promise', 'coroutine: `yield Promise.resolve(i)`', (n) => scheduler.go(rawYieldLoop, n)],
  ['cosocket sync effect', 'coroutine: `yield* cancelled()` (no promise)', (n) => scheduler.go(syncEffectLoop, n)],
  ['co 4.6', '`co(function* () { yield Promise.resolve(i) })`', (n) => co(coLoop, n)],
  [
    'await callback (baseline 2)',
    'async fn: `await new Promise(r => queueMicrotask(() => r(1)))`',
    (n) => callbackAwaitLoop(n),
  ],
  [
    'cosocket callback effect',
    'coroutine: `yield*` an effect settled from queueMicrotask (how I/O effects wait)',
    (n) => scheduler.go(callbackEffectLoop, n),
  ],
];

async function stepCosts(): Promise<Map<string, number>> {
  const samples = new Map<string, number[]>(runners.map(([name]) => [name, []]));
  for (const [, , run] of runners) await run(10_000); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, , run] of runners) {
      const start = process.hrtime.bigint();
      await run(STEPS);
      samples.get(name)!.push(Number(process.hrtime.bigint() - start) / STEPS);
    }
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]));
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc (npm run bench:runtime does)');
  collect();
  collect();
}

function memoryNow(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

async function parkedBytes(kind: 'cosocket' | 'async'): Promise<number> {
  gc();
  const before = memoryNow();
  // the harness's own array (one slot per coroutine) is subtracted below
  const handles = new Array<Task<void> | (() => void)>(PARKED);
  const parked = new Scheduler({ name: 'parked', concurrency: PARKED, deadline: 60_000 });
  let asyncDone: Promise<unknown> = Promise.resolve();
  if (kind === 'cosocket') {
    for (let i = 0; i < PARKED; i++) handles[i] = parked.go(parkedCoroutine);
  } else {
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < PARKED; i++) all.push(parkedAsync(handles, i));
    asyncDone = Promise.all(all);
  }
  gc();
  const perCoroutine = (memoryNow() - before - PARKED * 8 * (kind === 'async' ? 2 : 1)) / PARKED;
  for (const handle of handles) {
    if (typeof handle === 'function') handle();
    else handle.cancel();
  }
  await asyncDone;
  if (kind === 'cosocket' && parked.stats().live !== 0) throw new Error('parked coroutines did not all settle');
  return perCoroutine;
}

function* parkedCoroutine(): Generator<unknown, void, unknown> {
  yield* sleep(60_000);
}

async function parkedAsync(cancels: Array<unknown>, i: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 60_000);
    cancels[i] = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function main(): Promise<void> {
  const log = new MetricLog('runtime', subjectDir);
  const costs = await stepCosts();
  const base = costs.get('await (baseline)')!;
  const callbackBase = costs.get('await callback (baseline 2)')!;
  const stepRows = runners.map(([name, what]) => {
    const ns = costs.get(name)!;
    const against = name.includes('callback') ? callbackBase : base;
    log.add(`step: ${name}`, ns, 'ns/step', 'lower', CONTROLS.has(name));
    if (!CONTROLS.has(name)) log.add(`step vs its await baseline: ${name}`, ns / against, 'x', 'lower');
    return [name, what, fixed(ns, 1), `${fixed(ns / against)}x`];
  });
  console.log(
    `\nOne step, ${STEPS.toLocaleString('en-US')} steps x ${ROUNDS} rounds, median ns/step (node ${process.version})\n`,
  );
  console.log(markdownTable(['runner', 'step', 'ns/step', 'vs its await baseline'], stepRows));

  const cosocketBytes = median([
    await parkedBytes('cosocket'),
    await parkedBytes('cosocket'),
    await parkedBytes('cosocket'),
  ]);
  const asyncBytes = median([await parkedBytes('async'), await parkedBytes('async'), await parkedBytes('async')]);
  console.log(
    `\nMemory per parked coroutine (${PARKED.toLocaleString('en-US')} in sleep(60s), heap+external after GC, median of 3)\n`,
  );
  console.log(
    markdownTable(
      ['what', 'bytes each', 'vs async fn'],
      [
        [
          'cosocket coroutine in `yield* sleep(60000)` (with its 60 s deadline timer)',
          fixed(cosocketBytes, 0),
          `${fixed(cosocketBytes / asyncBytes)}x`,
        ],
        ['async fn in `await` of a 60 s setTimeout promise', fixed(asyncBytes, 0), '1.00x'],
        ['nginx-cosocket (seed): one 64 KB C stack per coroutine', '65536', `${fixed(65536 / asyncBytes)}x`],
      ],
    ),
  );
  const verdict = (ratio: number): string => `${fixed(ratio)}x ${ratio <= 1.5 ? 'MET' : 'MISSED'}`;
  console.log('\nTargets: one step <= 1.5x one await step; <= 1 KB per parked coroutine');
  console.log(
    `  callback-woken effect (cosocket I/O): ${verdict(costs.get('cosocket callback effect')! / callbackBase)}`,
  );
  console.log(`  yield promise:                        ${verdict(costs.get('cosocket yield promise')! / base)}`);
  console.log(`  yield* call(promise):                 ${verdict(costs.get('cosocket call()')! / base)}`);
  console.log(`  parked coroutine: ${fixed(cosocketBytes, 0)} B ${cosocketBytes <= 1024 ? 'MET' : 'MISSED'}`);
  log.add('parked: cosocket coroutine in sleep(60000)', cosocketBytes, 'bytes', 'lower');
  log.add('parked: async fn awaiting a 60 s setTimeout', asyncBytes, 'bytes', 'lower', true);
  log.add('parked vs async fn: cosocket coroutine', cosocketBytes / asyncBytes, 'x', 'lower');
  log.print();
}

await measureUnyieldedCheck(STEPS, ROUNDS); // the check's cost; what follows runs with it off (production)
await main();
