// Over 300 lines: one followed name's state, window and refresh, which share its fields, and the hub of them.
import { fstatSync, readSync, statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Signal } from '../../runtime/signal.js';
import { ParkedFollowers } from './parked.js';

/** What is under a followed name right now (refreshed once per change, shared by every follower). */
/**
 * Which file a descriptor or name is: device and inode (an inode number alone can repeat across
 * file systems, e.g. a symlink to another mount).
 */
export type FileId = string;

export function fileIdOf(info: { dev: number; ino: number }): FileId {
  return `${info.dev}:${info.ino}`;
}

export interface NamedFile {
  id: FileId;
  size: number;
}

export interface NameState {
  /** The growing file (NAME.tmp): which file it is and its size, or null if gone. */
  growing: NamedFile | null;
  /** The finished file (NAME): which file it is and its size, or null if not there (yet). */
  finished: NamedFile | null;
}

/** How many intervals in a row events may push the poll back (WatchedName.poll). */
const POLL_MAX_SKIPS = 10;

/** Most bytes one read of what was appended takes (a follower's own reads take as much). */
const APPENDED_BYTES = 64 * 1024;

/** Bytes of the followed file kept for followers to take without reading the file themselves. */
const WINDOW_BYTES = 1024 * 1024;

const CRLF = Buffer.from('\r\n');

/** Reads shared by all followers, and reads followers had to do themselves (fell behind the window). */
export const readCounters = { shared: 0, own: 0 };

/**
 * One followed name: its state, a signal its followers wait on, and a window of the newest bytes of
 * the file (read once per change, through the watch's own descriptor) that every follower takes from.
 */
export class WatchedName {
  readonly changed = new Signal();
  state: NameState = { growing: null, finished: null };
  followers = 0;
  /** the file whose bytes the window holds, or '' */
  windowId: FileId = '';
  /** window chunks in file order: [start offset, bytes] */
  private window: Array<[number, Buffer]> = [];
  private windowStart = 0;
  private windowEnd = 0;
  private windowBytes = 0;
  private reader: FileHandle | null = null;
  private refreshing = false;
  /** what a refresh asked for while one ran: done next, in the same run */
  private again: 'full' | 'content' | null = null;
  /** followers caught up: new chunks are written to their sockets by the refresh itself */
  readonly parked = new ParkedFollowers();
  /** where a read of new bytes lands before it is framed (one per followed name) */
  private scratch: Buffer | null = null;
  /** the last read of appended bytes filled the scratch buffer: there may be more */
  private lastReadFull = false;
  private timer: NodeJS.Timeout | null = null;
  /** Date.now() of the last poll */
  private polled = Date.now();

  /**
   * The poll behind the events: a full refresh once `interval` passed without an event for the name.
   * Events push it back (no wake-up of its own while the file grows), but never for longer than
   * POLL_MAX_SKIPS intervals, so a missed event is made up for even while others keep coming.
   */
  private readonly poll = (): void => {
    this.polled = Date.now();
    this.timer?.refresh();
    void this.refresh();
  };

  /** An event for the name came: the poll waits another interval (see poll). */
  private eventCame(): void {
    if (this.timer !== null && Date.now() - this.polled < POLL_MAX_SKIPS * this.intervalMs) this.timer.refresh();
  }
  private framed: Buffer | null = null;
  private framedStart = -1;

  /** the directory both names are in, and their last parts, as the watch's events name them */
  readonly dir: string;
  readonly growingName: string;
  readonly finishedName: string;

  constructor(
    readonly growingPath: string,
    readonly finishedPath: string,
    private readonly hub: WatchHub,
    private readonly intervalMs: number,
  ) {
    this.dir = dirname(finishedPath);
    this.growingName = basename(growingPath);
    this.finishedName = basename(finishedPath);
    this.timer = setTimeout(this.poll, intervalMs);
    this.timer.unref();
  }

  /**
   * Brings the state and the window up to date once however many events came meanwhile, then wakes
   * the followers: `full` re-stats both names; else (the growing file was written to) see written().
   */
  async refresh(full = true, event = false): Promise<void> {
    if (event) this.eventCame();
    if (this.refreshing) {
      this.again = this.again === 'full' || full ? 'full' : 'content';
      return;
    }
    if (!full) {
      this.written();
      return;
    }
    this.refreshing = true;
    do {
      this.again = null;
      const before = this.windowEnd;
      const beforeId = this.windowId;
      this.state = { growing: statOrNull(this.growingPath), finished: statOrNull(this.finishedPath) };
      await this.readNewBytes(); // waits only to open the file when it is a new one
      this.wake(before, beforeId);
      if (this.again === 'content') {
        this.again = null;
        this.written();
      }
    } while (this.again !== null);
    this.refreshing = false;
  }

