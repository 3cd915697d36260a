import { read } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { evaluatePreconditions, rangeStillApplies } from './conditions.js';
import { parseRange } from './range.js';
import type { StaticFile } from './static-file.js';

export interface StaticAnswerOptions {
  /** nginx's `expires`: Cache-Control max-age and Expires this many ms ahead; null: neither. */
  expires: number | null;
  /** ms a client may take to accept what is sent (send_timeout). */
  sendTimeout: number;
}

export interface Variant {
  /** Content-Encoding of these bytes (a NAME.gz served for NAME), or null. */
  encoding: 'gzip' | null;
  /** Vary: Accept-Encoding (the answer depends on it: a NAME.gz exists). */
  vary: boolean;
  /**
   * The bytes present of a file still being written: only a Range of them is answered (206 with
   * `bytes N-M/*`), without validators, never cached by the client.
   */
  growing: boolean;
}

export const PLAIN: Variant = { encoding: null, vary: false, growing: false };

/** Most bytes one read from a large file takes (and one socket write sends). */
const READ_SIZE = 256 * 1024;

/**
 * Answers GET/HEAD for `file` on Node's response, head and body in one write when the body is in
 * memory: Content-Length, validators, Accept-Ranges, a single Range (206 / 416) subject to If-Range,
 * 304 / 412 preconditions, Cache-Control / Expires. A large file is read through its shared descriptor
 * into the socket in big reads, with backpressure; a client that stops reading is let go after
 * `sendTimeout`. `file` is acquired for as long as the answer needs it.
 */
export function answerStatic(
  req: IncomingMessage,
  res: ServerResponse,
  file: StaticFile,
  options: StaticAnswerOptions,
  variant: Variant = PLAIN,
): void {
  const headers = req.headers;
  const head = headFields(file, options, variant);
  if (!variant.growing) {
    const precondition = evaluatePreconditions(headers, { etag: file.etag, mtimeMs: file.identity.mtimeMs });
    if (precondition !== 'proceed') {
      if (precondition === 'failed') head.push('Content-Length', '0');
      res.writeHead(precondition === 'failed' ? 412 : 304, head);
      res.end();
      return;
    }
  }
  const size = file.size;
  let status = 200;
  let start = 0;
  let end = size - 1;
  const rangeHeader = headers.range;
  const range =
    rangeHeader !== undefined &&
    (variant.growing ||
      rangeStillApplies(headers, { etag: file.etag, mtimeMs: file.identity.mtimeMs, lastModified: file.lastModified }))
      ? parseRange(rangeHeader, size)
      : null;
  if (range === 'unsatisfiable') {
    // a growing file has no complete length to name yet: the Content-Range is left out (RFC 9110 allows it)
    if (!variant.growing) head.push('Content-Range', `bytes */${size}`);
    head.push('Content-Length', '0');
    res.writeHead(416, head);
    res.end();
    return;
  }
  if (range !== null) {
    ({ start, end } = range);
    status = 206;
    head.push('Content-Range', `bytes ${start}-${end}/${variant.growing ? '*' : size}`);
  }
  const length = size === 0 ? 0 : end - start + 1;
  head.push('Content-Length', String(length));
  if (req.method === 'HEAD' || length === 0) {
    res.writeHead(status, head);
    res.end();
    return;
  }
  const bytes = file.bytes;
  if (bytes !== null) {
    res.writeHead(status, head);
    res.end(start === 0 && end === size - 1 ? bytes : bytes.subarray(start, end + 1));
    return;
  }
  res.writeHead(status, head);
  pump(res, file, start, end, options.sendTimeout);
}

/** The head's fields as an array (Node's flat form), without Content-Length. */
function headFields(file: StaticFile, options: StaticAnswerOptions, variant: Variant): string[] {
  const head = ['Content-Type', file.contentType, 'Accept-Ranges', 'bytes'];
  if (variant.growing) {
    head.push('Cache-Control', 'no-store');
    return head;
  }
  head.push('Last-Modified', file.lastModified, 'ETag', file.etag);
  if (variant.encoding !== null) head.push('Content-Encoding', variant.encoding);
  if (variant.vary) head.push('Vary', 'Accept-Encoding');
  if (options.expires !== null) {
    head.push(
      'Cache-Control',
      `max-age=${Math.floor(options.expires / 1000)}`,
      'Expires',
      new Date(Date.now() + options.expires).toUTCString(),
    );
  }
  return head;
}

/** Bytes start..end (inclusive) of `file`'s descriptor into `res`, a big read at a time, waiting for drain. */
function pump(res: ServerResponse, file: StaticFile, start: number, end: number, sendTimeout: number): void {
  const fd = file.fd;
  if (fd === null) {
    res.destroy(); // cannot happen for a file the caller holds; cut rather than send a wrong body
    return;
  }
  file.acquire();
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    file.release();
  };
  res.once('close', release);
  res.setTimeout(sendTimeout, () => res.destroy());
  let position = start;
  const step = (): void => {
    if (res.destroyed) return release();
    const length = Math.min(READ_SIZE, end + 1 - position);
    const buffer = Buffer.allocUnsafe(length);
    read(fd, buffer, 0, length, position, (err, n) => {
      if (res.destroyed) return release();
      if (err !== null || n === 0) {
        // the file shrank under its descriptor: cut, so the client cannot take a short body for whole
        release();
        res.destroy();
        return;
      }
      position += n;
      const piece = n === length ? buffer : buffer.subarray(0, n);
      if (position > end) {
        release();
        res.end(piece);
        return;
      }
      if (res.write(piece)) step();
      else res.once('drain', step);
    });
  };
  step();
}
