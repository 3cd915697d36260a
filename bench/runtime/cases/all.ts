/**
 * `all` of 1,000 children that return at once, repeated: the figure is the time of one `all()`, children
 * made and results summed included. The async/await form is `Promise.all` of 1,000 async functions' promises.
 */
import co from 'co';
import { Effect } from 'effect';
import { all as effectionAll, run as effectionRun } from 'effection';
import type { Operation as EffectionOperation } from 'effection';
import type { Operation } from '../../../src/index.js';
import { loadSubject } from '../../lib/subject.js';
import { expectEqual, nsPerItem } from '../countdown.js';
import { asyncRatio } from '../harness.js';
import type { Case, Runner } from '../harness.js';
import { effectionShare } from '../sizes.js';
import type { Sizes } from '../sizes.js';

const { Scheduler, all } = await loadSubject();

const scheduler = new Scheduler({ name: 'all', deadline: 0 });

function sumOf(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum;
}

async function asyncChild(i: number): Promise<number> {
  return i;
}

async function asyncAlls(repeats: number, width: number): Promise<number> {
  let sum = 0;
  for (let r = 0; r < repeats; r++) {
    const children = new Array<Promise<number>>(width);
    for (let i = 0; i < width; i++) children[i] = asyncChild(i);
    sum += sumOf(await Promise.all(children));
  }
  return sum;
}

function* child(i: number): Operation<number> {
  return i;
}

function* alls(repeats: number, width: number): Operation<number> {
  let sum = 0;
  for (let r = 0; r < repeats; r++) {
    const children = new Array<Operation<number>>(width);
    for (let i = 0; i < width; i++) children[i] = child(i);
    sum += sumOf(yield* all(children));
  }
  return sum;
}

function* coAlls(repeats: number, width: number): Generator<unknown, number, unknown> {
  let sum = 0;
  for (let r = 0; r < repeats; r++) {
    const children = new Array<Operation<number>>(width);
    for (let i = 0; i < width; i++) children[i] = child(i);
    sum += sumOf((yield children) as number[]);
  }
  return sum;
}

function* effectionChild(i: number): EffectionOperation<number> {
  return i;
}

function* effectionAlls(repeats: number, width: number): EffectionOperation<number> {
  let sum = 0;
  for (let r = 0; r < repeats; r++) {
    const children = new Array<EffectionOperation<number>>(width);
    for (let i = 0; i < width; i++) children[i] = effectionChild(i);
    sum += sumOf(yield* effectionAll(children));
  }
  return sum;
}

function effectAlls(repeats: number, width: number): Effect.Effect<number> {
  return Effect.gen(function* () {
    let sum = 0;
    for (let r = 0; r < repeats; r++) {
      const children = new Array<Effect.Effect<number>>(width);
      for (let i = 0; i < width; i++) children[i] = Effect.succeed(i);
      sum += sumOf(yield* Effect.all(children, { concurrency: 'unbounded' }));
    }
    return sum;
  });
}

export function allCase(sizes: Sizes): Case {
  const width = sizes.allChildren;
  const runner = (
    fields: Omit<Runner, 'measure'>,
    run: (repeats: number, width: number) => PromiseLike<number>,
  ): Runner => ({
    ...fields,
    async measure(repeats) {
      const start = process.hrtime.bigint();
      const sum = await run(repeats, width);
      const ns = nsPerItem(start, repeats);
      expectEqual(`the sum of ${repeats} all() of ${width}`, sum, (repeats * width * (width - 1)) / 2);
      return ns / 1000;
    },
  });
  const repeats = sizes.allRepeats;
  return {
    key: 'all',
    title: `all() of ${width.toLocaleString('en-US')} children that return at once`,
    unit: 'µs/all',
    digits: 1,
    warmUp: true,
    runners: [
      runner(
        {
          name: 'async fn',
          library: 'async/await',
          what: '`await Promise.all(children)`, each child `async (i) => i`',
          items: repeats,
          headline: true,
        },
        asyncAlls,
      ),
      runner(
        {
          name: 'cosocket',
          library: 'cosocket',
          what: '`yield* all(children)`, each child `function* (i) { return i }`',
          items: repeats,
          headline: true,
        },
        (count, w) => scheduler.go(alls, count, w),
      ),
      runner(
        {
          name: 'co',
          library: 'co',
          what: '`yield children` (an array of generators)',
          items: repeats,
          headline: true,
        },
        (count, w) => co(coAlls, count, w),
      ),
      runner(
        {
          name: 'Effection',
          library: 'Effection',
          what: '`yield* all(children)`, each child `function* (i) { return i }`',
          items: effectionShare(repeats, sizes),
          headline: true,
        },
        (count, w) => effectionRun(() => effectionAlls(count, w)),
      ),
      runner(
        {
          name: 'Effect',
          library: 'Effect',
          what: "`yield* Effect.all(children, { concurrency: 'unbounded' })`, each child `Effect.succeed(i)`",
          items: repeats,
          headline: true,
        },
        (count, w) => Effect.runPromise(effectAlls(count, w)),
      ),
    ],
    ratios: [asyncRatio('all')],
  };
}
