import { HttpProtocolError, InvalidArgumentError } from '../../src/errors/index.js';

export type HeaderValue = string | string[];
export type Headers = Record<string, HeaderValue>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Header bytes travel as latin1 (as Node reads them): a char above \xFF has no byte. */
const BAD_VALUE = /[\r\n\0\u0100-\uffff]/;

/** Request target: origin-form (/path?q), asterisk-form, or absolute-form; no spaces or control bytes. */
// eslint-disable-next-line no-control-regex -- it matches control bytes to refuse them
const TARGET = /^(\/[^\s\0-\x1f\x7f\u0100-\uffff]*|\*|https?:\/\/[^\s\0-\x1f\x7f\u0100-\uffff]+)$/;

export interface RequestHead {
  method: string;
  path: string;
  hostHeader: string;
  headers: Headers;
  bodyLength: number | null;
}

/** The request head as latin1 text (send it as Buffer.from(head, 'latin1')); throws InvalidArgumentError naming whatever would break the request. */
export function buildRequestHead(head: RequestHead): string {
  if (!TOKEN.test(head.method)) throw new InvalidArgumentError(`http request: invalid method '${head.method}'`);
  if (!TARGET.test(head.path)) throw new InvalidArgumentError(`http request: invalid path '${head.path}'`);
  let text = `${head.method} ${head.path} HTTP/1.1\r\n`;
  let hasHost = false;
  let hasLength = false;
  let hasUserAgent = false;
  for (const [name, value] of Object.entries(head.headers)) {
    if (!TOKEN.test(name)) throw new InvalidArgumentError(`http request: invalid header name '${name}'`);
    const lower = name.toLowerCase();
    if (lower === 'host') hasHost = true;
    else if (lower === 'content-length' || lower === 'transfer-encoding') hasLength = true;
    else if (lower === 'user-agent') hasUserAgent = true;
    for (const one of Array.isArray(value) ? value : [value]) {
      const v = String(one);
      if (BAD_VALUE.test(v))
        throw new InvalidArgumentError(
          `http request: header '${name}' has a CR, LF or NUL, or a character above \\xFF, in its value`,
        );
      text += `${name}: ${v}\r\n`;
    }
  }
  if (!hasHost) text += `Host: ${head.hostHeader}\r\n`;
  if (!hasUserAgent) text += 'User-Agent: cosocket\r\n';
  if (!hasLength && head.bodyLength !== null) text += `Content-Length: ${head.bodyLength}\r\n`;
  return `${text}\r\n`;
}

export interface StatusLine {
  version: '1.0' | '1.1';
  status: number;
  reason: string;
}

export function parseStatusLine(peer: string, line: string): StatusLine {
  const match = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(line);
  if (match === null || match[2]! < '100')
    throw new HttpProtocolError(peer, `invalid status line '${line.slice(0, 80)}'`);
  return { version: match[1] === '0' ? '1.0' : '1.1', status: Number(match[2]), reason: match[3] ?? '' };
}

/** Adds one header line to `headers` (names lowercased; repeated names become arrays). */
export function addHeaderLine(peer: string, line: string, headers: Headers, raw: Array<[string, string]>): void {
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon) : '';
  if (!TOKEN.test(name)) throw new HttpProtocolError(peer, `invalid header line '${line.slice(0, 80)}'`);
  const value = line.slice(colon + 1).trim();
  if (value.indexOf('\r') >= 0 || value.indexOf('\0') >= 0)
    throw new HttpProtocolError(peer, `header '${name}' has a CR or NUL in its value`);
  raw.push([name, value]);
  const lower = name.toLowerCase();
  const existing = headers[lower];
  if (existing === undefined) headers[lower] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else headers[lower] = [existing, value];
}

export function headerText(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
