/**
 * An effect woken from a callback (queueMicrotask), the way cosocket's I/O effects are woken by socket
 * events, written against the effect-kind protocol of whichever tree is under test (bench/lib/subject.ts):
 * the kind is called with the waiting task and the effect, in either order, and wakes the task through
 * `settleWait` (before issue 14) or the narrow waiter's `settle`/`resume`. The method is looked up once.
 */
import { loadSubject } from '../lib/subject.js';

const lib = await loadSubject();

type Settle = (value: unknown, isError: boolean) => void;
type Waiter = Record<string, Settle | undefined>;

const SETTLE_NAMES = ['settleWait', 'settle', 'resume'] as const;
let settleName: string | null = null;

function settleNameOf(waiter: Waiter): string {
  const name = SETTLE_NAMES.find((n) => typeof waiter[n] === 'function');
  if (name === undefined) throw new Error(`the effect kind's waiter has none of ${SETTLE_NAMES.join(', ')}`);
  return name;
}

function wake(waiter: Waiter): void {
  waiter[(settleName ??= settleNameOf(waiter))]!(1, false);
}

const PING = {
  name: 'ping',
  start(first: Waiter, second: Waiter): void {
    const waiter = first instanceof lib.Effect ? second : first;
    queueMicrotask(() => wake(waiter));
  },
  abandon(): void {},
};

type PingEffect = new (kind: typeof PING) => { [Symbol.iterator](): Iterator<unknown, number, unknown> };
const Ping = lib.Effect as unknown as PingEffect;

/** `yield* ping()`: one step that waits for a microtask callback to wake it, resuming with 1. */
export function ping(): InstanceType<PingEffect> {
  return new Ping(PING);
}
