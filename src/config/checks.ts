import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';

/** Checks of string settings: each answers the value (possibly normalised) or throws naming `what`. */

/** Labels of letters, digits and inner hyphens, joined by dots (RFC 1123), at most 253 characters. */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function checkHost(what: string, value: string): string {
  if (isIP(value) === 0 && !HOST_NAME.test(value))
    throw new InvalidArgumentError(`${what} must be a host name or IP address, got '${value}'`);
  return value;
}

export function checkRedisUrl(what: string, value: string): string {
  let url: URL;
  // as typed, the password (if any) masked
  const shown = value.replace(/^([^/]*\/\/[^/?#@]*?:)[^/?#]*@/, '$1***@');
  // `localhost:6379` parses as the scheme `localhost:`, `127.0.0.1:6379` not at all: say so in the user's own words
  const hint = /^[^/@]*:\d+$/.test(value) ? ` (a scheme is missing: redis://${value})` : '';
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`${what} must be a URL like redis://127.0.0.1:6379, got '${shown}'${hint}`);
  }
  if (!['redis:', 'rediss:', 'unix:'].includes(url.protocol)) {
    throw new InvalidArgumentError(`${what} must use redis://, rediss:// or unix://, got '${shown}'${hint}`);
  }
  if (url.protocol !== 'unix:' && url.hostname === '')
    throw new InvalidArgumentError(`${what} has no host: '${shown}'`);
  return value;
}

/** The URL with any password replaced, for logs and /status. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}

export function checkLocation(what: string, value: string): string {
  if (!/^\/([A-Za-z0-9._~-]+\/)*$/.test(value))
    throw new InvalidArgumentError(
      `${what} must be a path that starts and ends with '/', like '/send/', got '${value}'`,
    );
  return value;
}

/** An existing directory, answered as an absolute path. */
export function checkDirectory(what: string, value: string): string {
  let info;
  try {
    info = statSync(value);
  } catch {
    throw new InvalidArgumentError(`${what} must be an existing directory, got '${value}' (not found)`);
  }
  if (!info.isDirectory())
    throw new InvalidArgumentError(`${what} must be a directory, got '${value}' (not a directory)`);
  return resolve(value);
}

export function checkSuffix(what: string, value: string): string {
  if (!/^\.[A-Za-z0-9._-]+$/.test(value))
    throw new InvalidArgumentError(`${what} must look like '.tmp', got '${value}'`);
  return value;
}
