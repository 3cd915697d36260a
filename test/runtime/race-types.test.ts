// The narrowing of race() results is checked by the compiler: this file does not build if it breaks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Scheduler, call, race, sleep } from '../../src/index.js';
import type { Operation } from '../../src/index.js';

function* after<T>(ms: number, value: T): Operation<T> {
  yield* sleep(ms);
  return value;
}

/** Compiles only when A and B are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function sameType<A, B>(proof: Same<A, B>): void {
  assert.equal(proof, true);
}

describe('race() result types', () => {
  it("a record race narrows with 'key' in r, even when the winner returned undefined", async () => {
    const scheduler = new Scheduler();
    const winner = await scheduler.go(function* () {
      const r = yield* race({ count: after(1, 42), name: after(60_000, 'slow'), tick: sleep(60_000) });
      sameType<typeof r, { count: number } | { name: string } | { tick: void }>(true);
      if ('count' in r) {
        const n: number = r.count;
        // @ts-expect-error -- narrowed: only the winner's key is there
        void r.name;
        return n + 1;
      }
      if ('name' in r) return r.name.length;
      sameType<typeof r, { tick: void }>(true);
      return -1;
    });
    assert.equal(winner, 43);

    const tick = await scheduler.go(function* () {
      const r = yield* race({ tick: sleep(1), never: after(60_000, 0) });
      return 'tick' in r ? 'tick won' : `never won with ${r.never}`;
    });
    assert.equal(tick, 'tick won');
  });

  it('a tuple race is a union over the slots: the winner holds its value, the others undefined', async () => {
    const scheduler = new Scheduler();
    const r = await scheduler.go(function* () {
      return yield* race([after(60_000, 'slow'), call(Promise.resolve(7))]);
    });
    sameType<typeof r, [string, undefined] | [undefined, number]>(true);
    assert.deepEqual(r, [undefined, 7]);
    if (r[1] !== undefined) {
      const n: number = r[1];
      const loser: undefined = r[0];
      assert.equal(n, 7);
      assert.equal(loser, undefined);
    } else assert.fail('the promise should have won');
  });

  it('an array of unknown length gives an array of optional values', async () => {
    const scheduler = new Scheduler();
    const ops: Array<Operation<number>> = [after(1, 1), after(60_000, 2)];
    const r = await scheduler.go(function* () {
      return yield* race(ops);
    });
    sameType<typeof r, Array<number | undefined>>(true);
    assert.deepEqual(r, [1, undefined]);
  });
});