  /**
   * The growing file was written to: what was appended past the window is read now, through the
   * window's descriptor (no stat: the names did not change, only the file's bytes; the bytes just
   * written are in the page cache, so the read does not wait on a disk). A read that finds nothing
   * new checks the descriptor's size (a truncation), and anything it cannot judge asks for a full refresh.
   */
  private written(): void {
    const before = this.windowEnd;
    const beforeId = this.windowId;
    let read: 'bytes' | 'none' | 'unknown';
    do read = this.readAppended();
    while (read === 'bytes' && this.lastReadFull && this.windowEnd - before < WINDOW_BYTES);
    if (read === 'unknown' || (read === 'none' && this.windowEnd === before && this.shrunk())) {
      void this.refresh();
      return;
    }
    if (this.windowEnd !== before) this.wake(before, beforeId);
  }

  /** The window's file is now shorter than what the window holds (truncated), or cannot be stat'ed. */
  private shrunk(): boolean {
    try {
      return fstatSync(this.reader!.fd).size < this.windowEnd;
    } catch {
      return true;
    }
  }

  /** After a refresh: the parked followers woken when the name's state is not plain growth of their file. */
  private wake(before: number, beforeId: FileId): void {
    const { growing, finished } = this.state;
    // plain growth of the file followed went to the parked followers' sockets; anything else is theirs to judge
    if (
      growing === null ||
      finished !== null ||
      growing.id !== this.windowId ||
      this.windowId !== beforeId ||
      this.windowEnd < before
    )
      this.parked.wakeAll();
    else if (this.parked.size > 0) this.parked.wakeDue(Date.now());
    this.changed.notify();
  }

  /** The window follows file `id` and reaches `offset`: a follower there needs no read of its own. */
  covers(id: FileId, offset: number): boolean {
    return id === this.windowId && offset >= this.windowStart && offset <= this.windowEnd;
  }

  /**
   * Up to `max` bytes of file `id` from `offset` if the window holds them (no syscall), else null.
   */
  take(id: FileId, offset: number, max: number): Buffer | null {
    if (id !== this.windowId || offset < this.windowStart || offset >= this.windowEnd) return null;
    for (let i = this.window.length - 1; i >= 0; i--) {
      const [start, bytes] = this.window[i]!;
      if (offset >= start) {
        const from = offset - start;
        return bytes.subarray(from, Math.min(bytes.length, from + max));
      }
    }
    return null;
  }

