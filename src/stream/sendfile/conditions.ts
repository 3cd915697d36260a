import type { IncomingHttpHeaders } from 'node:http';

/** The validators a conditional request is judged against. */
export interface Validators {
  etag: string;
  /** mtime in ms (HTTP dates have whole seconds) */
  mtimeMs: number;
}

/** What the preconditions ask: go on, 304, or 412 (RFC 9110 section 13.2.2, in its order). */
export type Precondition = 'proceed' | 'not-modified' | 'failed';

function tagsOf(header: string): string[] {
  return header.split(',').map((tag) => tag.trim());
}

const opaque = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);

function modifiedAfter(mtimeMs: number, header: string): boolean | null {
  const since = Date.parse(header);
  if (!Number.isFinite(since)) return null;
  return Math.floor(mtimeMs / 1000) * 1000 > since;
}

/**
 * If-Match / If-Unmodified-Since (412 when they fail), then If-None-Match / If-Modified-Since (304 for
 * GET and HEAD), as nginx evaluates them for a static file.
 */
export function evaluatePreconditions(headers: IncomingHttpHeaders, file: Validators): Precondition {
  const ifMatch = headers['if-match'];
  if (typeof ifMatch === 'string') {
    // strong comparison: a weak tag never matches
    const tags = tagsOf(ifMatch);
    if (!tags.includes('*') && !tags.includes(file.etag)) return 'failed';
  } else {
    const ifUnmodifiedSince = headers['if-unmodified-since'];
    if (typeof ifUnmodifiedSince === 'string' && modifiedAfter(file.mtimeMs, ifUnmodifiedSince) === true)
      return 'failed';
  }
  const ifNoneMatch = headers['if-none-match'];
  if (typeof ifNoneMatch === 'string') {
    // weak comparison
    const tags = tagsOf(ifNoneMatch);
    return tags.includes('*') || tags.some((tag) => opaque(tag) === file.etag) ? 'not-modified' : 'proceed';
  }
  const ifModifiedSince = headers['if-modified-since'];
  if (typeof ifModifiedSince === 'string' && modifiedAfter(file.mtimeMs, ifModifiedSince) === false)
    return 'not-modified';
  return 'proceed';
}

/**
 * If-Range: a Range applies only while the representation is the one the client has — the same strong
 * ETag, or exactly its Last-Modified date. Absent: the Range applies.
 */
export function rangeStillApplies(headers: IncomingHttpHeaders, file: Validators & { lastModified: string }): boolean {
  const ifRange = headers['if-range'];
  if (typeof ifRange !== 'string') return true;
  const value = ifRange.trim();
  if (value.startsWith('"')) return value === file.etag;
  if (value.startsWith('W/')) return false;
  const date = Date.parse(value);
  return Number.isFinite(date) && date === Math.floor(file.mtimeMs / 1000) * 1000;
}

/** The client takes gzip (Accept-Encoding names gzip, or *, with a q above 0). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';').map((s) => s.trim());
    const name = coding.toLowerCase();
    if (name !== 'gzip' && name !== 'x-gzip' && name !== '*') continue;
    const q = params.find((p) => p.toLowerCase().startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}
