/**
 * nginx's time and size grammar, shared by the config and the dyups upstream parser. Both functions take the
 * text as written and answer null when it is not one; the caller names the setting in its own error.
 */

const TIME_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** One or more whole numbers with a unit, largest first or not: "500ms", "10s", "1m30s", "1h", "2d". */
const TIME_PARTS = /^(?:\d+(?:ms|s|m|h|d))+$/;
const TIME_PART = /(\d+)(ms|s|m|h|d)/g;
/** A number without a unit, in the caller's unit. */
const BARE_NUMBER = /^\d+(?:\.\d+)?$/;
const SIZE = /^(\d+)([kmg]?)$/i;

/** Examples for error messages. */
export const TIME_EXAMPLES = '"100ms", "10s", "1m", "1m30s"';
export const SIZE_EXAMPLES = '"16k", "1m", "1g"';

/** The unit of a number written without one: milliseconds in the config, seconds for fail_timeout. */
export type BareUnit = 'ms' | 's';

/** A time in milliseconds — "100ms", "10s", "1m30s", or a bare number in `bareUnit` — or null. */
export function parseTime(text: string, bareUnit: BareUnit): number | null {
  let total: number;
  if (BARE_NUMBER.test(text)) total = Number(text) * TIME_UNITS[bareUnit]!;
  else if (TIME_PARTS.test(text)) {
    total = 0;
    for (const [, count, unit] of text.matchAll(TIME_PART)) total += Number(count) * TIME_UNITS[unit!]!;
  } else return null;
  return Number.isFinite(total) ? total : null;
}

/** A size in bytes — "512", "16k", "1m", "1g" (k, m, g in either case) — or null. */
export function parseSize(text: string): number | null {
  const match = SIZE.exec(text);
  if (match === null) return null;
  const bytes = Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  return Number.isFinite(bytes) ? bytes : null;
}
