import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runProcess } from '../helpers/process.js';

const TASK_MODULE = new URL('../../src/runtime/task.js', import.meta.url).href;

// Run in a process of its own, with V8's test natives and no inlining (each function then has code of its own,
// whose state can be read): is the optimized code of the group path still there after full GCs taken while no
// group and no coroutine was alive? Without the kept group and fiber (src/runtime/shapes.ts), their hidden
// classes die in those GCs and the code built on them is thrown away.
const SCRIPT = `
import { Scheduler, all, checkUnyielded } from 'cosocket';
const { Fiber } = await import(${JSON.stringify(TASK_MODULE)});
checkUnyielded({ mode: 'off' }); // as in production: members take their first step before they have a fiber
const status = new Function('f', 'return %GetOptimizationStatus(f)');
const optimize = new Function('f', '%PrepareFunctionForOptimization(f); %OptimizeFunctionOnNextCall(f)');
const OPTIMIZED = 1 << 4;
const scheduler = new Scheduler({ name: 'shapes', deadline: 0 });
function* child(i) { return i; }
function* alls(count) {
  let sum = 0;
  for (let r = 0; r < count; r++) {
    const children = [];
    for (let i = 0; i < 100; i++) children.push(child(i));
    for (const value of yield* all(children)) sum += value;
  }
  return sum;
}
// a group's own methods, from a group that waits on a promise (then cancelled: nothing of it is kept)
const parked = scheduler.go(function* () { yield* all([new Promise(() => {})]); });
const group = Object.getPrototypeOf(parked.waitHandle);
parked.cancel();
const watched = {
  startMember: Fiber.prototype.startMember,
  settleWait: Fiber.prototype.settleWait,
  memberEnded: group.memberEnded,
  finishWhenSettled: group.finishWhenSettled,
};
for (let round = 0; round < 20; round++) await scheduler.go(alls, 100);
const optimized = () => Object.fromEntries(Object.entries(watched).map(([name, fn]) => [name, (status(fn) & OPTIMIZED) !== 0]));
// what the warm-up left to V8's background compiler, or deoptimized on a branch it had not seen, is optimized now
for (let tries = 0; tries < 20 && Object.values(optimized()).includes(false); tries++) {
  for (const fn of Object.values(watched)) if ((status(fn) & OPTIMIZED) === 0) optimize(fn);
  if ((await scheduler.go(alls, 10)) !== 10 * 4950) throw new Error('wrong sum');
}
const before = optimized();
for (let i = 0; i < 4; i++) {
  await new Promise((resolve) => setImmediate(resolve));
  globalThis.gc();
}
console.log(JSON.stringify({ before, after: optimized() }));
`;

describe('hidden classes kept for the hot paths (shapes.ts)', () => {
  it("the group path's optimized code survives full GCs taken while no group or coroutine is alive", async () => {
    const run = await runProcess(
      process.execPath,
      ['--allow-natives-syntax', '--expose-gc', '--no-turbo-inlining', '--input-type=module', '-e', SCRIPT],
      { limitMs: 60_000 },
    );
    assert.equal(run.code, 0, run.stderr);
    const { before, after } = JSON.parse(run.stdout) as Record<'before' | 'after', Record<string, boolean>>;
    const all = { startMember: true, settleWait: true, memberEnded: true, finishWhenSettled: true };
    assert.deepEqual(before, all, 'optimized once warm');
    assert.deepEqual(after, all, 'still optimized after the GCs');
  });

  it("a run state with a deadline has the kept run state's hidden class", async () => {
    // A deadline is a double: unless the kept run state stored one first, the first deadline gives run states
    // a new hidden class, which nothing keeps, and the kept one is left on the deprecated class.
    const script = `
      import { Scheduler, sleep } from 'cosocket';
      const { fiberExemplar, currentTask } = await import(${JSON.stringify(TASK_MODULE)});
      const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
      const scheduler = new Scheduler({ name: 'shapes', deadline: 0 });
      const seen = [];
      function* body() { seen.push(currentTask().r); yield* sleep(1); }
      await scheduler.start({ deadline: 60_000 }, body);
      await scheduler.go(body);
      console.log(JSON.stringify(seen.map((r) => sameMap(fiberExemplar().r, r))));
    `;
    const run = await runProcess(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], {
      limitMs: 60_000,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), [true, true]);
  });
});
