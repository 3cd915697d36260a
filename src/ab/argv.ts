import { UsageError } from '../errors/index.js';

/** ab 2.3's option letters; a trailing ':' takes a value (apr_getopt's format). */
export const AB_OPTIONS = 'n:c:t:s:b:T:p:u:v:lrkVhwiIx:y:z:C:H:P:A:g:X:de:SqB:m:Z:f:E:';
export const LONG_OPTIONS: Readonly<Record<string, boolean>> = {
  json: false,
  workers: true,
  help: false,
  stream: false,
};

export interface AbArgv {
  /** In order: [letter or long name, value or true]. */
  options: [string, string | true][];
  positionals: string[];
}

const takesValue = (letter: string): boolean | undefined => {
  const at = AB_OPTIONS.indexOf(letter);
  if (at === -1 || letter === ':') return undefined;
  return AB_OPTIONS[at + 1] === ':';
};

/**
 * ab's command line as apr_getopt reads it: clustered letters (`-kc10`), a value inline or as the next
 * word; plus cosocket's long options (--json, --workers N, --stream, --help). Options may follow the URL too.
 */
export function parseAbArgv(argv: readonly string[]): AbArgv {
  const options: [string, string | true][] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const wantsValue = LONG_OPTIONS[name];
      if (wantsValue === undefined) throw new UsageError(`unknown option --${name} (see cosocket ab -h)`);
      if (!wantsValue) {
        if (eq !== -1) throw new UsageError(`option --${name} takes no value`);
        options.push([name, true]);
      } else if (eq !== -1) options.push([name, arg.slice(eq + 1)]);
      else if (i + 1 < argv.length) options.push([name, argv[++i]!]);
      else throw new UsageError(`option --${name} needs a value`);
      continue;
    }
    if (!arg.startsWith('-') || arg.length === 1) {
      positionals.push(arg);
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const wants = takesValue(letter);
      if (wants === undefined) throw new UsageError(`illegal option -- ${letter} (see cosocket ab -h)`);
      if (!wants) {
        options.push([letter, true]);
        continue;
      }
      if (j + 1 < arg.length) options.push([letter, arg.slice(j + 1)]);
      else if (i + 1 < argv.length) options.push([letter, argv[++i]!]);
      else throw new UsageError(`option requires an argument -- ${letter}`);
      break;
    }
  }
  return { options, positionals };
}
