/** What ApacheBench puts into its one request, from its flags. */
export interface RequestSpec {
  method: string;
  /** The request target: the path and query, or the full URL through a proxy (-X). */
  target: string;
  /** `host[:port]` as ab writes it: the port only when it is not the scheme's default. */
  hostField: string;
  keepalive: boolean;
  /** -C: ab keeps only the last one. */
  cookie?: string;
  /** -A and -P, base64 lines in the order given. */
  auth: readonly string[];
  /** -p/-u: the body and its -T type. */
  body?: { bytes: Buffer; contentType: string };
  /** -H lines, as given. */
  headers: readonly string[];
}

function overrides(headers: readonly string[], name: string): boolean {
  const prefix = `${name.toLowerCase()}:`;
  return headers.some((line) => line.slice(0, prefix.length).toLowerCase() === prefix);
}

/**
 * ab 2.3's request bytes: `METHOD target HTTP/1.0`, `Connection: Keep-Alive` with -k, the cookie, the
 * credentials, Content-length/Content-type with a body, the -H lines, then Host, User-Agent and Accept
 * unless a -H line gave them.
 */
export function abRequest(spec: RequestSpec): Buffer {
  const lines = [`${spec.method} ${spec.target} HTTP/1.0`];
  if (spec.keepalive) lines.push('Connection: Keep-Alive');
  if (spec.cookie !== undefined) lines.push(`Cookie: ${spec.cookie}`);
  lines.push(...spec.auth);
  if (spec.body !== undefined)
    lines.push(`Content-length: ${spec.body.bytes.length}`, `Content-type: ${spec.body.contentType}`);
  lines.push(...spec.headers);
  if (!overrides(spec.headers, 'Host')) lines.push(`Host: ${spec.hostField}`);
  if (!overrides(spec.headers, 'User-Agent')) lines.push('User-Agent: ApacheBench/2.3');
  if (!overrides(spec.headers, 'Accept')) lines.push('Accept: */*');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return spec.body === undefined ? head : Buffer.concat([head, spec.body.bytes]);
}

/** `Authorization: Basic ...` (or Proxy-Authorization) from "user:password", as ab encodes it. */
export function basicAuthLine(header: 'Authorization' | 'Proxy-Authorization', credentials: string): string {
  return `${header}: Basic ${Buffer.from(credentials.trimStart(), 'latin1').toString('base64')}`;
}
