import { InvalidArgumentError } from '../errors/index.js';

/** An http(s) URL, or an error naming `what`. */
export function checkEndpoint(what: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`${what} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError(`${what} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  return value;
}
