/**
 * One step: a loop that waits on an already-resolved promise each time round, in each library, and
 * cosocket's other kinds of step (a yielded promise, a sync effect, an effect woken from a callback).
 */
import co from 'co';
import { Effect } from 'effect';
import { call as effectionCall, run as effectionRun, until } from 'effection';
import { loadSubject } from '../../lib/subject.js';
import { expectEqual, nsPerItem } from '../countdown.js';
import type { Case, Runner } from '../harness.js';
import { effectionShare } from '../sizes.js';
import { callLoop, callbackEffectLoop, syncEffectLoop } from '../step-loops.js';
import type { Sizes } from '../sizes.js';

const { Scheduler } = await loadSubject();

const scheduler = new Scheduler({ name: 'bench', deadline: 0 });

const AWAIT = 'await (baseline)';
const AWAIT_CALLBACK = 'await callback (baseline 2)';

async function awaitLoop(n: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await Promise.resolve(i);
  return sum;
}

function* rawYieldLoop(n: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield Promise.resolve(i)) as number;
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

function effectionUntilLoop(n: number): Promise<number> {
  return effectionRun(function* () {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += yield* until(Promise.resolve(i));
    return sum;
  });
}

function effectionCallLoop(n: number): Promise<number> {
  return effectionRun(function* () {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += yield* effectionCall(() => Promise.resolve(i));
    return sum;
  });
}

function effectPromiseLoop(n: number): Promise<number> {
  return Effect.runPromise(
    Effect.gen(function* () {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += yield* Effect.promise(() => Promise.resolve(i));
      return sum;
    }),
  );
}

const triangle = (n: number): number => (n * (n - 1)) / 2;

/** A runner timing `loop(n)`, which must return `expected(n)`. */
function stepRunner(
  fields: Omit<Runner, 'measure'>,
  loop: (n: number) => PromiseLike<unknown>,
  expected: (n: number) => number,
): Runner {
  return {
    ...fields,
    async measure(n) {
      const start = process.hrtime.bigint();
      const sum = await loop(n);
      const ns = nsPerItem(start, n);
      expectEqual(`the sum of ${n} steps`, sum, expected(n));
      return ns;
    },
  };
}

export function stepCase(sizes: Sizes): Case {
  const steps = sizes.steps;
  const count = (n: number): number => n;
  const runners: Runner[] = [
    stepRunner(
      {
        name: AWAIT,
        library: 'async/await',
        what: 'async fn: `await Promise.resolve(i)`',
        items: steps,
        headline: true,
      },
      awaitLoop,
      triangle,
    ),
    stepRunner(
      {
        name: 'cosocket call()',
        library: 'cosocket',
        what: 'coroutine: `yield* call(Promise.resolve(i))`',
        items: steps,
        headline: true,
      },
      (n) => scheduler.go(callLoop, n),
      triangle,
    ),
    stepRunner(
      {
        name: 'cosocket yield promise',
        library: 'cosocket',
        what: 'coroutine: `yield Promise.resolve(i)`',
        items: steps,
      },
      (n) => scheduler.go(rawYieldLoop, n),
      triangle,
    ),
    stepRunner(
      {
        name: 'cosocket sync effect',
        library: 'cosocket',
        what: 'coroutine: `yield* cancelled()` (no promise)',
        items: steps,
      },
      (n) => scheduler.go(syncEffectLoop, n),
      count,
    ),
    stepRunner(
      {
        name: 'co 4.6',
        library: 'co',
        what: '`co(function* () { yield Promise.resolve(i) })`',
        items: steps,
        headline: true,
      },
      (n) => co(coLoop, n),
      triangle,
    ),
    stepRunner(
      {
        name: 'Effection until()',
        library: 'Effection',
        what: '`run(function* () { yield* until(Promise.resolve(i)) })`',
        items: effectionShare(steps, sizes),
        headline: true,
      },
      effectionUntilLoop,
      triangle,
    ),
    stepRunner(
      {
        name: 'Effection call()',
        library: 'Effection',
        what: '`run(function* () { yield* call(() => Promise.resolve(i)) })`',
        items: effectionShare(steps, sizes),
      },
      effectionCallLoop,
      triangle,
    ),
    stepRunner(
      {
        name: 'Effect.promise',
        library: 'Effect',
        what: '`Effect.gen(function* () { yield* Effect.promise(() => Promise.resolve(i)) })`',
        items: steps,
        headline: true,
      },
      effectPromiseLoop,
      triangle,
    ),
    stepRunner(
      {
        name: AWAIT_CALLBACK,
        library: 'async/await',
        what: 'async fn: `await new Promise(r => queueMicrotask(() => r(1)))`',
        items: steps,
      },
      callbackAwaitLoop,
      count,
    ),
    stepRunner(
      {
        name: 'cosocket callback effect',
        library: 'cosocket',
        what: 'coroutine: `yield*` an effect settled from queueMicrotask (how I/O effects wait)',
        items: steps,
      },
      (n) => scheduler.go(callbackEffectLoop, n),
      count,
    ),
  ];
  return {
    key: 'step',
    title: 'One step',
    unit: 'ns/step',
    digits: 1,
    warmUp: true,
    runners,
    ratios: [
      {
        label: 'vs its await baseline',
        metric: 'step vs its await baseline',
        against: (r) =>
          r.name === AWAIT || r.name === AWAIT_CALLBACK ? null : r.name.includes('callback') ? AWAIT_CALLBACK : AWAIT,
      },
    ],
  };
}
