import { isAbsolute, relative, resolve } from 'node:path';

/**
 * The file a request names under `root`, or null for every path that must be a 404: undecodable
 * escapes, NUL bytes, backslashes, empty or dot segments ("..", "."). Checked after decoding, so
 * %2e%2e, %2f and friends cannot sneak past; a name that decodes to another escape is taken literally,
 * never decoded twice. Where symlinks lead is checked on the opened descriptor (openInside), not here.
 */
export function namedPath(root: string, name: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    return null;
  }
  if (
    decoded === '' ||
    decoded.includes('\0') ||
    decoded.includes('\\') ||
    decoded.startsWith('/') ||
    isAbsolute(decoded)
  )
    return null;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return null;
  const full = resolve(root, decoded);
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
  return full;
}
