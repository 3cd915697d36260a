import { closeSync, openSync, writeSync } from 'node:fs';
import { UsageError } from '../errors/index.js';
import { compileLogFormat } from './log-format.js';
import type { LogLine, LoggedRequest } from './log-format.js';

export interface AccessLogSettings {
  /** A file (appended to) or `stdout`. */
  path: string;
  format: string;
  /** Bytes kept before a write (nginx's `buffer=`); 0 writes each line at once. */
  buffer: number;
  /** ms a buffered line may wait (nginx's `flush=`). */
  flush: number;
}

/** Opens (creating) the access log file once, so a path that cannot be written stops the start with its key. */
export function checkAccessLogPath(path: string | null, what = '--access-log (accessLog.path)'): void {
  if (path === null || path === 'stdout') return;
  try {
    closeSync(openSync(path, 'a'));
  } catch (err) {
    throw new UsageError(
      `${what}: cannot open '${path}' for appending: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/**
 * nginx's access_log: a line per request in its log_format, kept in a buffer that is written when
 * full, every `flush` ms and at close. `reopen()` (SIGUSR2) opens the path again, for logrotate's
 * rename-then-reopen. Each write is whole lines, appended, so processes may share the file.
 */
export class AccessLog {
  private readonly line: LogLine;
  private fd: number | null = null;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly settings: AccessLogSettings) {
    this.line = compileLogFormat(settings.format, 'accessLog.format');
    if (settings.path !== 'stdout') this.fd = openSync(settings.path, 'a');
  }

  /** Adds the request's line. */
  log(request: LoggedRequest, now = new Date()): void {
    if (this.closed) return;
    const text = `${this.line(request, now)}\n`;
    this.pending.push(text);
    this.pendingBytes += Buffer.byteLength(text);
    if (this.pendingBytes >= this.settings.buffer) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.settings.flush);
      this.timer.unref();
    }
  }

  /** Writes what is buffered. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (this.fd === null) {
      process.stdout.write(text);
      return;
    }
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at);
  }

  /** Writes what is buffered to the file it was for, then opens the path again (a new file if it was renamed). */
  reopen(): void {
    this.flush();
    if (this.fd === null || this.closed) return;
    const next = openSync(this.settings.path, 'a');
    closeSync(this.fd);
    this.fd = next;
  }

  close(): void {
    this.flush();
    this.closed = true;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
