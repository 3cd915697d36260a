/**
 * Context lookup: a coroutine reads a context value that an enclosing `with` set (default 0, set to 1),
 * in a loop; the figure is one lookup. The sum must equal the count: a lookup that missed the value set
 * would add the default. The async/await form reads an AsyncLocalStorage store inside `als.run(1, ...)`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context, Effect } from 'effect';
import { createContext as createEffectionContext, run as effectionRun } from 'effection';
import type { Operation as EffectionOperation } from 'effection';
import type { Operation } from '../../../src/index.js';
import { loadSubject } from '../../lib/subject.js';
import { expectEqual, nsPerItem } from '../countdown.js';
import { asyncRatio, unavailableRunner } from '../harness.js';
import type { Case, Runner } from '../harness.js';
import { NOT_IN_THIS_BUILD, subjectCreateContext } from '../optional-api.js';
import type { BenchContext } from '../optional-api.js';
import { effectionShare } from '../sizes.js';
import type { Sizes } from '../sizes.js';

const { Scheduler } = await loadSubject();
const createContext = await subjectCreateContext();

const scheduler = new Scheduler({ name: 'context', deadline: 0 });

const store = new AsyncLocalStorage<number>();

async function asyncLookups(n: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += store.getStore() ?? 0;
  return sum;
}

function* lookups(context: BenchContext<number>, n: number): Operation<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += yield* context.get();
  return sum;
}

function* withValue(context: BenchContext<number>, n: number): Operation<number> {
  return yield* context.with(1, lookups(context, n));
}

const effectionContext = createEffectionContext<number>('bench', 0);

function* effectionLookups(n: number): EffectionOperation<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield* effectionContext.get()) ?? 0;
  return sum;
}

const EffectReference = Context.Reference<number>('bench', { defaultValue: () => 0 });

function effectLookups(n: number): Effect.Effect<number> {
  return Effect.gen(function* () {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += yield* EffectReference;
    return sum;
  });
}

function lookupRunner(fields: Omit<Runner, 'measure'>, run: (n: number) => PromiseLike<number>): Runner {
  return {
    ...fields,
    async measure(n) {
      const start = process.hrtime.bigint();
      const sum = await run(n);
      const ns = nsPerItem(start, n);
      expectEqual(`the sum of ${n} lookups of the value set (1, default 0)`, sum, n);
      return ns;
    },
  };
}

export function contextCase(sizes: Sizes): Case {
  const n = sizes.lookups;
  const cosocket: Omit<Runner, 'measure'> = {
    name: 'cosocket',
    library: 'cosocket',
    what: '`createContext(name, 0)`: `yield* ctx.get()` inside `yield* ctx.with(1, op)`',
    items: n,
    headline: true,
  };
  return {
    key: 'context',
    title: `Context lookup, ${n.toLocaleString('en-US')} reads of a value set by an enclosing with`,
    unit: 'ns/lookup',
    digits: 1,
    warmUp: true,
    runners: [
      lookupRunner(
        {
          name: 'async fn',
          library: 'async/await',
          what: 'AsyncLocalStorage: `als.getStore()` inside `als.run(1, fn)`',
          items: n,
          headline: true,
        },
        // disabled after: an AsyncLocalStorage in use slows every promise of the process (async hooks), and
        // the other cases measure a process without one
        (count) => store.run(1, asyncLookups, count).finally(() => store.disable()),
      ),
      createContext === null
        ? unavailableRunner(cosocket, NOT_IN_THIS_BUILD)
        : lookupRunner(cosocket, (count) => scheduler.go(withValue, createContext<number>('bench', 0), count)),
      lookupRunner(
        {
          name: 'Effection',
          library: 'Effection',
          what: '`createContext(name, 0)`: `yield* ctx.get()` inside `yield* ctx.with(1, op)`',
          items: effectionShare(n, sizes),
          headline: true,
        },
        (count) => effectionRun(() => effectionContext.with(1, () => effectionLookups(count))),
      ),
      lookupRunner(
        {
          name: 'Effect',
          library: 'Effect',
          what: '`Context.Reference(name, { defaultValue })`: `yield* Ref` inside `Effect.provideService(op, Ref, 1)`',
          items: n,
          headline: true,
        },
        (count) => Effect.runPromise(Effect.provideService(effectLookups(count), EffectReference, 1)),
      ),
    ],
    ratios: [asyncRatio('context')],
  };
}