  /**
   * The newest window chunk already framed as one HTTP chunk (size line, bytes, CRLF), when a follower
   * at `offset` of file `id` takes exactly it: framed once, written by every follower as it is.
   */
  framedAt(id: FileId, offset: number, max: number): Buffer | null {
    const newest = this.window.at(-1);
    if (newest === undefined || id !== this.windowId || offset !== newest[0] || newest[1].length > max) return null;
    if (this.framed === null || this.framedStart !== offset) {
      const bytes = newest[1];
      this.framed = Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`, 'latin1'), bytes, CRLF]);
      this.framedStart = offset;
    }
    return this.framed;
  }

  release(): void {
    if (--this.followers > 0) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const reader = this.reader;
    this.reader = null;
    void reader?.close().catch(() => undefined);
    this.hub.forget(this);
  }

  /**
   * Reads what was appended past the window through its descriptor, once for every follower (no stat:
   * the names did not change, only the file's bytes): 'bytes' when some were, 'none' when there were
   * none past the window, 'unknown' when this cannot tell (no window of the growing file, a failed read).
   */
  private readAppended(): 'bytes' | 'none' | 'unknown' {
    const reader = this.reader;
    const growing = this.state.growing;
    if (reader === null || growing === null || growing.id !== this.windowId || this.state.finished !== null)
      return 'unknown';
    const scratch = (this.scratch ??= Buffer.allocUnsafeSlow(APPENDED_BYTES));
    const at = this.windowEnd;
    let bytesRead: number;
    try {
      bytesRead = readSync(reader.fd, scratch, 0, APPENDED_BYTES, at);
    } catch {
      return 'unknown';
    }
    this.lastReadFull = bytesRead === APPENDED_BYTES;
    if (bytesRead === 0) return 'none';
    readCounters.shared++;
    // framed at once, the bytes copied straight into the chunk every follower writes
    const sizeLine = `${bytesRead.toString(16)}\r\n`;
    const framed = Buffer.allocUnsafe(sizeLine.length + bytesRead + 2);
    framed.write(sizeLine, 0, 'latin1');
    scratch.copy(framed, sizeLine.length, 0, bytesRead);
    framed[framed.length - 2] = 13;
    framed[framed.length - 1] = 10;
    this.state = { growing: { id: growing.id, size: Math.max(growing.size, at + bytesRead) }, finished: null };
    this.append(framed.subarray(sizeLine.length, sizeLine.length + bytesRead), framed);
    return 'bytes';
  }

  /** Adds bytes read at the window's end; the parked followers there get them (framed) on their sockets now. */
  private append(bytes: Buffer, framed: Buffer | null): void {
    const start = this.windowEnd;
    this.window.push([start, bytes]);
    this.windowEnd += bytes.length;
    this.windowBytes += bytes.length;
    while (this.windowBytes > WINDOW_BYTES && this.window.length > 1) {
      const [, dropped] = this.window.shift()!;
      this.windowBytes -= dropped.length;
      this.windowStart = this.window[0]![0];
    }
    this.framed = framed;
    this.framedStart = framed === null ? -1 : start;
    if (this.parked.size > 0)
      this.parked.push(this.windowId, start, bytes.length, this.framedAt(this.windowId, start, Infinity)!, Date.now());
  }

  /** Brings the window up to the file's current size: one read for every follower. */
  private async readNewBytes(): Promise<void> {
    const { growing, finished } = this.state;
    // the file we read: NAME.tmp while it grows, the same file as NAME once renamed
    const current = growing ?? (finished !== null && finished.id === this.windowId ? finished : null);
    if (current === null) return;
    if (current.id !== this.windowId) {
      const previous = this.reader;
      this.reader = null;
      void previous?.close().catch(() => undefined);
      let replaced: boolean;
      try {
        this.reader = await open(growing !== null ? this.growingPath : this.finishedPath, 'r');
        replaced = fileIdOf(await this.reader.stat()) !== current.id;
      } catch {
        replaced = true;
      }
      if (replaced) {
        this.windowId = '';
        return;
      }
      this.windowId = current.id;
      this.resetWindow(current.size);
      return;
    }
    if (current.size < this.windowEnd) {
      this.resetWindow(current.size); // truncated: what the window holds may be gone
      return;
    }
    const reader = this.reader;
    if (reader === null || current.size === this.windowEnd) return;
    const length = Math.min(current.size - this.windowEnd, WINDOW_BYTES);
    const buffer = Buffer.allocUnsafe(length);
    let bytesRead: number;
    try {
      bytesRead = readSync(reader.fd, buffer, 0, length, this.windowEnd);
    } catch {
      return; // the next refresh tries again
    }
    if (bytesRead === 0) return;
    readCounters.shared++;
    this.append(bytesRead === length ? buffer : buffer.subarray(0, bytesRead), null);
  }

  private resetWindow(at: number): void {
    this.framed = null;
    this.framedStart = -1;
    this.window = [];
    this.windowBytes = 0;
    this.windowStart = at;
    this.windowEnd = at;
  }
}

/**
 * What is under `path` now, or null. Synchronous, like the reads of a followed file: on a local file
 * system a stat takes microseconds, where a round trip through the thread pool cost 100+ µs of CPU per
 * call on the 2-core machine the benchmarks ran on (README "Followers").
 */
function statOrNull(path: string): NamedFile | null {
  try {
    const s = statSync(path, { throwIfNoEntry: false });
    return s === undefined ? null : { id: fileIdOf(s), size: s.size };
  } catch {
    return null;
  }
}

/**
 * Wake-ups for followers of growing files: one fs.watch (inotify) per directory and one poll timer
 * per followed name (the fallback, at `interval`), however many clients follow it.
 */
export class WatchHub {
  private readonly names = new Map<string, WatchedName>();
  private readonly dirs = new Map<string, { watcher: FSWatcher | null; names: number }>();

  constructor(private readonly intervalMs: number) {}

  /** The shared watch of NAME.tmp / NAME; call release() on it when done following. */
  async follow(growingPath: string, finishedPath: string): Promise<WatchedName> {
    let watched = this.names.get(finishedPath);
    if (watched === undefined) {
      watched = new WatchedName(growingPath, finishedPath, this, this.intervalMs);
      this.names.set(finishedPath, watched);
      this.watchDir(dirname(finishedPath));
      await watched.refresh();
    }
    watched.followers++;
    return watched;
  }

  /** Names followed now, and the clients following them. */
  stats(): { files: number; followers: number } {
    let followers = 0;
    for (const watched of this.names.values()) followers += watched.followers;
    return { files: this.names.size, followers };
  }

  /** @internal */
  forget(watched: WatchedName): void {
    this.names.delete(watched.finishedPath);
    const dir = dirname(watched.finishedPath);
    const entry = this.dirs.get(dir);
    if (entry !== undefined && --entry.names === 0) {
      entry.watcher?.close();
      this.dirs.delete(dir);
    }
  }

  private watchDir(dir: string): void {
    const entry = this.dirs.get(dir);
    if (entry !== undefined) {
      entry.names++;
      return;
    }
    let watcher: FSWatcher | null;
    try {
      watcher = watch(dir, { persistent: false }, (event, filename) =>
        this.onEvent(dir, event, filename === null ? null : String(filename)),
      );
      watcher.on('error', () => {
        // the poll timers go on
      });
    } catch {
      watcher = null; // no inotify here: polling only
    }
    this.dirs.set(dir, { watcher, names: 1 });
  }

  /** A write to a growing file needs only its new bytes read; any other event, both names stat'ed. */
  private onEvent(dir: string, event: string, filename: string | null): void {
    for (const watched of this.names.values()) {
      if (watched.dir !== dir) continue;
      if (filename === watched.growingName) void watched.refresh(event !== 'change', true);
      else if (filename === null || filename === watched.finishedName) void watched.refresh(true, true);
    }
  }
}
