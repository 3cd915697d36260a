import { CancelReason, InvalidArgumentError } from '../errors/index.js';
import type { Task } from './types.js';

/** Refuses what is not an AbortSignal (any with `aborted`, `reason` and listeners will do). */
export function checkSignal(signal: unknown): asserts signal is AbortSignal {
  const s = signal as Partial<AbortSignal> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function' ||
    typeof s.removeEventListener !== 'function'
  ) {
    throw new InvalidArgumentError(`'signal' must be an AbortSignal, got ${s === null ? 'null' : typeof s}`);
  }
}

/** The reason a task stopped by `signal` is cancelled with: explicit, with the signal's reason as text. */
export function abortReason(signal: AbortSignal): CancelReason {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return CancelReason.explicit(reason);
  if (reason instanceof Error) return CancelReason.explicit(reason.message || reason.name);
  return CancelReason.explicit('its AbortSignal was aborted');
}

/** Listens on a signal for one task; removed when the task ends, so a long-lived signal keeps nothing. */
class AbortLink {
  constructor(
    private readonly task: Task<unknown>,
    private readonly signal: AbortSignal,
  ) {}

  handleEvent(): void {
    this.task.cancel(abortReason(this.signal));
  }

  detach(): void {
    this.signal.removeEventListener('abort', this);
  }
}

/** Cancels `task` when `signal` aborts (the caller handles a signal aborted already). */
export function cancelOnAbort(task: Task<unknown>, signal: AbortSignal): void {
  const link = new AbortLink(task, signal);
  signal.addEventListener('abort', link, { once: true });
  task.addCleanup(() => link.detach());
}
