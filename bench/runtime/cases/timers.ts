/**
 * 100,000 timers: as many root coroutines started at once, each sleeping 1 ms and then counting itself;
 * the figure is the time until the last has counted, per coroutine.
 */
import co from 'co';
import { Effect } from 'effect';
import { run as effectionRun, sleep as effectionSleep } from 'effection';
import { loadSubject } from '../../lib/subject.js';
import { Countdown, nsPerItem } from '../countdown.js';
import { asyncRatio } from '../harness.js';
import type { Case, Runner } from '../harness.js';
import { effectionShare } from '../sizes.js';
import type { Sizes } from '../sizes.js';

const { Scheduler, sleep } = await loadSubject();

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function sleeperAsync(countdown: Countdown): Promise<void> {
  await delay(1);
  countdown.hit();
}

function* sleeper(countdown: Countdown): Generator<unknown, void, unknown> {
  yield* sleep(1);
  countdown.hit();
}

function* coSleeper(countdown: Countdown): Generator<unknown, void, unknown> {
  yield delay(1);
  countdown.hit();
}

/** A runner that starts `n` coroutines with `start` and times them until all have counted. */
function timersRunner(fields: Omit<Runner, 'measure'>, start: (countdown: Countdown, n: number) => void): Runner {
  return {
    ...fields,
    async measure(n) {
      const countdown = new Countdown(n);
      const begin = process.hrtime.bigint();
      start(countdown, n);
      await countdown.done;
      const ns = nsPerItem(begin, n);
      countdown.check('coroutines that slept and counted');
      return ns;
    },
  };
}

export function timersCase(sizes: Sizes): Case {
  const n = sizes.timers;
  const scheduler = new Scheduler({ name: 'timers', concurrency: n, backlog: n });
  const runners: Runner[] = [
    timersRunner(
      {
        name: 'async fn',
        library: 'async/await',
        what: 'async fn: `await` a 1 ms setTimeout promise',
        items: n,
        headline: true,
      },
      (countdown, count) => {
        for (let i = 0; i < count; i++) void sleeperAsync(countdown);
      },
    ),
    timersRunner(
      { name: 'cosocket', library: 'cosocket', what: '`go()`: `yield* sleep(1)`', items: n, headline: true },
      (countdown, count) => {
        for (let i = 0; i < count; i++) scheduler.go(sleeper, countdown);
      },
    ),
    timersRunner(
      { name: 'co', library: 'co', what: '`co()`: `yield` a 1 ms setTimeout promise', items: n, headline: true },
      (countdown, count) => {
        for (let i = 0; i < count; i++) void co(coSleeper, countdown);
      },
    ),
    timersRunner(
      {
        name: 'Effection',
        library: 'Effection',
        what: '`run()`: `yield* sleep(1)`',
        items: effectionShare(n, sizes),
        headline: true,
      },
      (countdown, count) => {
        for (let i = 0; i < count; i++) {
          void effectionRun(function* () {
            yield* effectionSleep(1);
            countdown.hit();
          });
        }
      },
    ),
    timersRunner(
      { name: 'Effect', library: 'Effect', what: '`Effect.runFork()`: `Effect.sleep(1)`', items: n, headline: true },
      (countdown, count) => {
        const sleeperEffect = Effect.andThen(
          Effect.sleep(1),
          Effect.sync(() => countdown.hit()),
        );
        for (let i = 0; i < count; i++) Effect.runFork(sleeperEffect);
      },
    ),
  ];
  return {
    key: 'timers',
    title: `${n.toLocaleString('en-US')} coroutines in sleep(1), started at once`,
    unit: 'ns/coroutine',
    digits: 0,
    warmUp: true,
    runners,
    ratios: [asyncRatio('timers')],
  };
}
