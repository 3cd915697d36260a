import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Signal } from '../../runtime/signal.js';

/** What is under a followed name right now (refreshed once per change, shared by every follower). */
export interface NameState {
  /** The growing file (NAME.tmp): its inode and size, or null if gone. */
  growing: { ino: number; size: number } | null;
  /** The finished file (NAME): its inode and size, or null if not there (yet). */
  finished: { ino: number; size: number } | null;
}

/** One followed name: its state and a signal its followers wait on. */
export class WatchedName {
  readonly changed = new Signal();
  state: NameState = { growing: null, finished: null };
  followers = 0;
  private refreshing = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly growingPath: string,
    readonly finishedPath: string,
    private readonly hub: WatchHub,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  /** Re-stats both names once (however many events came meanwhile), then wakes the followers. */
  async refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = true;
    do {
      this.again = false;
      const [growing, finished] = await Promise.all([statOrNull(this.growingPath), statOrNull(this.finishedPath)]);
      this.state = { growing, finished };
      this.changed.notify();
    } while (this.again);
    this.refreshing = false;
  }

  release(): void {
    if (--this.followers > 0) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.hub.forget(this);
  }
}

async function statOrNull(path: string): Promise<{ ino: number; size: number } | null> {
  try {
    const s = await stat(path);
    return { ino: s.ino, size: s.size };
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
    let watcher: FSWatcher | null = null;
    try {
      watcher = watch(dir, { persistent: false }, (_event, filename) => this.onEvent(dir, filename === null ? null : String(filename)));
      watcher.on('error', () => {
        // the poll timers go on
      });
    } catch {
      watcher = null; // no inotify here: polling only
    }
    this.dirs.set(dir, { watcher, names: 1 });
  }

  private onEvent(dir: string, filename: string | null): void {
    for (const watched of this.names.values()) {
      if (dirname(watched.finishedPath) !== dir) continue;
      if (filename === null || filename === basename(watched.finishedPath) || filename === basename(watched.growingPath)) void watched.refresh();
    }
  }
}
