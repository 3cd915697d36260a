import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Scheduler,
  all,
  call,
  checkUnyielded,
  coroutineChain,
  createContext,
  currentTask,
  ensure,
  isTask,
  race,
  self,
  sleep,
  spawn,
  spawnDetached,
  unyieldedMode,
} from '../../src/index.js';
import type { Operation, Task } from '../../src/index.js';

// The first steps that run before a fiber exists (a spawned child's, a group member's) are taken only
// with the unyielded-effect check off, as in production; with it on, children get a fiber at once. Both
// must behave the same, so every case runs in both modes.
for (const mode of ['off', 'warn'] as const) {
  describe(`with the unyielded-effect check ${mode}`, () => {
    const previous = unyieldedMode();
    before(() => checkUnyielded({ mode }));
    after(() => checkUnyielded({ mode: previous }));

    // A child starts as an async function called does: at once, up to its first wait, before its parent goes on.
    describe('when children start', () => {
      it('spawn runs the child up to its first wait before the parent goes on', async () => {
        const scheduler = new Scheduler();
        const log: string[] = [];
        await scheduler.go(function* parent() {
          const child = yield* spawn(function* child() {
            log.push('child before wait');
            yield* sleep(1);
            log.push('child after wait');
          });
          log.push('parent after spawn');
          yield* child;
        });
        assert.deepEqual(log, ['child before wait', 'parent after spawn', 'child after wait']);
      });

      it('a child that ends at once is settled when spawn returns; joining it takes its outcome', async () => {
        const scheduler = new Scheduler();
        const result = await scheduler.go(function* parent() {
          const ok = yield* spawn(function* () {
            return 7;
          });
          const failing = yield* spawn(function* (): Operation<number> {
            yield* sleep(0);
            throw new Error('late');
          });
          const status = ok.status;
          const value = yield* ok;
          let caught = '';
          try {
            yield* failing;
          } catch (err) {
            caught = (err as Error).message;
          }
          return { status, value, caught };
        });
        assert.deepEqual(result, { status: 'completed', value: 7, caught: 'late' });
      });

      it('a child failing at once fails its parent, which unwinds from the spawn', async () => {
        const scheduler = new Scheduler();
        const log: string[] = [];
        const parent = scheduler.go(function* parent() {
          try {
            yield* spawn(function* boom(): Operation<void> {
              throw new Error('boom');
            });
            log.push('must not run: the spawn is where the parent is cancelled');
            yield* sleep(60_000);
          } finally {
            log.push('parent finally');
          }
        });
        await assert.rejects(parent, /boom/);
        assert.deepEqual(log, ['parent finally']);
      });

      it('the child runs as itself: self(), context values and what it sets are its own', async () => {
        const scheduler = new Scheduler();
        const ctx = createContext('start-order', 'root');
        const seen = await scheduler.go(function* parent() {
          let childTask: Task<unknown> | null = null;
          let childSelf: Task<unknown> | null = null;
          let childValue = '';
          let inner = '';
          yield* ctx.with(
            'parent',
            (function* () {
              childTask = yield* spawn(function* child() {
                childSelf = yield* self();
                childValue = yield* ctx.get();
                yield* ctx.with(
                  'child',
                  (function* () {
                    inner = yield* ctx.get();
                    yield* sleep(1);
                  })(),
                );
              });
            })(),
          );
          const parentValue = yield* ctx.get();
          yield* childTask!;
          return { same: childSelf === childTask, childValue, inner, parentValue };
        });
        assert.deepEqual(seen, { same: true, childValue: 'parent', inner: 'child', parentValue: 'root' });
      });

      it('all() members start in turn; one failing at once stops the ones after it from starting', async () => {
        const scheduler = new Scheduler();
        const started: string[] = [];
        function* member(name: string, fail: boolean): Operation<string> {
          started.push(name);
          if (fail) throw new Error(`${name} failed`);
          yield* sleep(60_000);
          return name;
        }
        const outcome = scheduler.go(function* () {
          return yield* all([member('a', false), member('b', true), member('c', false)]);
        });
        await assert.rejects(outcome, /b failed/);
        // the generators were all made by the caller; only a and b were run
        assert.deepEqual(started, ['a', 'b']);
        assert.equal(scheduler.stats().live, 0);
      });

      it('all() with members that end at once, and others that wait, returns every result in order', async () => {
        const scheduler = new Scheduler();
        function* now(v: number): Operation<number> {
          return v;
        }
        function* later(v: number): Operation<number> {
          yield* sleep(1);
          return v;
        }
        const results = await scheduler.go(function* () {
          const mixed = yield* all([now(1), later(2), now(3)]);
          const instant = yield* all([now(4), now(5)]);
          const keyed = yield* all({ x: now(6), y: later(7) });
          return [mixed, instant, keyed];
        });
        assert.deepEqual(results, [[1, 2, 3], [4, 5], { x: 6, y: 7 }]);
      });

      it('race(): a member that settles at once wins, and the members after it never start', async () => {
        const scheduler = new Scheduler();
        const started: string[] = [];
        function* contender(name: string, ms: number): Operation<string> {
          started.push(name);
          if (ms > 0) yield* sleep(ms);
          return name;
        }
        const winner = await scheduler.go(function* () {
          return yield* race({
            slow: contender('slow', 60_000),
            quick: contender('quick', 0),
            never: contender('never', 1),
          });
        });
        assert.deepEqual(winner, { quick: 'quick' });
        assert.deepEqual(started, ['slow', 'quick']);
        assert.equal(scheduler.stats().live, 0);
      });
    });

    describe('an effect as the body of spawn, spawnDetached or go', () => {
      it('runs the effect and settles with its value, instead of ending at once with undefined', async () => {
        const scheduler = new Scheduler();
        const results = await scheduler.go(function* () {
          const slept = yield* spawn(sleep(5));
          const called = yield* spawn(call(Promise.resolve('called')));
          const detached = yield* spawnDetached(call(Promise.resolve('detached')));
          const statusAfterSpawn = slept.status;
          return [statusAfterSpawn, yield* slept, yield* called, yield* detached];
        });
        assert.deepEqual(results, ['waiting', undefined, 'called', 'detached']);
        assert.equal(await scheduler.go(call(Promise.resolve('root'))), 'root');
        const root = scheduler.go(sleep(5));
        assert.equal(root.status, 'waiting');
        await root;
      });
    });

    // A group member's first step runs before it has a fiber of its own: one is made when its code asks for
    // the running coroutine, and one that ends in that step never needs one.
    describe('group members that end in their first step', () => {
      it('are counted as children that ran, completed or failed', async () => {
        const scheduler = new Scheduler();
        function* instant(v: number): Operation<number> {
          return v;
        }
        function* broken(): Operation<number> {
          throw new Error('broken at once');
        }
        const results = await scheduler.go(function* () {
          return yield* all([instant(1), instant(2), instant(3)]);
        });
        assert.deepEqual(results, [1, 2, 3]);
        const after = scheduler.stats();
        assert.equal(after.started, 4);
        assert.equal(after.completed, 4);
        await assert.rejects(
          scheduler.go(function* outer() {
            return yield* all([instant(1), broken()]);
          }),
          (err: unknown) => {
            assert.match((err as Error).message, /broken at once/);
            assert.deepEqual(coroutineChain(err), ['outer', 'generator']);
            return true;
          },
        );
        assert.equal(scheduler.stats().failed, 2, 'the member and the coroutine that did not catch its error');
        assert.equal(scheduler.stats().live, 0);
      });

      it('get a fiber of their own when their first step asks for it: context, resource, the running task', async () => {
        const scheduler = new Scheduler();
        const ctx = createContext('member', 'outer');
        const log: string[] = [];
        function* withValue(): Operation<string> {
          return yield* ctx.with('member', ctx.get());
        }
        function* holding(): Operation<string> {
          yield* ensure(() => {
            log.push('member released');
          });
          return 'held';
        }
        const seen = await scheduler.go(function* parent() {
          const [inner, held] = yield* all([withValue(), holding()]);
          log.push('all returned');
          return { inner, held, outer: yield* ctx.get() };
        });
        assert.deepEqual(seen, { inner: 'member', held: 'held', outer: 'outer' });
        assert.deepEqual(log, ['member released', 'all returned']);
      });

      it('a member whose first step cancels its own task unwinds, and the group fails with the cancellation', async () => {
        const scheduler = new Scheduler();
        const log: string[] = [];
        function* selfCancelling(): Operation<string> {
          try {
            currentTask()!.cancel('changed its mind');
            yield* sleep(60_000);
            return 'never';
          } finally {
            log.push('member finally');
          }
        }
        const outcome = scheduler.go(function* () {
          return yield* all([selfCancelling()]);
        });
        await assert.rejects(outcome, /changed its mind/);
        assert.deepEqual(log, ['member finally']);
        assert.equal(scheduler.stats().live, 0);
      });
    });

    describe('spawned children whose first step runs before they have a fiber', () => {
      it('a child returning at once is a settled, counted task', async () => {
        const scheduler = new Scheduler();
        const seen = await scheduler.go(function* parent() {
          const child = yield* spawn(function* instant() {
            return 'at once';
          });
          return { status: child.status, done: child.done, result: child.result, joined: yield* child };
        });
        assert.deepEqual(seen, { status: 'completed', done: true, result: 'at once', joined: 'at once' });
        const stats = scheduler.stats();
        assert.equal(stats.started, 2);
        assert.equal(stats.completed, 2);
        assert.equal(stats.live, 0);
      });

      it('the task of a child that returned at once behaves as any settled task', async () => {
        const scheduler = new Scheduler();
        let child: Task<string> | null = null;
        let parentTask: Task<unknown> | null = null;
        const cleanups: string[] = [];
        await scheduler.go(function* parent() {
          parentTask = yield* self();
          child = yield* spawn(function* quick() {
            return 'quick';
          });
          child.addCleanup(() => cleanups.push('ran at once'));
          child.cancel('too late');
        });
        const task = child!;
        assert.equal(isTask(task), true);
        assert.equal(task.name, 'quick');
        assert.deepEqual(task.chain(), ['parent', 'quick']);
        assert.equal(task.root, parentTask);
        assert.equal(task.parent, parentTask);
        assert.equal(task.status, 'completed');
        assert.equal(task.cancelling, false);
        assert.equal(task.reason, null);
        assert.equal(await task, 'quick');
        assert.equal(await task.toPromise(), 'quick');
        assert.deepEqual(cleanups, ['ran at once']);
        assert.equal(String(Object.prototype.toString.call(task)), '[object Task]');
      });

      it('a child asking for its own task in its first step gets the task spawn returns', async () => {
        const scheduler = new Scheduler();
        const seen = await scheduler.go(function* parent() {
          let own: Task<unknown> | null = null;
          const child = yield* spawn(function* asking() {
            own = currentTask();
            return own!.name;
          });
          return { same: own === child, name: yield* child };
        });
        assert.deepEqual(seen, { same: true, name: 'asking' });
      });

      it(
        'a child that cancels its parent in its first step, then waits, is cancelled with it',
        { timeout: 20_000 },
        async () => {
          const scheduler = new Scheduler();
          const log: string[] = [];
          let child: Task<unknown> | null = null;
          const parent = scheduler.go(function* parent() {
            const me = yield* self();
            try {
              yield* spawn(function* canceller() {
                try {
                  me.cancel('called off by the child');
                  yield* sleep(60_000); // a child left running would hold its parent here for a minute
                } finally {
                  child = yield* self();
                  log.push('child finally');
                }
              });
              yield* sleep(60_000);
            } finally {
              log.push('parent finally');
            }
          });
          await assert.rejects(parent, /called off by the child/);
          assert.equal(child!.status, 'cancelled');
          assert.deepEqual(log.sort(), ['child finally', 'parent finally']);
          assert.equal(scheduler.stats().live, 0);
        },
      );
    });
  });
}
