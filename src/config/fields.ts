import { InvalidArgumentError } from '../errors/index.js';
import { Field } from './schema.js';
import { SIZE_EXAMPLES, TIME_EXAMPLES, parseSize, parseTime } from './units.js';

/** Checks a string value; answers it (possibly normalised) or throws naming `what`. */
export type TextCheck = (what: string, value: string) => string;

function fail(message: string): never {
  throw new InvalidArgumentError(message);
}

function textOf(input: unknown, what: string): string {
  return typeof input === 'string' ? input : fail(`${what} must be a string, got ${JSON.stringify(input)}`);
}

/** A string, checked by `check` when given. */
export function text(defaultValue: string, check?: TextCheck): Field<string> {
  return new Field(defaultValue, (input, what) => (check ? check(what, textOf(input, what)) : textOf(input, what)));
}

/** A string that may be absent: "" and null both mean none (null). */
export function optionalText(check?: TextCheck): Field<string | null> {
  return new Field<string | null>(null, (input, what) => {
    if (input === null || input === '') return null;
    const value = textOf(input, what);
    return check ? check(what, value) : value;
  });
}

/** A whole number from `min` to `max`, as a number or its digits. */
export function int(defaultValue: number, min: number, max: number): Field<number> {
  return new Field(defaultValue, (input, what) => {
    const n = typeof input === 'string' && /^\d+$/.test(input) ? Number(input) : input;
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
    return fail(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(input)}`);
  });
}

/** A share from 0 to 1, as a number or its decimal text ("0.25"). */
export function ratio(defaultValue: number): Field<number> {
  return new Field(defaultValue, (input, what) => {
    const n = typeof input === 'string' && /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(input) ? Number(input) : input;
    if (typeof n === 'number' && n >= 0 && n <= 1) return n;
    return fail(`${what} must be a number from 0 to 1, got ${JSON.stringify(input)}`);
  });
}

/** A time in milliseconds: nginx's "100ms", "10s", "1m30s", or a number of milliseconds. */
export function duration(defaultMs: number): Field<number> {
  return new Field(defaultMs, (input, what) => {
    const ms = typeof input === 'number' ? input : typeof input === 'string' ? parseTime(input.trim(), 'ms') : null;
    if (ms !== null && Number.isFinite(ms) && ms >= 0) return ms;
    return fail(
      `${what} must be a duration like ${TIME_EXAMPLES} or a number of milliseconds, got ${JSON.stringify(input)}`,
    );
  });
}

/** A duration that may be off: null, "", "off" (or a duration of 0) mean none (null). */
export function optionalDuration(): Field<number | null> {
  const time = duration(0);
  return new Field<number | null>(null, (input, what) => {
    if (input === null || input === '' || (typeof input === 'string' && input.trim().toLowerCase() === 'off'))
      return null;
    try {
      const ms = time.read(input, what);
      return ms === 0 ? null : ms;
    } catch {
      return fail(
        `${what} must be off or a duration like ${TIME_EXAMPLES} or a number of milliseconds, got ${JSON.stringify(input)}`,
      );
    }
  });
}

function bytesOf(input: unknown, what: string): number {
  const bytes = typeof input === 'number' ? input : typeof input === 'string' ? parseSize(input.trim()) : null;
  if (bytes !== null && Number.isInteger(bytes) && bytes >= 0) return bytes;
  return fail(`${what} must be a size like ${SIZE_EXAMPLES} or a number of bytes, got ${JSON.stringify(input)}`);
}

/** A size in bytes: nginx's "16k", "1m", or a number of bytes; at least `min`. */
export function size(defaultBytes: number, min = 0): Field<number> {
  return new Field(defaultBytes, (input, what) => {
    const bytes = bytesOf(input, what);
    if (bytes >= min) return bytes;
    return fail(`${what} must be at least ${min} byte(s), got ${JSON.stringify(input)}`);
  });
}

const ON = new Set(['on', 'yes', 'true']);
const OFF = new Set(['off', 'no', 'false']);

/** A switch: true/false, or nginx's on/off (yes/no and "true"/"false" too, in any case). */
export function onOff(defaultValue: boolean): Field<boolean> {
  return new Field(defaultValue, (input, what) => {
    if (typeof input === 'boolean') return input;
    const word = typeof input === 'string' ? input.trim().toLowerCase() : '';
    if (ON.has(word)) return true;
    if (OFF.has(word)) return false;
    return fail(`${what} must be on or off (or yes/no, true/false), got ${JSON.stringify(input)}`);
  });
}

/** One of a few words. */
export function choice<C extends string>(defaultValue: C, choices: readonly C[]): Field<C> {
  return new Field(defaultValue, (input, what) => {
    const found = choices.find((c) => c === input);
    return found ?? fail(`${what} must be one of ${choices.join(', ')}, got ${JSON.stringify(input)}`);
  });
}

/** nginx's proxy_buffers: how many buffers, of what size. */
export interface Buffers {
  readonly count: number;
  readonly size: number;
}

/** proxy_buffers as nginx writes it, "8 8k", or { count: 8, size: "8k" }; both at least 1. */
export function buffers(defaultValue: Buffers): Field<Buffers> {
  return new Field(Object.freeze({ ...defaultValue }), (input, what) => {
    const refuse = (): never =>
      fail(
        `${what} must be a count and a size like "8 8k" (nginx's proxy_buffers), got ${typeof input === 'string' ? `'${input}'` : JSON.stringify(input)}`,
      );
    let count: unknown;
    let bytes: number | null;
    if (typeof input === 'string') {
      const match = /^\s*(\d+)\s+(\S+)\s*$/.exec(input);
      if (match === null) return refuse();
      count = Number(match[1]);
      bytes = parseSize(match[2]!);
    } else if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
      const given = input as { count?: unknown; size?: unknown };
      count = given.count;
      bytes =
        typeof given.size === 'number'
          ? given.size
          : typeof given.size === 'string'
            ? parseSize(given.size.trim())
            : null;
    } else return refuse();
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) return refuse();
    if (bytes === null || !Number.isInteger(bytes) || bytes < 1) return refuse();
    return Object.freeze({ count, size: bytes });
  });
}

/** A number of processes: 1 to `max`, or "auto" for `auto()`. */
export function processCount(defaultValue: number, max: number, auto: () => number): Field<number> {
  return new Field(defaultValue, (input, what) => {
    if (input === 'auto') return auto();
    const n = typeof input === 'string' && /^\d+$/.test(input) ? Number(input) : input;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= max) return n;
    return fail(
      `${what} must be 'auto' or a whole number from 1 to ${max}, got ${typeof input === 'string' ? `'${input}'` : JSON.stringify(input)}`,
    );
  });
}

/** A name → module map (`dyups.balancers`): names of letters, digits, _ . -, each module a path. */
export function moduleMap(): Field<Readonly<Record<string, string>>> {
  return new Field<Readonly<Record<string, string>>>({}, (input, what) => {
    if (input === null || typeof input !== 'object' || Array.isArray(input))
      return fail(`${what} must be an object of name: "./module.js", got ${JSON.stringify(input)}`);
    const out: Record<string, string> = {};
    for (const [name, path] of Object.entries(input)) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name))
        fail(`${what}: '${name}' is not a name (a letter or _, then letters, digits, _ . -)`);
      if (typeof path !== 'string' || path === '')
        fail(`${what}.${name} must be the path of a module, got ${JSON.stringify(path)}`);
      out[name] = path;
    }
    return out;
  });
}
