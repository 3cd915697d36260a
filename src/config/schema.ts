import { InvalidArgumentError } from '../errors/index.js';

/** Where else than a config file a value may be given, and its line in --help. */
export interface FieldSources {
  /** `port` for --port */
  readonly flag?: string;
  /** shown after the flag in --help, e.g. PORT */
  readonly valueName?: string;
  /** an environment variable; a flag wins over it, it wins over the config file */
  readonly env?: string;
  readonly help?: string;
}

/**
 * One config value: its default, how what a user wrote (file, flag, env var) is checked and converted —
 * `read` throws an InvalidArgumentError starting with `what`, the name the user used — and its sources.
 */
export class Field<T> {
  constructor(
    readonly defaultValue: T,
    readonly read: (input: unknown, what: string) => T,
    readonly sources: FieldSources = {},
  ) {}

  /** This field, also given by a flag or an environment variable. */
  from(sources: FieldSources): Field<T> {
    return new Field(this.defaultValue, this.read, sources);
  }
}

export interface Section {
  readonly [key: string]: Field<unknown> | Section;
}

/** The checked value a schema describes: the type of `build(schema, ...)`. */
export type ConfigOf<S extends Section> = {
  readonly [K in keyof S]: S[K] extends Field<infer T> ? T : S[K] extends Section ? ConfigOf<S[K]> : never;
};

/** Checked values of one source (a file, the flags, the environment) by dotted path: `dyups.buffers`. */
export type Layer = ReadonlyMap<string, unknown>;

/** Every field with its dotted path, in schema order. */
export function fieldsOf(schema: Section, prefix = ''): Array<{ path: string; field: Field<unknown> }> {
  return Object.entries(schema).flatMap(([key, spec]) =>
    spec instanceof Field ? [{ path: prefix + key, field: spec }] : fieldsOf(spec, `${prefix}${key}.`),
  );
}

/**
 * Checks a config file's object: an unknown key is an error naming its path and the keys known there;
 * each value is read by its field, and named in errors as `source: 'path'`.
 */
export function readObject(schema: Section, input: unknown, source: string): Layer {
  const layer = new Map<string, unknown>();
  readInto(layer, schema, input, source, '');
  return layer;
}

function readInto(layer: Map<string, unknown>, schema: Section, input: unknown, source: string, path: string): void {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidArgumentError(`${source}: ${path === '' ? 'the configuration' : `'${path}'`} must be an object`);
  }
  for (const [key, value] of Object.entries(input)) {
    const name = path === '' ? key : `${path}.${key}`;
    const spec = schema[key];
    if (spec === undefined) {
      throw new InvalidArgumentError(
        `${source}: unknown key '${name}' (known here: ${Object.keys(schema).join(', ')})`,
      );
    }
    if (value === undefined) continue;
    if (spec instanceof Field) layer.set(name, spec.read(value, `${source}: '${name}'`));
    else readInto(layer, spec, value, source, name);
  }
}

/** The values given as flags (`--name` → its text), each named by its flag in errors. */
export function readFlags(schema: Section, flags: ReadonlyMap<string, string>): Layer {
  const layer = new Map<string, unknown>();
  for (const { path, field } of fieldsOf(schema)) {
    const flag = field.sources.flag;
    const text = flag === undefined ? undefined : flags.get(flag);
    if (text !== undefined) layer.set(path, field.read(text, `--${flag}`));
  }
  return layer;
}

/** The values given as environment variables, each named by its variable in errors; empty counts as unset. */
export function readEnv(schema: Section, env: Readonly<Record<string, string | undefined>>): Layer {
  const layer = new Map<string, unknown>();
  for (const { path, field } of fieldsOf(schema)) {
    const name = field.sources.env;
    const text = name === undefined ? undefined : env[name];
    if (text !== undefined && text !== '') layer.set(path, field.read(text, name!));
  }
  return layer;
}

/** The frozen value: each field from the last layer that has it, else its default. */
export function build<S extends Section>(schema: S, layers: readonly Layer[], prefix = ''): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const path = prefix + key;
    if (spec instanceof Field) {
      let value: unknown = spec.defaultValue;
      for (const layer of layers) if (layer.has(path)) value = layer.get(path);
      out[key] = freezeDeep(value);
    } else out[key] = build(spec, layers, `${path}.`);
  }
  return Object.freeze(out) as ConfigOf<S>;
}

function freezeDeep<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) freezeDeep(inner);
    Object.freeze(value);
  }
  return value;
}
