import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PidFileError } from '../errors/index.js';

export { PidFileError } from '../errors/index.js';

/** A pid file this process wrote: `remove()` deletes it unless another process has written its own since. */
export interface PidFileClaim {
  readonly path: string;
  remove(): void;
}

/** Whether a process with this pid runs (one we may not signal runs too). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a running process is a cosocket server: its command line names cosocket (from /proc; where
 * there is no /proc, any running process counts, so a live server is never overwritten).
 */
function isCosocket(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return isRunning(pid);
  }
  return /cosocket/.test(cmdline);
}

/** The pid a pid file holds, or null when it holds no pid. Throws PidFileError when it cannot be read. */
function readPid(path: string): number | null {
  const text = readFileSync(path, 'utf8').trim();
  return /^[1-9]\d{0,9}$/.test(text) ? Number(text) : null;
}

/**
 * Writes this process's pid to `file` (nginx's `pid`). A file naming a live cosocket server is an error
 * (two servers would fight over one pid file); one naming a dead process or another program is stale and
 * overwritten.
 */
export function writePidFile(file: string): PidFileClaim {
  const path = resolve(file);
  let previous: number | null = null;
  try {
    previous = readPid(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new PidFileError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (previous !== null && previous !== process.pid && isRunning(previous) && isCosocket(previous))
    throw new PidFileError(
      file,
      `names process ${previous}, a cosocket server that is running (stop it, or give another --pid)`,
    );
  const mine = `${process.pid}\n`;
  try {
    writeFileSync(path, mine, { mode: 0o644 });
  } catch (err) {
    throw new PidFileError(file, `cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return {
    path,
    remove: () => {
      try {
        if (readFileSync(path, 'utf8') === mine) rmSync(path, { force: true });
      } catch {
        // already gone
      }
    },
  };
}

/** The running server's pid from its pid file: PidFileError when it is missing, holds no pid, or names no running process. */
export function runningPid(file: string): number {
  let pid: number | null;
  try {
    pid = readPid(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PidFileError(
      file,
      code === 'ENOENT' ? 'does not exist (is the server running, with this pid file?)' : `cannot be read (${code})`,
    );
  }
  if (pid === null) throw new PidFileError(file, 'holds no process id');
  if (!isRunning(pid)) throw new PidFileError(file, `names process ${pid}, which is not running (a stale pid file)`);
  return pid;
}
