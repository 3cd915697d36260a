/** The libraries measured beside cosocket, named with the versions installed (read from their package.json). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LibraryName } from './harness.js';

const require = createRequire(import.meta.url);

/** The version of the installed package `name`: its package.json, found above its entry point. */
function installedVersion(name: string): string {
  let dir = dirname(require.resolve(name));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === name && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // no package.json here: look further up
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json of ${name} above ${require.resolve(name)}`);
    dir = parent;
  }
}

/** Column headings: each library with its version. */
export const LIBRARY_LABELS: Readonly<Record<LibraryName, string>> = {
  'async/await': `async/await (node ${process.version})`,
  cosocket: 'cosocket',
  co: `co ${installedVersion('co')}`,
  Effection: `Effection ${installedVersion('effection')}`,
  Effect: `Effect ${installedVersion('effect')}`,
};

export const LIBRARY_ORDER: readonly LibraryName[] = ['async/await', 'cosocket', 'co', 'Effection', 'Effect'];

/** The libraries besides cosocket and its async/await baselines, which always run. */
const OTHERS: readonly LibraryName[] = ['co', 'Effection', 'Effect'];

/**
 * The libraries to run for COMPARED_WITH: a comma-separated subset of co, effection, effect (any case), or
 * `none`; unset or empty, all three. cosocket and async/await always run. Throws naming an unknown name.
 */
export function parseComparedWith(text: string | undefined): LibraryName[] {
  if (text === undefined || text.trim() === '') return [...LIBRARY_ORDER];
  const names = text.trim().toLowerCase() === 'none' ? [] : text.split(',').map((s) => s.trim().toLowerCase());
  const unknown = names.filter((name) => !OTHERS.some((library) => library.toLowerCase() === name));
  if (unknown.length > 0)
    throw new Error(`COMPARED_WITH=${text}: unknown ${unknown.join(', ')} (known: co, effection, effect, none)`);
  return LIBRARY_ORDER.filter((library) => !OTHERS.includes(library) || names.includes(library.toLowerCase()));
}

/** parseComparedWith of the environment's COMPARED_WITH; a bad value stops the run with its message. */
export function librariesFromEnv(): LibraryName[] {
  try {
    return parseComparedWith(process.env.COMPARED_WITH);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
}
