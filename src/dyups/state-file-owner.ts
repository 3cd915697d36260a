import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { StateFileClaimError } from '../errors/index.js';
import { isStateTempName } from './state-file.js';

export { StateFileClaimError } from '../errors/index.js';

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** The state file this process owns until release(): `path` is where writes go (a symlink's target). */
export interface StateFileClaim {
  path: string;
  release(): void;
}

const MAX_SYMLINK_HOPS = 40;
const LOCK_FLAGS = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;

/**
 * Takes ownership of a state file at start: follows a symlink to its target once (so saves replace the
 * target, not the link), creates `.NAME.lock` beside it exclusively holding this pid (a lock whose pid is
 * dead is taken over), and removes temp files a killed owner left.
 */
export function claimStateFile(file: string): StateFileClaim {
  const path = followSymlinks(file, resolve(file));
  const lock = join(dirname(path), `.${basename(path)}.lock`);
  lockFile(file, lock);
  const release = (): void => {
    process.off('exit', release);
    try {
      if (lockHolder(file, lock) === process.pid) unlinkSync(lock);
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  try {
    for (const entry of readdirSync(dirname(path))) {
      if (isStateTempName(path, entry)) unlinkSync(join(dirname(path), entry));
    }
  } catch (err) {
    release();
    throw new StateFileClaimError(file, `cannot remove stale temp files beside it (${errnoOf(err)})`);
  }
  return { path, release };
}

function followSymlinks(file: string, start: string): string {
  let path = start;
  for (let hops = 0; hops < MAX_SYMLINK_HOPS; hops++) {
    try {
      if (!lstatSync(path).isSymbolicLink()) return path;
      path = resolve(dirname(path), readlinkSync(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return path;
      throw new StateFileClaimError(file, `cannot follow it to the file it names (${errnoOf(err)} at ${path})`);
    }
  }
  throw new StateFileClaimError(file, `more than ${MAX_SYMLINK_HOPS} symlinks to follow`);
}

function lockFile(file: string, lock: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, LOCK_FLAGS, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new StateFileClaimError(file, `cannot create its lock ${lock} (${errnoOf(err)})`);
      const holder = lockHolder(file, lock);
      if (holder !== null && isAlive(holder)) {
        throw new StateFileClaimError(
          file,
          `in use by process ${holder} (lock ${lock}); stop that instance or give this one another state file`,
        );
      }
      try {
        unlinkSync(lock); // left by a process that died without releasing it
      } catch (unlinkError) {
        if ((unlinkError as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new StateFileClaimError(file, `cannot remove the stale lock ${lock} (${errnoOf(unlinkError)})`);
      }
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } catch (err) {
      unlinkSync(lock);
      throw new StateFileClaimError(file, `cannot write its lock ${lock} (${errnoOf(err)})`);
    } finally {
      closeSync(fd);
    }
    return;
  }
  throw new StateFileClaimError(file, `another process took the lock ${lock} while this one started`);
}

/** The pid a lock file names, or null when it names none (a lock cut short while being written, or gone). */
function lockHolder(file: string, lock: string): number | null {
  let fd: number;
  try {
    fd = openSync(lock, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StateFileClaimError(file, `cannot read its lock ${lock} (${errnoOf(err)})`);
  }
  try {
    const text = readFileSync(fd, 'utf8').trim();
    return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : null;
  } finally {
    closeSync(fd);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
