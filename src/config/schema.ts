import { InvalidArgumentError } from '../errors.js';
import { SIZE_EXAMPLES, TIME_EXAMPLES, parseSize, parseTime } from './units.js';

/** How one config value is read: its kind and, for checked strings, what is allowed. */
export type FieldSpec =
  | { kind: 'string'; check?: (what: string, value: string) => string }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'duration' }
  | { kind: 'size'; min?: number }
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'section'; fields: Schema };

export type Schema = Readonly<Record<string, FieldSpec>>;

/** Plain nested data of checked values. */
export type ConfigData = { [key: string]: string | number | ConfigData };

/**
 * Checks `input` against `schema`: every unknown key is an error naming its full path and the known
 * keys; every value is converted (durations to ms, sizes to bytes) or refused with a message naming it.
 */
export function checkConfig(
  source: string,
  input: unknown,
  schema: Schema,
  path = '',
  label?: (name: string) => string,
): ConfigData {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidArgumentError(`${source}: ${path === '' ? 'the configuration' : `'${path}'`} must be an object`);
  }
  const out: ConfigData = {};
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    const name = path === '' ? key : `${path}.${key}`;
    const spec = schema[key];
    if (spec === undefined) {
      throw new InvalidArgumentError(
        `${source}: unknown key '${name}' (known here: ${Object.keys(schema).join(', ')})`,
      );
    }
    if (value === undefined) continue;
    out[key] = checkValue(source, name, spec, value, label);
  }
  return out;
}

function checkValue(
  source: string,
  name: string,
  spec: FieldSpec,
  value: unknown,
  label?: (name: string) => string,
): string | number | ConfigData {
  const what = label ? label(name) : `${source}: '${name}'`;
  switch (spec.kind) {
    case 'section':
      return checkConfig(source, value, spec.fields, name, label);
    case 'duration': {
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseTime(value.trim(), 'ms') : null;
      if (ms !== null && Number.isFinite(ms) && ms >= 0) return ms;
      throw new InvalidArgumentError(
        `${what} must be a duration like ${TIME_EXAMPLES} or a number of milliseconds, got ${JSON.stringify(value)}`,
      );
    }
    case 'size': {
      const bytes = sizeOf(what, value);
      if (spec.min !== undefined && bytes < spec.min)
        throw new InvalidArgumentError(`${what} must be at least ${spec.min} byte(s), got ${JSON.stringify(value)}`);
      return bytes;
    }
    case 'int': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < spec.min || n > spec.max) {
        throw new InvalidArgumentError(
          `${what} must be a whole number from ${spec.min} to ${spec.max}, got ${JSON.stringify(value)}`,
        );
      }
      return n;
    }
    case 'choice':
      if (typeof value !== 'string' || !spec.choices.includes(value)) {
        throw new InvalidArgumentError(
          `${what} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(value)}`,
        );
      }
      return value;
    default:
      if (typeof value !== 'string')
        throw new InvalidArgumentError(`${what} must be a string, got ${JSON.stringify(value)}`);
      return spec.check ? spec.check(what, value) : value;
  }
}

function sizeOf(what: string, value: unknown): number {
  const bytes = typeof value === 'number' ? value : typeof value === 'string' ? parseSize(value.trim()) : null;
  if (bytes !== null && Number.isInteger(bytes) && bytes >= 0) return bytes;
  throw new InvalidArgumentError(
    `${what} must be a size like ${SIZE_EXAMPLES} or a number of bytes, got ${JSON.stringify(value)}`,
  );
}
