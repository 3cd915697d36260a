/**
 * Spawn and join: one parent starts 100,000 children that return at once, then joins each in turn.
 * The async/await form: an async function calling 100,000 async functions, then awaiting each.
 */
import { Effect, Fiber } from 'effect';
import { run as effectionRun, spawn as effectionSpawn } from 'effection';
import type { Operation as EffectionOperation, Task as EffectionTask } from 'effection';
import type { Task } from '../../../src/index.js';
import { loadSubject } from '../../lib/subject.js';
import { expectEqual, nsPerItem } from '../countdown.js';
import { asyncRatio } from '../harness.js';
import type { Case, Runner } from '../harness.js';
import { effectionShare } from '../sizes.js';
import type { Sizes } from '../sizes.js';

const { Scheduler, spawn } = await loadSubject();

const scheduler = new Scheduler({ name: 'spawn-join', deadline: 0 });

async function asyncChild(): Promise<number> {
  return 1;
}

async function asyncParent(n: number): Promise<number> {
  const children = new Array<Promise<number>>(n);
  for (let i = 0; i < n; i++) children[i] = asyncChild();
  let sum = 0;
  for (const child of children) sum += await child;
  return sum;
}

function* child(): Generator<unknown, number, unknown> {
  return 1;
}

function* parent(n: number): Generator<unknown, number, unknown> {
  const children = new Array<Task<number>>(n);
  for (let i = 0; i < n; i++) children[i] = yield* spawn(child);
  let sum = 0;
  for (const task of children) sum += yield* task;
  return sum;
}

function* effectionChild(): EffectionOperation<number> {
  return 1;
}

function* effectionParent(n: number): EffectionOperation<number> {
  const children = new Array<EffectionTask<number>>(n);
  for (let i = 0; i < n; i++) children[i] = yield* effectionSpawn(effectionChild);
  let sum = 0;
  for (const task of children) sum += yield* task;
  return sum;
}

const effectChild = Effect.succeed(1);

function effectParent(n: number): Effect.Effect<number> {
  return Effect.gen(function* () {
    const children = new Array<Fiber.Fiber<number>>(n);
    for (let i = 0; i < n; i++) children[i] = yield* Effect.forkChild(effectChild);
    let sum = 0;
    for (const fiber of children) sum += yield* Fiber.join(fiber);
    return sum;
  });
}

function spawnJoinRunner(fields: Omit<Runner, 'measure'>, parentOf: (n: number) => PromiseLike<number>): Runner {
  return {
    ...fields,
    async measure(n) {
      const start = process.hrtime.bigint();
      const sum = await parentOf(n);
      const ns = nsPerItem(start, n);
      expectEqual(`children joined`, sum, n);
      return ns;
    },
  };
}

export function spawnJoinCase(sizes: Sizes): Case {
  const n = sizes.children;
  return {
    key: 'spawn+join',
    title: `Spawn and join ${n.toLocaleString('en-US')} children that return at once`,
    unit: 'ns/child',
    digits: 0,
    warmUp: true,
    runners: [
      spawnJoinRunner(
        {
          name: 'async fn',
          library: 'async/await',
          what: 'call `async () => 1` n times, then `await` each',
          items: n,
          headline: true,
        },
        asyncParent,
      ),
      spawnJoinRunner(
        {
          name: 'cosocket',
          library: 'cosocket',
          what: '`yield* spawn(child)` n times, then `yield* task` each',
          items: n,
          headline: true,
        },
        (count) => scheduler.go(parent, count),
      ),
      spawnJoinRunner(
        {
          name: 'Effection',
          library: 'Effection',
          what: '`yield* spawn(child)` n times, then `yield* task` each',
          items: effectionShare(n, sizes),
          headline: true,
        },
        (count) => effectionRun(() => effectionParent(count)),
      ),
      spawnJoinRunner(
        {
          name: 'Effect',
          library: 'Effect',
          what: '`yield* Effect.forkChild(Effect.succeed(1))` n times, then `yield* Fiber.join(fiber)` each',
          items: n,
          headline: true,
        },
        (count) => Effect.runPromise(effectParent(count)),
      ),
    ],
    ratios: [asyncRatio('spawn+join')],
  };
}
