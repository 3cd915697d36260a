import { SelfJoinError } from '../../errors/index.js';
import { defineKind } from '../effect.js';
import type { Effect } from '../effect.js';
import { keepShape } from '../shapes.js';
import type { Task, TaskObserver, Waiter } from '../types.js';

class JoinObserver implements TaskObserver {
  constructor(readonly joiner: Waiter) {}

  onTaskSettled(task: Task<unknown>): void {
    this.joiner.settleWait(task.settledWith(), task.settledInError());
  }
}

/** Keeps one join observer alive for good (shapes.ts), on the waiter kept for its shape; it observes nothing. */
export function keepJoinShape(joiner: Waiter): void {
  keepShape(new JoinObserver(joiner));
}

const JOIN = defineKind<Task<unknown>, undefined, JoinObserver>({
  name: 'join',
  start(waiter, target) {
    const task = waiter.task;
    for (let t: Task<unknown> | null = task; t !== null; t = t.parent) {
      if (t === target) throw new SelfJoinError(task.name, target.name);
    }
    if (target.done) {
      target.markObserved();
      waiter.settleWait(target.settledWith(), target.settledInError());
      return;
    }
    const observer = new JoinObserver(waiter);
    waiter.waitHandle = observer;
    target.addObserver(observer);
  },
  abandon(waiter, target) {
    target.removeObserver(waiter.waitHandle);
  },
});

/** `yield* task`: waits for another task and returns its value (or throws its error). */
export function join<T>(task: Task<T>): Effect<T> {
  return JOIN<T>(task);
}
