import { defineKind } from '../effect.js';

/** A coroutine that yielded a promise (`yield promise`) waits with this effect; settled by the promise callbacks. */
const promiseWait = defineKind({
  name: 'promise',
  start() {},
  abandon(waiter) {
    waiter.forgetPromise();
  },
});
export const PROMISE_WAIT = promiseWait();

/** A coroutine moved behind I/O by the fairness budget waits with this effect; its handle is the setImmediate. */
const fairnessWait = defineKind<undefined, undefined, NodeJS.Immediate>({
  name: 'fairness',
  start() {},
  abandon(waiter) {
    clearImmediate(waiter.waitHandle);
  },
});
export const FAIRNESS_WAIT = fairnessWait();
