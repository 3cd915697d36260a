import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors/index.js';

/** Reads a config file: JSON, or a .js/.mjs/.ts module whose default export is the object. */
export async function loadConfigFile(file: string): Promise<unknown> {
  const path = resolve(file);
  const ext = extname(path).toLowerCase();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(
      `config file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  if (ext === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new InvalidArgumentError(`config file ${file}: not valid JSON (${(err as Error).message})`);
    }
  }
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs') {
    const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
    return module.default;
  }
  if (ext === '.ts' || ext === '.mts') {
    // sucrase strips the types without type-checking, whatever TypeScript (if any) the user has installed
    const { transform } = await import('sucrase');
    let js: string;
    try {
      js = transform(text, { transforms: ['typescript'], filePath: path }).code;
    } catch (err) {
      throw new InvalidArgumentError(`config file ${file}: not valid TypeScript (${(err as Error).message})`);
    }
    const module = (await import(`data:text/javascript;base64,${Buffer.from(js).toString('base64')}`)) as {
      default?: unknown;
    };
    return module.default;
  }
  throw new InvalidArgumentError(
    `config file ${file}: unsupported type '${ext || '(none)'}' (use .json, .js, .mjs or .ts)`,
  );
}
