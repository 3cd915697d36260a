/**
 * Cancellation: 100,000 root coroutines parked in a 60 s sleep inside `try/finally` are cancelled; the
 * figure is the time from the first cancel until every `finally` has run, per coroutine (parking them is
 * not timed). Each run checks that every `finally` ran and every coroutine ended cancelled.
 */
import { Effect, Exit, Fiber } from 'effect';
import { run as effectionRun, sleep as effectionSleep } from 'effection';
import type { Task as EffectionTask } from 'effection';
import type { Task } from '../../../src/index.js';
import { loadSubject } from '../../lib/subject.js';
import { Countdown, nsPerItem } from '../countdown.js';
import { asyncRatio } from '../harness.js';
import type { Case, Runner } from '../harness.js';
import { effectionShare } from '../sizes.js';
import type { Sizes } from '../sizes.js';

const { Scheduler, sleep } = await loadSubject();

const PARK_MS = 60_000;

/** Lets every coroutine just started reach its wait (some libraries start them on a later tick). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

/** What the async baseline's timer promise rejects with when cancelled (one object: no stack per cancel). */
const CANCELLED = new Error('cancelled');

type Cancel = () => void;

async function parkedAsync(cancels: Cancel[], i: number, finallyRan: Countdown): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, PARK_MS);
      cancels[i] = () => {
        clearTimeout(timer);
        reject(CANCELLED);
      };
    });
  } catch (err) {
    if (err !== CANCELLED) throw err;
  } finally {
    finallyRan.hit();
  }
}

function* parked(finallyRan: Countdown): Generator<unknown, void, unknown> {
  try {
    yield* sleep(PARK_MS);
  } finally {
    finallyRan.hit();
  }
}

/**
 * A runner that parks `n` coroutines with `park` (untimed), then times `cancel` until every finally has
 * run, and last runs `verify` (untimed), which throws unless every coroutine ended cancelled.
 */
function cancelRunner<H>(
  fields: Omit<Runner, 'measure'>,
  park: (n: number, finallyRan: Countdown) => H,
  cancel: (handles: H) => Promise<void> | void,
  verify: (handles: H) => Promise<void> | void,
): Runner {
  return {
    ...fields,
    async measure(n) {
      const finallyRan = new Countdown(n);
      const handles = park(n, finallyRan);
      await settle();
      if (finallyRan.count !== 0) throw new Error(`${finallyRan.count} coroutines ended before they were cancelled`);
      const start = process.hrtime.bigint();
      await cancel(handles);
      await finallyRan.done;
      const ns = nsPerItem(start, n);
      finallyRan.check('finally blocks run');
      await verify(handles);
      return ns;
    },
  };
}

export function cancelCase(sizes: Sizes): Case {
  const n = sizes.cancels;
  const scheduler = new Scheduler({ name: 'cancel', concurrency: n, backlog: n, deadline: PARK_MS * 2 });
  return {
    key: 'cancel',
    title: `Cancel ${n.toLocaleString('en-US')} coroutines parked in sleep(60000) inside try/finally`,
    unit: 'ns/coroutine',
    digits: 0,
    warmUp: true,
    runners: [
      cancelRunner(
        {
          name: 'async fn',
          library: 'async/await',
          what: 'async fn: its timer promise rejected (clearTimeout, reject with one shared error)',
          items: n,
          headline: true,
        },
        (count, finallyRan) => {
          const cancels = new Array<Cancel>(count);
          const ended = new Array<Promise<void>>(count);
          for (let i = 0; i < count; i++) ended[i] = parkedAsync(cancels, i, finallyRan);
          return { cancels, ended };
        },
        ({ cancels }) => {
          for (const cancel of cancels) cancel();
        },
        async ({ ended }) => {
          await Promise.all(ended);
        },
      ),
      cancelRunner(
        {
          name: 'cosocket',
          library: 'cosocket',
          what: '`task.cancel()` of each `go()` task',
          items: n,
          headline: true,
        },
        (count, finallyRan) => {
          const tasks = new Array<Task<void>>(count);
          for (let i = 0; i < count; i++) tasks[i] = scheduler.go(parked, finallyRan);
          return tasks;
        },
        (tasks) => {
          for (const task of tasks) task.cancel();
        },
        async (tasks) => {
          await Promise.allSettled(tasks);
          const notCancelled = tasks.filter((task) => task.status !== 'cancelled').length;
          if (notCancelled !== 0) throw new Error(`${notCancelled} tasks did not end cancelled`);
        },
      ),
      cancelRunner(
        {
          name: 'Effection',
          library: 'Effection',
          what: '`await task.halt()` of each `run()` task',
          items: effectionShare(n, sizes),
          headline: true,
        },
        (count, finallyRan) => {
          const tasks = new Array<EffectionTask<void>>(count);
          const outcomes = new Array<Promise<boolean>>(count);
          for (let i = 0; i < count; i++) {
            tasks[i] = effectionRun(function* () {
              try {
                yield* effectionSleep(PARK_MS);
              } finally {
                finallyRan.hit();
              }
            });
            outcomes[i] = tasks[i]!.then(
              () => false,
              () => true,
            );
          }
          return { tasks, outcomes };
        },
        async ({ tasks }) => {
          await Promise.all(tasks.map((task) => task.halt()));
        },
        async ({ outcomes }) => {
          const halted = (await Promise.all(outcomes)).filter(Boolean).length;
          if (halted !== outcomes.length) throw new Error(`${halted} of ${outcomes.length} tasks halted`);
        },
      ),
      cancelRunner(
        {
          name: 'Effect',
          library: 'Effect',
          what: '`Fiber.interruptAll(fibers)` (`fiber.interruptUnsafe()` each, then await them) of `Effect.runFork()` fibers',
          items: n,
          headline: true,
        },
        (count, finallyRan) => {
          const fibers = new Array<Fiber.Fiber<void>>(count);
          const body = Effect.ensuring(
            Effect.sleep(PARK_MS),
            Effect.sync(() => finallyRan.hit()),
          );
          for (let i = 0; i < count; i++) fibers[i] = Effect.runFork(body);
          return fibers;
        },
        (fibers) => Effect.runPromise(Fiber.interruptAll(fibers)),
        (fibers) => {
          const interrupted = fibers.filter((fiber) => {
            const exit = fiber.pollUnsafe();
            return exit !== undefined && Exit.hasInterrupts(exit);
          }).length;
          if (interrupted !== fibers.length) throw new Error(`${interrupted} of ${fibers.length} fibers interrupted`);
        },
      ),
    ],
    ratios: [
      asyncRatio('cancel'),
      { label: 'vs Effect', metric: 'cancel vs Effect', against: (r) => (r.library === 'cosocket' ? 'Effect' : null) },
    ],
  };
}
