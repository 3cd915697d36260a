/**
 * Memory per parked coroutine: 100,000 of them waiting on a 60 s timer, heap + external after a full GC,
 * less the harness's own array of handles (8 bytes a slot). Each run then releases them all and checks that
 * every one has ended.
 */
import co from 'co';
import { Effect, Fiber } from 'effect';
import { run as effectionRun, sleep as effectionSleep } from 'effection';
import type { Task as EffectionTask } from 'effection';
import type { Task } from '../../../src/index.js';
import { loadSubject } from '../../lib/subject.js';
import { Countdown } from '../countdown.js';
import { collectGarbage, ratioAgainst } from '../harness.js';
import type { Case, Runner } from '../harness.js';
import { effectionShare } from '../sizes.js';
import type { Sizes } from '../sizes.js';

const { Scheduler, sleep } = await loadSubject();

const PARK_MS = 60_000;
const SLOT_BYTES = 8;

function memoryNow(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

/** Parks `n` coroutines with `park` (which fills the handle array), weighs them, then runs `release`. */
async function bytesEach<H>(
  n: number,
  park: (handles: H[], n: number) => void,
  release: (handles: H[]) => Promise<void>,
): Promise<number> {
  collectGarbage(2);
  const before = memoryNow();
  const handles = new Array<H>(n);
  park(handles, n);
  collectGarbage(2);
  const bytes = (memoryNow() - before - n * SLOT_BYTES) / n;
  await release(handles);
  return bytes;
}

function* parkedCoroutine(): Generator<unknown, void, unknown> {
  yield* sleep(PARK_MS);
}

type Cancel = () => void;

/** A 60 s timer promise whose cancel function (clear the timer, resolve) goes to `cancels[i]`. */
function parkedTimer(cancels: Cancel[], i: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, PARK_MS);
    cancels[i] = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function parkedAsync(cancels: Cancel[], i: number, ended: Countdown): Promise<void> {
  await parkedTimer(cancels, i);
  ended.hit();
}

function* parkedCo(cancels: Cancel[], i: number, ended: Countdown): Generator<unknown, void, unknown> {
  yield parkedTimer(cancels, i);
  ended.hit();
}

/** Parks with `start(cancels, i, ended)`; releases by calling every cancel function and waiting for the ends. */
function cancelFunctionRunner(
  fields: Omit<Runner, 'measure'>,
  start: (cancels: Cancel[], i: number, ended: Countdown) => void,
): Runner {
  return {
    ...fields,
    async measure(n) {
      const ended = new Countdown(n);
      const bytes = await bytesEach<Cancel>(
        n,
        (cancels, count) => {
          for (let i = 0; i < count; i++) start(cancels, i, ended);
        },
        async (cancels) => {
          for (const cancel of cancels) cancel();
          await ended.done;
        },
      );
      ended.check('parked coroutines that ended');
      return bytes;
    },
  };
}

export function parkedCase(sizes: Sizes): Case {
  const n = sizes.parked;
  const scheduler = new Scheduler({ name: 'parked', concurrency: n, backlog: n, deadline: PARK_MS });
  const runners: Runner[] = [
    cancelFunctionRunner(
      {
        name: 'async fn awaiting a 60 s setTimeout',
        library: 'async/await',
        what: 'async fn in `await` of a 60 s setTimeout promise',
        items: n,
        headline: true,
      },
      (cancels, i, ended) => void parkedAsync(cancels, i, ended),
    ),
    {
      name: 'cosocket coroutine in sleep(60000)',
      library: 'cosocket',
      what: '`go()`: `yield* sleep(60000)`, with its 60 s deadline',
      items: n,
      headline: true,
      async measure(count) {
        const bytes = await bytesEach<Task<void>>(
          count,
          (tasks, k) => {
            for (let i = 0; i < k; i++) tasks[i] = scheduler.go(parkedCoroutine);
          },
          async (tasks) => {
            for (const task of tasks) task.cancel();
            await Promise.allSettled(tasks);
          },
        );
        const { live } = scheduler.stats();
        if (live !== 0) throw new Error(`${live} parked coroutines still live after cancel`);
        return bytes;
      },
    },
    cancelFunctionRunner(
      {
        name: 'co coroutine',
        library: 'co',
        what: '`co()`: `yield` a 60 s setTimeout promise',
        items: n,
        headline: true,
      },
      (cancels, i, ended) => void co(parkedCo, cancels, i, ended),
    ),
    {
      name: 'Effection task in sleep(60000)',
      library: 'Effection',
      what: '`run()`: `yield* sleep(60000)`',
      items: effectionShare(n, sizes),
      headline: true,
      async measure(count) {
        let halted = 0;
        const bytes = await bytesEach<EffectionTask<void>>(
          count,
          (tasks, k) => {
            for (let i = 0; i < k; i++) tasks[i] = effectionRun(() => effectionSleep(PARK_MS));
          },
          async (tasks) => {
            const outcomes = tasks.map((task) =>
              task.then(
                () => {},
                () => void halted++,
              ),
            );
            await Promise.all(tasks.map((task) => task.halt()));
            await Promise.all(outcomes);
          },
        );
        if (halted !== count) throw new Error(`${halted} of ${count} Effection tasks halted`);
        return bytes;
      },
    },
    {
      name: 'Effect fiber in sleep(60000)',
      library: 'Effect',
      what: '`Effect.runFork()`: `Effect.sleep(60000)`',
      items: n,
      headline: true,
      async measure(count) {
        let open = 0;
        const bytes = await bytesEach<Fiber.Fiber<void>>(
          count,
          (fibers, k) => {
            const parked = Effect.sleep(PARK_MS);
            for (let i = 0; i < k; i++) fibers[i] = Effect.runFork(parked);
          },
          async (fibers) => {
            await Effect.runPromise(Fiber.interruptAll(fibers));
            open = fibers.filter((fiber) => fiber.pollUnsafe() === undefined).length;
          },
        );
        if (open !== 0) throw new Error(`${open} Effect fibers still running after Fiber.interruptAll`);
        return bytes;
      },
    },
  ];
  return {
    key: 'parked',
    title: `Memory per parked coroutine (${n.toLocaleString('en-US')} waiting on a 60 s timer, heap + external after GC)`,
    unit: 'bytes',
    digits: 0,
    warmUp: false,
    runners,
    ratios: [ratioAgainst('parked vs async fn', 'vs async fn', 'async fn awaiting a 60 s setTimeout')],
  };
}
