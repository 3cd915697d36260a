import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { StateFileError, UpstreamSyntaxError } from '../errors/index.js';
import { toNginx } from './format.js';
import { parseUpstream, tokenize } from './parse.js';
import { groupKey, groupNameProblem } from './group-name.js';
import type { UpstreamGroup } from './upstream.js';

export { StateFileError } from '../errors/index.js';

/** Temp files saveState writes beside `file`: `.NAME.<16 hex>.tmp`, or `.NAME.PID.tmp` from older versions (stale ones are removed at the next start). */
export function isStateTempName(file: string, entry: string): boolean {
  const prefix = `.${basename(file)}.`;
  return entry.startsWith(prefix) && /^([0-9a-f]{16}|[0-9]+)\.tmp$/.test(entry.slice(prefix.length));
}

const TEMP_FLAGS = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;

/**
 * Writes every group atomically: a temp file beside it, fsync, rename over the old one, fsync the
 * directory. A crash at any point leaves either the old file or the new one, never a mix. The temp name
 * is random and created exclusively without following symlinks, so nothing planted at it is written.
 */
export function saveState(file: string, groups: Iterable<UpstreamGroup>): void {
  const sorted = [...groups].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const text = `# cosocket dyups state: nginx upstream syntax, rewritten on every accepted change\n${sorted.map((g) => toNginx(g)).join('\n')}`;
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const fd = openSync(temp, TEMP_FLAGS, 0o600);
  try {
    try {
      fchmodSync(fd, statSync(file).mode & 0o777);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(temp);
    throw err;
  }
  closeSync(fd);
  renameSync(temp, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * Reads a state file: its `upstream NAME { ... }` blocks. A missing file is an empty table. A block
 * whose name is invalid (written by an older version, e.g. from Redis) is skipped and reported through
 * `report`, so fixing the source is enough to start again; anything else that does not parse stops the start.
 */
export function loadState(
  file: string,
  report: (message: string) => void = (message) => process.stderr.write(`${message}\n`),
): UpstreamGroup[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StateFileError(file, 0, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const lineOf = (offset: number): number => text.slice(0, offset).split('\n').length;
  let tokens;
  try {
    tokens = tokenize(text);
  } catch (err) {
    if (err instanceof UpstreamSyntaxError) throw new StateFileError(file, err.line, err.message);
    throw err;
  }
  const groups: UpstreamGroup[] = [];
  /** each group's name as first written, by key */
  const names = new Map<string, { text: string; at: number }>();
  let i = 0;
  while (i < tokens.length) {
    const start = tokens[i]!;
    // the name: every token up to the block's '{' (more than one is an invalid name, not a bad file)
    let open = i + 1;
    while (open < tokens.length && !(tokens[open]!.quoted === false && ['{', '}', ';'].includes(tokens[open]!.text)))
      open++;
    if (start.text !== 'upstream' || open === i + 1 || tokens[open]?.text !== '{') {
      throw new StateFileError(file, lineOf(start.at), `expected 'upstream NAME {', found '${start.text}'`);
    }
    const name =
      open === i + 2
        ? tokens[i + 1]!
        : { text: text.slice(tokens[i + 1]!.at, tokens[open]!.at).trim(), at: tokens[i + 1]!.at };
    const problem = groupNameProblem(name.text);
    let j = open + 1;
    while (j < tokens.length && !(tokens[j]!.text === '}' && !tokens[j]!.quoted)) j++;
    if (j >= tokens.length)
      throw new StateFileError(
        file,
        lineOf(start.at),
        `upstream '${name.text}' is not closed with '}' (truncated file?)`,
      );
    if (problem !== null) {
      report(`state file ${file}, line ${lineOf(name.at)}: ${problem}; this upstream block was skipped`);
      i = j + 1;
      continue;
    }
    const key = groupKey(name.text);
    const earlier = names.get(key);
    if (earlier !== undefined) {
      const same = earlier.text === name.text;
      throw new StateFileError(
        file,
        lineOf(name.at),
        same
          ? `upstream '${name.text}' appears twice`
          : `upstream '${name.text}' and '${earlier.text}' (line ${lineOf(earlier.at)}) differ only by case: names match case-insensitively, so they would be one group; keep one`,
      );
    }
    const body = text.slice(tokens[open]!.at + 1, tokens[j]!.at);
    try {
      groups.push(parseUpstream(key, body));
    } catch (err) {
      if (err instanceof UpstreamSyntaxError) {
        throw new StateFileError(
          file,
          lineOf(tokens[open]!.at + 1 + err.position),
          `upstream '${name.text}': ${err.message.replace(/ \(line \d+, column \d+, offset \d+\)$/, '')}`,
        );
      }
      throw err;
    }
    names.set(key, name);
    i = j + 1;
  }
  return groups;
}
