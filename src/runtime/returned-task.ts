import type { CancelReason } from '../errors/index.js';
import { bodyName } from './frames.js';
import type { BodyFn } from './frames.js';
import { SettledJoin } from './settled-join.js';
import type { Task, TaskObserver, TaskStatus, Yieldable } from './types.js';

/** Marks a task of this runtime, in any copy of it that is loaded: `isTask` (task.ts) reads it. */
const TASK_BRAND = Symbol.for('cosocket.task');

/**
 * The task of a spawned child that returned in its first step, before it needed a fiber (task.ts
 * `spawnInline`): its outcome and where it ran, five fields where a fiber's record has fifteen. Such
 * a child is settled when `spawn` returns, so nothing of a running task applies: cancelling it does
 * nothing, a cleanup added runs at once, an observer added is never called (as for any settled task).
 */
export class ReturnedTask<T> implements Task<T> {
  constructor(
    readonly id: number,
    /** Its name, or its body function, whose name (a getter) is read only if someone asks. */
    private readonly named: string | BodyFn,
    readonly parent: Task<unknown>,
    readonly depth: number,
    private readonly value: T,
  ) {}

  get name(): string {
    return typeof this.named === 'string' ? this.named : bodyName(this.named);
  }

  get [TASK_BRAND](): true {
    return true;
  }

  get [Symbol.toStringTag](): string {
    return 'Task';
  }

  get status(): TaskStatus {
    return 'completed';
  }

  get done(): boolean {
    return true;
  }

  get result(): T {
    return this.value;
  }

  get cancelling(): boolean {
    return false;
  }

  get reason(): CancelReason | null {
    return null;
  }

  get root(): Task<unknown> {
    return this.parent.root;
  }

  get deadlineAt(): number {
    return 0;
  }

  chain(): string[] {
    return this.parent.chain().concat(this.name);
  }

  cancel(): void {}

  toPromise(): Promise<T> {
    return Promise.resolve(this.value);
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.toPromise().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.toPromise().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.toPromise().finally(onfinally);
  }

  [Symbol.iterator](): Iterator<Yieldable, T, unknown> {
    return new SettledJoin<T>(false, this.value);
  }

  addCleanup(cleanup: () => void): void {
    cleanup();
  }

  removeCleanup(): void {}

  clearDeadline(): number {
    return 0;
  }

  markObserved(): void {}

  addObserver(_observer: TaskObserver): void {}

  removeObserver(_observer: TaskObserver): void {}

  settledInError(): boolean {
    return false;
  }

  settledWith(): unknown {
    return this.value;
  }
}
