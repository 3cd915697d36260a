/** What to do about a worker that exited while the server was not stopping. */
export type WorkerExitDecision =
  /** it never came up (it could not listen, its config failed): the server cannot run, exit 2 */
  | { readonly action: 'fail' }
  /** it crashed after it was up: start another after this delay */
  | { readonly action: 'respawn'; readonly delayMs: number }
  /** it crashed once too often in a short while: stop the server */
  | { readonly action: 'give-up'; readonly crashes: number; readonly windowMs: number };

export interface RespawnOptions {
  /** the delay after a first crash; it doubles with each crash within the window */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** this many crashes within `windowMs` give up */
  readonly limit: number;
  readonly windowMs: number;
}

export const RESPAWN_DEFAULTS: RespawnOptions = { baseDelayMs: 500, maxDelayMs: 30_000, limit: 10, windowMs: 60_000 };

/**
 * Like nginx's master, with a limit: a worker that fails to start is not restarted (the next would fail the
 * same way); one that crashes after it was up is, after a backoff that grows with the recent crashes, and
 * `limit` crashes within `windowMs` stop the server rather than loop.
 */
export class RespawnPolicy {
  private crashes: number[] = [];

  constructor(private readonly options: RespawnOptions = RESPAWN_DEFAULTS) {}

  decide(wasUp: boolean, now: number): WorkerExitDecision {
    if (!wasUp) return { action: 'fail' };
    const { baseDelayMs, maxDelayMs, limit, windowMs } = this.options;
    this.crashes = this.crashes.filter((at) => now - at < windowMs);
    this.crashes.push(now);
    if (this.crashes.length >= limit) return { action: 'give-up', crashes: this.crashes.length, windowMs };
    return { action: 'respawn', delayMs: Math.min(maxDelayMs, baseDelayMs * 2 ** (this.crashes.length - 1)) };
  }
}
