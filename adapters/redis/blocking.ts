import { InvalidArgumentError } from '../../src/errors/index.js';
import type { RedisArg } from './encode.js';

/**
 * Where a blocking command carries its own timeout: an argument index, the last argument (BLPOP keys...
 * timeout), or the argument after an option word looked for between two positions (XREAD ... BLOCK ms
 * ... STREAMS: a stream named "block" after STREAMS is not the option).
 */
export type TimeoutArg = 'last' | number | { option: string; searchFrom: number; searchUntil: string };

/** How a blocking command (BLPOP, XREAD BLOCK...) names its timeout: the read timeout is stretched to cover it. */
export interface BlockingSpec {
  timeoutArg: TimeoutArg;
  /** Default 'seconds' (BLPOP, BZPOPMIN ...); XREAD/XREADGROUP BLOCK count milliseconds. */
  unit?: 'seconds' | 'milliseconds';
}

function argText(arg: RedisArg | undefined): string | undefined {
  if (arg === undefined) return undefined;
  return Buffer.isBuffer(arg) ? arg.toString() : String(arg);
}

function timeoutArgOf(args: readonly RedisArg[], at: TimeoutArg): RedisArg | undefined | null {
  if (at === 'last') return args[args.length - 1];
  if (typeof at === 'number') return args[at];
  const option = at.option.toLowerCase();
  const until = at.searchUntil.toLowerCase();
  for (let i = at.searchFrom; i < args.length; i++) {
    const word = argText(args[i])!.toLowerCase();
    if (word === until) return null;
    if (word === option) return args[i + 1];
  }
  return null;
}

/**
 * How long the server may hold this command before answering, in ms: null when it does not block this
 * time (XREAD without BLOCK), 0 when it may block forever. A timeout that is not a number >= 0 is refused
 * here, before anything is sent.
 */
export function blockingTimeoutMs(command: string, args: readonly RedisArg[], blocking: BlockingSpec): number | null {
  const arg = timeoutArgOf(args, blocking.timeoutArg);
  if (arg === null) return null;
  const unit = blocking.unit ?? 'seconds';
  const raw = argText(arg);
  const value = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      `redis ${command.toUpperCase()}: the timeout must be a number of ${unit} >= 0, got ${raw === undefined ? 'none' : `'${raw}'`}`,
    );
  }
  return unit === 'seconds' ? Math.ceil(value * 1000) : Math.ceil(value);
}

/**
 * The read deadline of one command, in ms, Infinity for none: a blocking command gets its own timeout plus the
 * connection's read timeout (so its nil reply at its own timeout arrives before the deadline), and none
 * at all when it blocks forever.
 */
export function readDeadlineMs(blockMs: number | null, readTimeout: number): number {
  if (blockMs === null) return readTimeout;
  if (blockMs === 0) return Infinity;
  return blockMs + readTimeout;
}
