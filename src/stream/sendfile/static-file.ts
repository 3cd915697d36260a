import { read } from 'node:fs';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { contentTypeFor } from './content-type.js';

/** What a file is, as stat says it: a change to any of these means the file is not the one cached. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.dev === b.dev;
}

export function etagOf(info: { size: number; mtimeMs: number }): string {
  return `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
}

/**
 * A regular file under the root, opened safely (openInside) and ready to answer from: its identity, its
 * validators and type, and its bytes — in memory (small files: the descriptor is closed then) or
 * behind the descriptor, read with positional reads so any number of responses share it. A file
 * dropped from the cache closes its descriptor once the last response using it is done.
 */
export class StaticFile {
  readonly identity: FileIdentity;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
  readonly contentType: string;
  /** The whole file, when small; null: read through `fd`. */
  readonly bytes: Buffer | null;
  /** The open descriptor (null once closed, or for a file held in memory). */
  private descriptor: FileHandle | null;
  private users = 0;
  private dropped = false;
  /** When this entry was last served or checked (ms, Date.now()). */
  usedAt = 0;
  checkedAt = 0;

  private constructor(
    readonly path: string,
    info: Stats,
    fd: FileHandle | null,
    bytes: Buffer | null,
    /** The name whose extension gives the type (NAME for NAME.gz). */
    typeOf: string,
  ) {
    this.identity = { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
    this.size = info.size;
    this.etag = etagOf(info);
    this.lastModified = info.mtime.toUTCString();
    this.contentType = contentTypeFor(typeOf);
    this.descriptor = fd;
    this.bytes = bytes;
  }

  /**
   * Takes over `fd` (open on `path`, described by `info`): files up to `memoryMax` bytes are read into
   * memory and the descriptor closed; if the file changed while it was read, it is kept on the descriptor.
   */
  static async open(path: string, fd: FileHandle, info: Stats, memoryMax: number, typeOf = path): Promise<StaticFile> {
    if (info.size > memoryMax) return new StaticFile(path, info, fd, null, typeOf);
    try {
      const bytes = Buffer.allocUnsafe(info.size);
      let got = 0;
      while (got < info.size) {
        const n = await readAt(fd.fd, bytes, got, info.size - got, got);
        if (n === 0) break;
        got += n;
      }
      const after = await fd.stat();
      if (got !== info.size || !sameFile(info, after)) return new StaticFile(path, info, fd, null, typeOf);
      closeQuietly(fd);
      return new StaticFile(path, info, null, bytes, typeOf);
    } catch (err) {
      closeQuietly(fd);
      throw err;
    }
  }

  /** The descriptor, for reads; null when the file is in memory or closed. */
  get fd(): number | null {
    return this.descriptor === null ? null : this.descriptor.fd;
  }

  /** A response starts using the descriptor: it stays open until release(). */
  acquire(): void {
    this.users++;
  }

  release(): void {
    if (--this.users === 0 && this.dropped) this.closeNow();
  }

  /** Out of the cache: closed as soon as no response uses it. */
  drop(): void {
    this.dropped = true;
    if (this.users === 0) this.closeNow();
  }

  /** Never cached: closed when the response that uses it releases it. */
  detach(): void {
    this.dropped = true;
  }

  private closeNow(): void {
    const fd = this.descriptor;
    this.descriptor = null;
    if (fd !== null) closeQuietly(fd);
  }
}

export function readAt(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

function closeQuietly(handle: FileHandle): void {
  handle.close().catch(() => undefined);
}
