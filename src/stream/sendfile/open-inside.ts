import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { readlink, realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import * as file from '../../../adapters/file/index.js';
import type { Operation } from '../../runtime/effect.js';
import { call } from '../../runtime/effects/call.js';

/** A regular file under the root, open: every byte served comes from this descriptor, never the name again. */
export interface FileInside {
  file: file.CoFile;
  info: Stats;
}

/** `missing`: no regular file by that name (look elsewhere); `refused`: it exists but its real path leaves the root. */
export type OpenInside = FileInside | 'missing' | 'refused';

// O_NONBLOCK: a FIFO planted under the name cannot hold a thread-pool thread in open()
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

const GONE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'ENXIO', 'ENAMETOOLONG']);

/**
 * Opens `path` once and keeps it only if the opened descriptor really lives under `root`: the check is
 * of what was opened (its path as the kernel knows it, /proc/self/fd/N), not of the name, so a file
 * swapped for a symlink out of the root, or a directory on the way swapped for one, between the check
 * and the open cannot slip through. Symlinks that stay inside the root still work.
 */
export function* openInside(root: string, path: string): Operation<OpenInside> {
  let opened: file.CoFile;
  try {
    opened = yield* file.open(path, READ_FLAGS);
  } catch (err) {
    if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return 'missing';
    throw err;
  }
  let kept = false;
  try {
    const info = yield* opened.stat();
    if (!info.isFile()) return 'missing';
    if (!(yield* call(descriptorInside(root, opened.fd, path, info)))) return 'refused';
    kept = true;
    return { file: opened, info };
  } finally {
    if (!kept && !opened.closed) yield* opened.close();
  }
}

async function descriptorInside(root: string, fd: number, path: string, info: Stats): Promise<boolean> {
  const realRoot = await realpath(root);
  const prefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  let real: string;
  try {
    real = await readlink(`/proc/self/fd/${fd}`);
  } catch {
    return sameFileInside(prefix, path, info);
  }
  return real.startsWith(prefix);
}

/**
 * Without /proc (not Linux): the name's real path must be under the root and still be the file that
 * was opened (same device and inode). Weaker than the descriptor's own path; Linux never gets here.
 */
async function sameFileInside(prefix: string, path: string, info: Stats): Promise<boolean> {
  try {
    const real = await realpath(path);
    const now = await stat(real);
    return real.startsWith(prefix) && now.dev === info.dev && now.ino === info.ino;
  } catch {
    return false;
  }
}
