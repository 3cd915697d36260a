import { InvalidArgumentError } from '../errors/index.js';

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * A duration as nginx writes it — "100ms", "10s", "1m", "1h", "1m30s" — or a number of milliseconds.
 * `what` names the setting in the error.
 */
export function parseDuration(what: string, value: unknown): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
    const parts = /^(?:\d+(?:ms|s|m|h|d))+$/.test(text) ? text.match(/\d+(?:ms|s|m|h|d)/g) : null;
    if (parts !== null) {
      let total = 0;
      for (const part of parts) {
        const unit = /ms|s|m|h|d/.exec(part)![0];
        total += Number(part.slice(0, part.length - unit.length)) * DURATION_UNITS[unit]!;
      }
      return total;
    }
  }
  throw new InvalidArgumentError(
    `${what} must be a duration like "100ms", "10s", "1m" or a number of milliseconds, got ${JSON.stringify(value)}`,
  );
}

/** A size as nginx writes it — "16k", "1m", "1g" — or a number of bytes. */
export function parseSize(what: string, value: unknown): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const match = /^(\d+)([kmg]?)$/i.exec(value.trim());
    if (match !== null) return Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  }
  throw new InvalidArgumentError(
    `${what} must be a size like "16k", "1m" or a number of bytes, got ${JSON.stringify(value)}`,
  );
}
