import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import type { FileSink } from '../sink.js';
import { contentTypeFor } from './content-type.js';
import type { FileInside } from './open-inside.js';
import { parseRange } from './range.js';

import { etagOf } from './static-file.js';

export { etagOf } from './static-file.js';

function notModified(ctx: FileSink, etag: string, info: Stats): boolean {
  const ifNoneMatch = ctx.request.headers['if-none-match'];
  if (typeof ifNoneMatch === 'string') {
    return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
  }
  const ifModifiedSince = ctx.request.headers['if-modified-since'];
  if (typeof ifModifiedSince === 'string') {
    const since = Date.parse(ifModifiedSince);
    return Number.isFinite(since) && Math.floor(info.mtimeMs / 1000) * 1000 <= since;
  }
  return false;
}

/**
 * A finished file as a static response: Content-Length, Last-Modified, ETag, Accept-Ranges, a single
 * Range (206, or 416 when it cannot be met), If-None-Match / If-Modified-Since (304), Content-Type by
 * extension; HEAD gets the headers only. Every byte comes from the descriptor `opened` (the stream takes
 * it over), never from the name again. Returns what the handler should return (a stream, or nothing).
 */
export function serveFinished(ctx: FileSink, path: string, opened: FileInside): NodeJS.ReadableStream | undefined {
  const { info } = opened;
  const etag = etagOf(info);
  ctx.header('etag', etag).header('last-modified', info.mtime.toUTCString()).header('accept-ranges', 'bytes');
  ctx.header('content-type', contentTypeFor(path));
  if (notModified(ctx, etag, info)) {
    ctx.status = 304;
    return undefined;
  }
  let start = 0;
  let end = info.size - 1;
  const range = parseRange(ctx.request.headers.range, info.size);
  if (range === 'unsatisfiable') {
    ctx.status = 416;
    ctx.header('content-range', `bytes */${info.size}`);
    return undefined;
  }
  if (range !== null) {
    ({ start, end } = range);
    ctx.status = 206;
    ctx.header('content-range', `bytes ${start}-${end}/${info.size}`);
  }
  const length = info.size === 0 ? 0 : end - start + 1;
  ctx.header('content-length', length);
  if (ctx.request.method === 'HEAD' || length === 0) return undefined;
  // send_timeout: a client that stops reading is let go (fastify's piping has no timeout of its own)
  const raw = ctx.reply.raw;
  if (raw.destroyed) return undefined; // the client is gone: the coroutine's cleanup closes the descriptor
  raw.setTimeout(ctx.sendTimeout, () => raw.destroy());
  const body = createReadStream('', { fd: opened.file.release(), start, end, autoClose: true });
  // the stream owns the descriptor now: however the response ends, the stream (and the descriptor) goes too
  raw.once('close', () => body.destroy());
  return body;
}
