import { NO_FAILURE } from './children.js';
import type { Child, Children } from './children.js';
import type { BodyFn } from './frames.js';
import type { QueueNode } from './queue.js';
import type { Releases } from './releases.js';
import type { TaskObserver } from './types.js';

/**
 * The parts of a fiber that most coroutines never use, allocated on first use: a parked coroutine
 * pays one field for all of them. `F` is the fiber type.
 */
export class FiberExtras<T, F extends Child<F>> {
  /** Set when it is being cancelled because a child failed: it then fails with this. */
  failure: unknown = NO_FAILURE;
  cleanupErrors: unknown[] | null = null;
  children: Children<F> | null = null;
  observers: TaskObserver[] | null = null;
  promise: Promise<T> | null = null;
  settlePromise: ((failed: boolean, value: unknown) => void) | null = null;
  /** A root waiting for a slot: its place in the admission queue, and its body until it starts. */
  queueNode: QueueNode<F> | null = null;
  deferredFn: BodyFn | null = null;
  deferredArgs: readonly unknown[] | null = null;
  cleanups: Array<() => void> | null = null;
  /** resource() and ensure(): run after the body and the children, before settling. */
  releases: Releases | null = null;

  addCleanup(cleanup: () => void): void {
    if (this.cleanups === null) this.cleanups = [cleanup];
    else this.cleanups.push(cleanup);
  }

  removeCleanup(cleanup: () => void): void {
    const cleanups = this.cleanups;
    if (cleanups === null) return;
    const i = cleanups.lastIndexOf(cleanup);
    if (i >= 0) cleanups.splice(i, 1);
  }

  addObserver(observer: TaskObserver): void {
    if (this.observers === null) this.observers = [observer];
    else this.observers.push(observer);
  }

  removeObserver(observer: TaskObserver): void {
    const observers = this.observers;
    if (observers === null) return;
    const i = observers.indexOf(observer);
    if (i >= 0) observers.splice(i, 1);
  }

  recordCleanupError(err: unknown): void {
    if (this.cleanupErrors === null) this.cleanupErrors = [];
    this.cleanupErrors.push(err);
  }
}
