import { closeSync, constants, lstatSync, openSync, readFileSync, readdirSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CosocketError } from '../errors.js';
import { isStateTempName } from './state-file.js';

/** Another live process owns the state file: two owners would silently lose each other's changes. */
export class StateFileInUseError extends CosocketError {
  constructor(file: string, lock: string, reason: string) {
    super('COSOCKET_ERR_STATE_FILE_IN_USE', `state file ${file} is in use: ${reason} (lock ${lock}); stop that instance or give this one another --state-file`);
  }
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
  const path = followSymlinks(resolve(file));
  const lock = join(dirname(path), `.${basename(path)}.lock`);
  lockFile(file, lock);
  const release = (): void => {
    process.off('exit', release);
    try {
      if (lockHolder(lock) === process.pid) unlinkSync(lock);
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  for (const entry of readdirSync(dirname(path))) {
    if (isStateTempName(path, entry)) unlinkSync(join(dirname(path), entry));
  }
  return { path, release };
}

function followSymlinks(start: string): string {
  let path = start;
  for (let hops = 0; hops < MAX_SYMLINK_HOPS; hops++) {
    let isLink: boolean;
    try {
      isLink = lstatSync(path).isSymbolicLink();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return path;
      throw err;
    }
    if (!isLink) return path;
    path = resolve(dirname(path), readlinkSync(path));
  }
  throw new StateFileInUseError(start, start, `more than ${MAX_SYMLINK_HOPS} symlinks to follow`);
}

function lockFile(file: string, lock: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, LOCK_FLAGS, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = lockHolder(lock);
      if (holder !== null && isAlive(holder)) throw new StateFileInUseError(file, lock, `process ${holder} holds it`);
      unlinkSync(lock); // left by a process that died without releasing it
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return;
  }
  throw new StateFileInUseError(file, lock, 'another process took the lock while this one started');
}

/** The pid a lock file names, or null when it names none (a lock cut short while being written). */
function lockHolder(lock: string): number | null {
  const fd = openSync(lock, constants.O_RDONLY | constants.O_NOFOLLOW);
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
