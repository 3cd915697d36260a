import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * The file a request names under `root`, or null for every path that must be a 404: undecodable
 * escapes, NUL bytes, backslashes, empty or dot segments ("..", "."), and anything whose real path
 * (symlinks followed) is outside the root. Checked after decoding, so %2e%2e, %2f and friends cannot
 * sneak past; a name that decodes to another escape is taken literally, never decoded twice.
 */
export function namedPath(root: string, name: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    return null;
  }
  if (decoded === '' || decoded.includes('\0') || decoded.includes('\\') || decoded.startsWith('/') || isAbsolute(decoded)) return null;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return null;
  const full = resolve(root, decoded);
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
  return full;
}

/** True when `path` (if it exists) really lives under `root` once symlinks are followed. */
export async function staysInside(root: string, path: string): Promise<boolean> {
  let real: string;
  let realRoot: string;
  try {
    [real, realRoot] = await Promise.all([realpath(path), realpath(root)]);
  } catch {
    return false;
  }
  return real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}
