import { CancelReason, InvalidArgumentError, ScopeClosedError } from '../errors/index.js';
import type { StartOptions } from './admission.js';
import { ensure } from './resource.js';
import type { Release } from './resource.js';
import { Scheduler, defaultScheduler } from './scheduler.js';
import type { Body, Operation, Task } from './types.js';

/** A scope's name, scheduler and close behaviour. */
export interface ScopeOptions {
  /** Shown in errors and in the names of its coroutines' close. Default 'scope'. */
  name?: string;
  /** Where its coroutines run. Default: the default scheduler. */
  scheduler?: Scheduler;
  /** Deadline of each of its coroutines in ms; 0 (the default): none, they run until they end or the scope closes. */
  deadline?: number;
}

/**
 * Owns coroutines that outlive whoever started them — a server's background work — and closes them
 * all at once. `scope.run(op)` starts a root coroutine owned by the scope; `scope.ensure(release)`
 * adds a release of its own; `await scope.close()` cancels every coroutine still running in it,
 * waits until each has settled (its `finally` blocks and its releases have run), then runs the
 * scope's releases, last added first.
 */
export class Scope {
  readonly name: string;
  readonly scheduler: Scheduler;
  private readonly deadline: number;
  private readonly live = new Set<Task<unknown>>();
  private readonly releases: Array<() => Release> = [];
  private closing: Promise<void> | null = null;
  private drained: (() => void) | null = null;

  constructor(options: ScopeOptions = {}) {
    const deadline = options.deadline ?? 0;
    if (typeof deadline !== 'number' || !(deadline >= 0)) {
      throw new InvalidArgumentError(`scope 'deadline' must be a number of milliseconds >= 0, got ${String(deadline)}`);
    }
    if (options.scheduler !== undefined && !(options.scheduler instanceof Scheduler)) {
      throw new InvalidArgumentError("scope 'scheduler' must be a Scheduler");
    }
    this.name = options.name ?? 'scope';
    this.scheduler = options.scheduler ?? defaultScheduler;
    this.deadline = deadline;
  }

  /** Starts a root coroutine owned by this scope (not by the coroutine that calls run). */
  run<T, A extends unknown[]>(body: Body<T, A>, ...args: A): Task<T> {
    return this.start({}, body, ...args);
  }

  /** `run` with a name and a deadline of its own. */
  start<T, A extends unknown[]>(options: StartOptions, body: Body<T, A>, ...args: A): Task<T> {
    if (this.closing !== null) throw new ScopeClosedError(this.name, 'run()');
    const task = this.scheduler.start({ ...options, deadline: options.deadline ?? this.deadline }, body, ...args);
    if (!task.done) {
      this.live.add(task);
      task.addCleanup(() => this.settled(task));
    }
    return task;
  }

  /** Runs `release()` when the scope closes, after its coroutines have settled, last added first. */
  ensure(release: () => Release): void {
    if (typeof release !== 'function') {
      throw new InvalidArgumentError(`scope.ensure() needs a function to run, got ${typeof release}`);
    }
    if (this.closing !== null) throw new ScopeClosedError(this.name, 'ensure()');
    this.releases.push(release);
  }

  /** Coroutines of the scope not settled yet. */
  get size(): number {
    return this.live.size;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * Cancels every coroutine still running in the scope (reason `explicit` unless given), waits for
   * them to settle, then runs the scope's releases. Resolves when all that is done; rejects with the
   * first error a release threw (after running the others). Idempotent: later calls get the same
   * promise. Await it from outside the scope: a coroutine of the scope waiting for it waits for itself.
   */
  close(reason: CancelReason = CancelReason.explicit(`scope '${this.name}' closed`)): Promise<void> {
    this.closing ??= this.shutDown(reason);
    return this.closing;
  }

  private async shutDown(reason: CancelReason): Promise<void> {
    if (this.live.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      for (const task of [...this.live]) task.cancel(reason);
      await drained;
    }
    if (this.releases.length === 0) return;
    const releases = this.releases.splice(0);
    await this.scheduler.start({ name: `${this.name} close`, deadline: 0 }, runReleases, releases);
  }

  private settled(task: Task<unknown>): void {
    this.live.delete(task);
    if (this.live.size === 0 && this.drained !== null) {
      this.drained();
      this.drained = null;
    }
  }
}

/** The releases become the closing coroutine's own: they run when it ends, in reverse order. */
function* runReleases(releases: Array<() => Release>): Operation<void> {
  for (const release of releases) yield* ensure(release);
}

/** A new scope: `const background = createScope({ name: 'health checks' })`. */
export function createScope(options: ScopeOptions = {}): Scope {
  return new Scope(options);
}
