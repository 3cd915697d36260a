const MAX_TARGETS = 10_000;

/**
 * Error lines limited to one per target (an upstream server, a Redis address) per window: the first
 * error of a window is written, the others are counted, and the count goes out with the next line
 * written for that target, or on its own when the window ends — so an outage under load is a few
 * lines naming the target and how many errors each stands for, not a line (or a stack) per request.
 */
export class RateLimitedLog {
  private readonly targets = new Map<string, { until: number; suppressed: number; timer: NodeJS.Timeout | null }>();

  constructor(
    /** Where lines go; `suppressed` is set on a line that only counts the errors not written. */
    private readonly write: (line: string, target: string, suppressed?: number) => void,
    private readonly windowMs = 1_000,
  ) {}

  /** Logs `line` about `target` unless a line about it went out less than a window ago. */
  error(target: string, line: string): void {
    this.report(target, (note) => this.write(line + note, target));
  }

  /**
   * Calls `emit` unless a line about `target` went out less than a window ago; `note` is '' or says how
   * many were suppressed before this one (to append to the line).
   */
  report(target: string, emit: (note: string) => void): void {
    const now = Date.now();
    const state = this.targets.get(target);
    if (state !== undefined && now < state.until) {
      state.suppressed++;
      if (state.timer === null) {
        state.timer = setTimeout(() => this.summary(target), state.until - now);
        state.timer.unref();
      }
      return;
    }
    const before = state?.suppressed ?? 0;
    if (state?.timer) clearTimeout(state.timer);
    // targets a client can name (a Host header) must not grow this without end
    if (state === undefined && this.targets.size >= MAX_TARGETS) this.flush();
    this.targets.set(target, { until: now + this.windowMs, suppressed: 0, timer: null });
    emit(before > 0 ? ` (and ${before} more like it for ${target} suppressed)` : '');
  }

  /** Writes the counts still held (at shutdown) and forgets every target. */
  flush(): void {
    for (const target of [...this.targets.keys()]) this.summary(target);
    this.targets.clear();
  }

  private summary(target: string): void {
    const state = this.targets.get(target);
    if (state === undefined) return;
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
    if (state.suppressed === 0) {
      if (Date.now() >= state.until) this.targets.delete(target);
      return;
    }
    const count = state.suppressed;
    state.suppressed = 0;
    this.write(`${count} more error(s) for ${target} suppressed in the last ${this.windowMs} ms`, target, count);
  }
}
