import { fieldsOf } from '../config/schema.js';
import type { Section } from '../config/schema.js';
import { UsageError } from '../errors/index.js';

export { UsageError } from '../errors/index.js';

export interface FlagSpec {
  /** Long name without dashes: `port` for --port. */
  readonly name: string;
  /** One letter for -x (ApacheBench style), optional. */
  readonly short?: string;
  readonly takesValue: boolean;
  readonly repeatable?: boolean;
  /** Shown in --help, e.g. "PORT". */
  readonly valueName?: string;
  readonly description: string;
}

export interface ParsedFlags {
  readonly values: ReadonlyMap<string, string | true | string[]>;
  readonly positionals: readonly string[];
}

/**
 * Parses `--name value`, `--name=value`, `-x value`, `-xVALUE` and boolean `--name`/`-x`.
 * Unknown flags, missing values and repeats of a non-repeatable flag are UsageErrors naming the flag.
 */
export function parseFlags(command: string, argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short!, s]));
  const values = new Map<string, string | true | string[]>();
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw new UsageError(`cosocket ${command}: ${message} (see cosocket ${command} --help)`);
  };
  const store = (spec: FlagSpec, shown: string, value: string | true): void => {
    if (spec.repeatable) {
      const list = (values.get(spec.name) as string[] | undefined) ?? [];
      list.push(value as string);
      values.set(spec.name, list);
      return;
    }
    if (values.has(spec.name)) fail(`flag ${shown} given twice`);
    values.set(spec.name, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let shown: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      shown = `--${name}`;
      spec = byLong.get(name);
    } else if (arg.startsWith('-') && arg.length > 1) {
      shown = arg.slice(0, 2);
      spec = byShort.get(arg[1]!);
      if (arg.length > 2) inline = arg.slice(2);
    } else {
      positionals.push(arg);
      continue;
    }
    if (spec === undefined) fail(`unknown flag ${shown}`);
    if (!spec!.takesValue) {
      if (inline !== undefined) fail(`flag ${shown} takes no value`);
      store(spec!, shown, true);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) fail(`flag ${shown} needs a value${spec!.valueName ? ` (${spec!.valueName})` : ''}`);
      value = argv[++i]!;
    }
    store(spec!, shown, value);
  }
  return { values, positionals };
}

/** An environment variable a command reads, for --help. */
export interface EnvSpec {
  readonly name: string;
  readonly description: string;
}

/** The flags a config schema declares: each takes a value. */
export function schemaFlags(schema: Section): FlagSpec[] {
  return fieldsOf(schema).flatMap(({ field: { sources } }) =>
    sources.flag === undefined
      ? []
      : [
          {
            name: sources.flag,
            takesValue: true,
            valueName: sources.valueName ?? 'VALUE',
            description: sources.help ?? '',
          },
        ],
  );
}

/** The environment variables a config schema declares. */
export function schemaEnvironment(schema: Section): EnvSpec[] {
  return fieldsOf(schema).flatMap(({ field: { sources } }) =>
    sources.env === undefined
      ? []
      : [
          {
            name: sources.env,
            description: sources.flag === undefined ? (sources.help ?? '') : `as --${sources.flag} (the flag wins)`,
          },
        ],
  );
}

/**
 * "Usage: COMMAND [--name VALUE] ... OPERAND", every flag of `specs`, wrapped under its first line;
 * `short`: flags with a letter are shown as `-x VALUE` (ApacheBench's style).
 */
export function usageLine(
  command: string,
  specs: readonly FlagSpec[],
  options: { readonly short?: boolean; readonly operand?: string } = {},
): string {
  const head = `Usage: ${command}`;
  const lines = [head];
  const items = specs.map((s) => {
    const flag = options.short === true && s.short !== undefined ? `-${s.short}` : `--${s.name}`;
    return `[${flag}${s.takesValue ? ` ${s.valueName ?? 'VALUE'}` : ''}]`;
  });
  if (options.operand !== undefined) items.push(options.operand);
  for (const item of items) {
    if (lines[lines.length - 1]!.length + 1 + item.length > 110) lines.push(' '.repeat(head.length));
    lines[lines.length - 1] += ` ${item}`;
  }
  return lines.join('\n');
}

export function helpText(
  usage: string,
  summary: string,
  specs: readonly FlagSpec[],
  environment: readonly EnvSpec[] = [],
): string {
  const rows = specs.map((s) => {
    const names = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.takesValue ? ` ${s.valueName ?? 'VALUE'}` : ''}`;
    return `  ${names.padEnd(30)} ${s.description}`;
  });
  const env = environment.map((e) => `  ${e.name.padEnd(30)} ${e.description}`);
  return `${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n${env.length > 0 ? `\nEnvironment:\n${env.join('\n')}\n` : ''}`;
}
