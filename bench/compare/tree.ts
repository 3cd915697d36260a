/** A checkout given to bench/compare.ts: checked for a build, and named by its commit. */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from './options.js';

export interface Tree {
  dir: string;
  /** `abc1234`, `abc1234 + uncommitted changes`, or `not a git checkout` */
  commit: string;
}

/** What a side needs: the public entry the suites import and the command the servers run. */
const REQUIRED = ['dist/src/index.js', 'bin/cosocket.js'];

export function checkTree(flag: string, dir: string): Tree {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`${flag} ${dir}: no such directory`);
  const missing = REQUIRED.filter((path) => !existsSync(join(root, path)));
  if (missing.length > 0)
    throw new UsageError(
      `${flag} ${dir}: no ${missing.join(' or ')} (build it: cd ${root} && npx tsc -p tsconfig.json)`,
    );
  return { dir: root, commit: describeCommit(root) };
}

/** The tree whose dist/bench holds the suites: every side is measured with the same bench code. */
export function checkBenchCode(root: string, scripts: readonly string[]): void {
  const missing = scripts.filter((script) => !existsSync(join(root, 'dist', 'bench', script)));
  if (missing.length > 0)
    throw new UsageError(
      `bench code ${root}: no dist/bench/${missing.join(', dist/bench/')} (npx tsc -p tsconfig.json)`,
    );
}

function describeCommit(dir: string): string {
  const git = (...args: string[]): string | null => {
    const result = spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8' });
    return result.status === 0 ? result.stdout.trim() : null;
  };
  const commit = git('rev-parse', '--short', 'HEAD');
  if (commit === null) return 'not a git checkout';
  const dirty = git('status', '--porcelain', '--untracked-files=no');
  return dirty === null || dirty === '' ? commit : `${commit} + uncommitted changes`;
}
