import { readlinkSync, statSync, watch } from 'node:fs';
import type { FSWatcher, Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { StaticFile, sameFile } from './static-file.js';

/** nginx's open_file_cache: how many files, dropped after `inactive` ms unused, re-checked after `valid` ms. */
export interface OpenFileCacheOptions {
  /** Most files kept (the least recently used goes first); 0: no cache, every request opens its file. */
  max: number;
  /** A file not asked for in this long (ms) is dropped. */
  inactive: number;
  /**
   * 0: every request checks the name with one stat (inode, size, mtime, ctime) before a cached file is
   * served. Above 0: served unchecked for up to this long (nginx's open_file_cache_valid), and the
   * cache's own inotify watches drop a file as soon as its name or bytes change.
   */
  valid: number;
  /** Files up to this size are kept in memory (the descriptor closed); larger ones by descriptor. */
  memoryMax: number;
}

/** A name known to have no file (a NAME.gz that is not there), checked like a file. */
interface Missing {
  readonly missing: true;
  usedAt: number;
  checkedAt: number;
}

type Entry = StaticFile | Missing;

/** The names a cached entry is watched under: the one asked for and, when a symlink leads elsewhere, the real one. */
interface Watched {
  entry: Entry;
  places: Array<[dir: string, name: string]>;
}

interface DirWatch {
  watcher: FSWatcher | null;
  names: Map<string, Set<string>>;
}

const MISSING_CHECK: Missing = { missing: true, usedAt: 0, checkedAt: 0 };

/**
 * Open, checked files by path, reused across requests: the descriptor or the bytes, the validators
 * and the type are found without an open. A replaced, truncated, appended, deleted or re-linked file
 * is never served once stat of its name shows the change (default: checked on every request); with
 * `valid` set, inotify watches of the cache's own drop it early.
 */
export class OpenFileCache {
  private readonly entries = new Map<string, Watched>();
  private readonly dirs = new Map<string, DirWatch>();
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(readonly options: OpenFileCacheOptions) {}

  get enabled(): boolean {
    return this.options.max > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The cached file at `path` if it is still the file under that name (one stat, or none within
   * `valid`), 'missing' for a name known to have no file, undefined when the caller must open it.
   */
  lookup(path: string): StaticFile | 'missing' | undefined {
    const watched = this.entries.get(path);
    if (watched === undefined) return undefined;
    const entry = watched.entry;
    const now = Date.now();
    const valid = this.options.valid;
    if (valid === 0 || now - entry.checkedAt >= valid) {
      const info = statSync(path, { throwIfNoEntry: false });
      const still =
        entry instanceof StaticFile
          ? info !== undefined && info.isFile() && sameFile(entry.identity, info)
          : info === undefined || !info.isFile();
      if (!still) {
        this.remove(path);
        return undefined;
      }
      entry.checkedAt = now;
    }
    entry.usedAt = now;
    return entry instanceof StaticFile ? entry : 'missing';
  }

  /**
   * A StaticFile of the descriptor `fd` (opened safely on `path`, `info` its fstat), kept in the cache
   * when the cache is on. The caller acquires it to use it; without a cache it is closed once released.
   */
  async fill(path: string, fd: FileHandle, info: Stats, typeOf = path): Promise<StaticFile> {
    const real = this.enabled && this.options.valid > 0 ? realPathOf(fd.fd) : null;
    const file = await StaticFile.open(path, fd, info, this.options.memoryMax, typeOf);
    if (!this.enabled || this.closed) {
      file.detach();
      return file;
    }
    const now = Date.now();
    file.usedAt = now;
    file.checkedAt = now;
    this.insert(path, file, real);
    return file;
  }

  /** Remembers that `path` names no regular file (checked again like any entry). */
  markMissing(path: string): void {
    if (!this.enabled || this.closed) return;
    const now = Date.now();
    this.insert(path, { ...MISSING_CHECK, usedAt: now, checkedAt: now }, null);
  }

  /** Drops every entry, its watches and timer. */
  close(): void {
    this.closed = true;
    for (const path of [...this.entries.keys()]) this.remove(path);
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private insert(path: string, entry: Entry, real: string | null): void {
    if (this.entries.has(path)) this.remove(path);
    if (this.entries.size >= this.options.max) this.evictOldest();
    const places: Array<[string, string]> = [];
    if (this.options.valid > 0) {
      places.push([dirname(path), basename(path)]);
      if (real !== null && real !== path) places.push([dirname(real), basename(real)]);
      for (const [dir, name] of places) this.watchName(dir, name, path);
    }
    this.entries.set(path, { entry, places });
    this.sweeper ??= this.startSweeper();
  }

  private remove(path: string): void {
    const watched = this.entries.get(path);
    if (watched === undefined) return;
    this.entries.delete(path);
    for (const [dir, name] of watched.places) this.unwatchName(dir, name, path);
    if (watched.entry instanceof StaticFile) watched.entry.drop();
  }

  private evictOldest(): void {
    let oldest: string | null = null;
    let oldestAt = Infinity;
    for (const [path, { entry }] of this.entries) {
      if (entry.usedAt < oldestAt) {
        oldestAt = entry.usedAt;
        oldest = path;
      }
    }
    if (oldest !== null) this.remove(oldest);
  }

  private startSweeper(): NodeJS.Timeout {
    const every = Math.max(1_000, Math.min(60_000, Math.floor(this.options.inactive / 2)));
    const timer = setInterval(() => {
      const before = Date.now() - this.options.inactive;
      for (const [path, { entry }] of this.entries) if (entry.usedAt < before) this.remove(path);
    }, every);
    timer.unref();
    return timer;
  }

  private watchName(dir: string, name: string, path: string): void {
    let watch = this.dirs.get(dir);
    if (watch === undefined) {
      watch = { watcher: this.watchDir(dir), names: new Map() };
      this.dirs.set(dir, watch);
    }
    let paths = watch.names.get(name);
    if (paths === undefined) watch.names.set(name, (paths = new Set()));
    paths.add(path);
  }

  private unwatchName(dir: string, name: string, path: string): void {
    const watch = this.dirs.get(dir);
    const paths = watch?.names.get(name);
    if (watch === undefined || paths === undefined) return;
    paths.delete(path);
    if (paths.size > 0) return;
    watch.names.delete(name);
    if (watch.names.size > 0) return;
    watch.watcher?.close();
    this.dirs.delete(dir);
  }

  private watchDir(dir: string): FSWatcher | null {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, filename) =>
        this.changed(dir, filename === null ? null : String(filename)),
      );
      // a watch that fails leaves its entries to `valid` alone
      watcher.on('error', () => undefined);
      return watcher;
    } catch {
      return null;
    }
  }

  /** Something under `name` in `dir` changed (null: unknown what): its entries go. */
  private changed(dir: string, name: string | null): void {
    const watch = this.dirs.get(dir);
    if (watch === undefined) return;
    const paths =
      name === null ? [...watch.names.values()].flatMap((set) => [...set]) : [...(watch.names.get(name) ?? [])];
    for (const path of paths) this.remove(path);
  }
}

/** Where the descriptor really is (Linux), for watching the target of a symlink; null elsewhere. */
function realPathOf(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}
