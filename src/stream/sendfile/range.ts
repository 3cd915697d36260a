/** A single byte range, inclusive, within a file of `size` bytes. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a Range header against a file of `size` bytes: a range to send, 'unsatisfiable' (416), or
 * null when the header is absent, not a bytes range, or asks for several ranges (served whole, as
 * many servers do). For a growing file pass size = Infinity: only "bytes=N-" makes sense then.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return null;
  const [, from, to] = match;
  if (from === '' && to === '') return null;
  if (from === '') {
    const suffix = Number(to);
    if (!Number.isFinite(size)) return null;
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (!Number.isSafeInteger(start) || (Number.isFinite(size) && start >= size) || end < start) return 'unsatisfiable';
  return { start, end };
}
