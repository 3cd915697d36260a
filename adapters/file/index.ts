import { open as fsOpen, readFile, stat as fsStat, lstat as fsLstat, writeFile as fsWriteFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { readSync, writevSync } from 'node:fs';
import type { Stats } from 'node:fs';
import {
  FileClosedError,
  FileShortError,
  FileTooLargeError,
  InvalidArgumentError,
  WaitAbandonedError,
} from '../../src/errors/index.js';
import { defineKind } from '../../src/runtime/effect.js';
import type { Effect } from '../../src/runtime/effect.js';
import { abortable } from '../../src/runtime/effects/control.js';
import { call } from '../../src/runtime/effects/call.js';
import type { Task } from '../../src/runtime/task.js';

/**
 * Files as coroutines. The blocking part runs on libuv's thread pool (as nginx does file I/O with
 * threads; nginx-cosocket could not hook file I/O at all). Errors are Node's, with their `code`.
 */

/** The whole file; `maxBytes` guards against reading something huge by mistake. */
export function read(path: string, options: { maxBytes?: number } = {}): Effect<Buffer> {
  checkPath(path);
  const maxBytes = options.maxBytes ?? Infinity;
  return READ<Buffer>(path, maxBytes);
}

async function readWhole(path: string, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  if (Number.isFinite(maxBytes)) {
    const info = await fsStat(path);
    if (info.size > maxBytes) throw new FileTooLargeError(path, info.size, maxBytes);
  }
  return readFile(path, { signal });
}

const READ = defineKind<string, number, AbortController>({
  name: 'file.read',
  start(waiter, path, maxBytes) {
    const controller = new AbortController();
    waiter.waitHandle = controller;
    waiter.waitPromise(readWhole(path, maxBytes, controller.signal));
  },
  abandon(waiter) {
    waiter.forgetPromise();
    waiter.waitHandle.abort(waiter.task.reason ?? new WaitAbandonedError());
  },
  trace: (path) => ({ name: 'file.read', attributes: { 'file.path': path } }),
});

/** Writes `data` to the file at `path` (replacing it), off the event loop; cancelled, the write is aborted. */
export function write(path: string, data: string | Uint8Array): Effect<void> {
  checkPath(path);
  return abortable((signal) => fsWriteFile(path, data, { signal }));
}

/** The file's fs.Stats. */
export function stat(path: string): Effect<Stats> {
  checkPath(path);
  return call(fsStat(path));
}

/** stat without following a final symlink. */
export function lstat(path: string): Effect<Stats> {
  checkPath(path);
  return call(fsLstat(path));
}

interface PendingOpen {
  abandoned: boolean;
}

const OPEN = defineKind<string, { flags: string | number; mode: number | undefined }, PendingOpen>({
  name: 'file.open',
  start(waiter, path, { flags, mode }) {
    const wait: PendingOpen = { abandoned: false };
    waiter.waitHandle = wait;
    fsOpen(path, flags, mode).then(
      (handle) => {
        if (wait.abandoned) {
          void handle.close().catch(() => undefined);
          return;
        }
        waiter.settleWait(new CoFile(handle, path, waiter.task.root), false);
      },
      (err: unknown) => {
        if (!wait.abandoned) waiter.settleWait(err, true);
      },
    );
  },
  abandon(waiter) {
    waiter.waitHandle.abandoned = true;
  },
  trace: (path) => ({ name: 'file.open', attributes: { 'file.path': path } }),
});

/**
 * An open file for this coroutine: `const f = yield* file.open(path)`; closed when the coroutine ends.
 * `flags` as fs.open takes them: a string ('r', 'w', ...) or fs.constants bits (O_RDONLY | O_NOFOLLOW).
 */
export function open(path: string, flags: string | number = 'r', mode?: number): Effect<CoFile> {
  checkPath(path);
  return OPEN(path, { flags, mode });
}

const READ_PART = defineKind<CoFile, { length: number; position: number | null }>({
  name: 'file.read',
  start(waiter, file, { length, position }) {
    waiter.waitPromise(file.readPart(length, position));
  },
  abandon(waiter) {
    waiter.forgetPromise();
  },
  trace: (file) => ({ name: 'file.read', attributes: { 'file.path': file.path } }),
});

/** An open file handle owned by a coroutine. */
export class CoFile {
  private handle: FileHandle | null;
  private readonly owner: Task<unknown>;
  private readonly closeWithOwner = (): void => this.closeNow();

  constructor(
    handle: FileHandle,
    readonly path: string,
    owner: Task<unknown>,
  ) {
    this.handle = handle;
    this.owner = owner;
    owner.addCleanup(this.closeWithOwner);
  }

  get fd(): number {
    return this.live().fd;
  }

  get closed(): boolean {
    return this.handle === null;
  }

  /** Up to `length` bytes from `position` (null: the current position); an empty buffer at the end. */
  read(length: number, position: number | null = null): Effect<Buffer> {
    if (!Number.isInteger(length) || length < 0)
      throw new InvalidArgumentError(`file read(): length must be a whole number >= 0, got ${String(length)}`);
    this.live();
    return READ_PART<Buffer>(this, { length, position });
  }

  /** @internal The read of READ_PART. */
  async readPart(length: number, position: number | null): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.live().read(buffer, 0, length, position);
    return bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
  }

  write(data: string | Uint8Array, position: number | null = null): Effect<number> {
    const handle = this.live();
    return call(async () => {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      const { bytesWritten } = await handle.write(bytes, 0, bytes.length, position);
      return bytesWritten;
    });
  }

  /**
   * Writes `parts` at `position` now, on this thread: for a temp file, whose writes land in the page
   * cache, this costs less than a round trip through the thread pool (nginx writes its temp files so).
   */
  writeNow(parts: readonly Uint8Array[], position: number): void {
    const fd = this.live().fd;
    let rest = parts as Uint8Array[];
    let at = position;
    while (rest.length > 0) {
      let done = writevSync(fd, rest, at);
      if (done === 0)
        throw new FileShortError(
          this.path,
          'write',
          0,
          rest.reduce((n, p) => n + p.length, 0),
        );
      at += done;
      // a short write (rare for a regular file): go on from where it stopped
      let i = 0;
      while (i < rest.length && done >= rest[i]!.length) done -= rest[i++]!.length;
      rest = rest.slice(i);
      if (done > 0) rest[0] = rest[0]!.subarray(done);
    }
  }

  /** Reads up to `length` bytes from `position` into `into` now, on this thread (see writeNow); returns how many. */
  readNow(into: Uint8Array, length: number, position: number): number {
    return readSync(this.live().fd, into, 0, length, position);
  }

  stat(): Effect<Stats> {
    return call(this.live().stat());
  }

  /**
   * Hands the descriptor over to whoever takes it (a read stream that outlives this coroutine): it is
   * no longer closed when the coroutine ends, and this CoFile is closed.
   */
  release(): FileHandle {
    const handle = this.live();
    this.detach();
    return handle;
  }

  /** Closes it; waits until the descriptor is released. */
  close(): Effect<void> {
    const handle = this.handle;
    this.detach();
    return call(handle === null ? Promise.resolve() : handle.close());
  }

  private closeNow(): void {
    const handle = this.handle;
    this.detach();
    if (handle !== null) void handle.close().catch(() => undefined);
  }

  private detach(): void {
    if (this.handle === null) return;
    this.handle = null;
    this.owner.removeCleanup(this.closeWithOwner);
  }

  private live(): FileHandle {
    if (this.handle === null) throw new FileClosedError(this.path);
    return this.handle;
  }
}

function checkPath(path: string): void {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new InvalidArgumentError(
      `file: path must be a non-empty string without NUL bytes, got ${JSON.stringify(path)}`,
    );
  }
}
