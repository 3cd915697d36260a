import { connect } from 'node:net';

export interface RawResponse {
  head: string;
  /** Chunks of a chunked body as framed on the wire (empty for other bodies). */
  chunks: Buffer[];
  body: Buffer;
  /** The terminating 0-chunk arrived. */
  complete: boolean;
}

/**
 * Parses raw response bytes strictly: a head, then chunked framing (hex size line, exactly that many
 * bytes, CRLF) up to the 0-chunk. Throws on any framing error.
 */
export function parseChunked(raw: Buffer): RawResponse {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error('no complete response head');
  const head = raw.subarray(0, headEnd).toString('latin1');
  const chunked = /\r\ntransfer-encoding: chunked/i.test(head);
  let at = headEnd + 4;
  if (!chunked) return { head, chunks: [], body: raw.subarray(at), complete: true };
  const chunks: Buffer[] = [];
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd < 0) return { head, chunks, body: Buffer.concat(chunks), complete: false };
    const sizeText = raw.subarray(at, lineEnd).toString('latin1');
    if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size line '${sizeText}'`);
    const size = parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // optional trailer fields, then an empty line
      const end = raw.indexOf('\r\n\r\n', at - 2);
      const trailers = end >= 0 ? raw.subarray(at, end).toString('latin1') : '';
      if (trailers !== '' && !/^([!#$%&'*+.^_`|~0-9A-Za-z-]+: [^\r\n]*\r\n?)+$/.test(trailers + '\r\n'))
        throw new Error(`bad trailer section '${trailers}'`);
      return { head, chunks, body: Buffer.concat(chunks), complete: end >= 0 };
    }
    if (raw.length < at + size + 2) return { head, chunks, body: Buffer.concat(chunks), complete: false };
    chunks.push(raw.subarray(at, at + size));
    if (raw[at + size] !== 13 || raw[at + size + 1] !== 10) throw new Error('chunk data not followed by CRLF');
    at += size + 2;
  }
}

/** GET over a raw socket; collects every byte until the server closes (Connection: close). */
export function rawGet(port: number, path: string, limitMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', reject);
    const timer = setTimeout(() => socket.destroy(), limitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
  });
}
