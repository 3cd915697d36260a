/** Counts items as they finish (a coroutine's end, a `finally` block); `done` resolves when all have. */
export class Countdown {
  count = 0;
  readonly done: Promise<void>;
  private resolve!: () => void;

  constructor(readonly expected: number) {
    this.done = new Promise<void>((resolve) => (this.resolve = resolve));
    if (expected === 0) this.resolve();
  }

  hit(): void {
    if (++this.count === this.expected) this.resolve();
  }

  /** Throws unless exactly `expected` items finished. */
  check(what: string): void {
    if (this.count !== this.expected) throw new Error(`${what}: ${this.count} of ${this.expected}`);
  }
}

/** Nanoseconds since `start` (from process.hrtime.bigint()), per item. */
export function nsPerItem(start: bigint, items: number): number {
  return Number(process.hrtime.bigint() - start) / items;
}

/** Throws naming what was expected unless `actual === expected`. */
export function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}
