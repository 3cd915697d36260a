/**
 * The fragmented bodies' upstream, on a raw socket so that what each socket write carries is exact:
 * `Transfer-Encoding: chunked`, `Connection: close`, and per path one shape —
 *   /frag/64  N chunks of ~200 bytes (180-220), 64 chunks per socket write (the issue's shape);
 *   /frag/1   the same chunks, one per socket write (the worst case for a proxy's per-read costs);
 *   /frag/4k  4 KB chunks, one per write, about as many bytes as the others.
 * A write that the kernel does not take at once is queued by Node and goes out with the ones after it;
 * until then each write is one send. `node fragment-upstream.js N`; prints
 * `listening PORT {shapes as JSON}` with each body's sha256 and length.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';

export interface FragmentShape {
  id: string;
  path: string;
  chunks: number;
  chunkBytes: string;
  perWrite: number;
  /** sha256 of the body, de-chunked */
  sha256: string;
  bytes: number;
}

const n = Number(process.argv[2] ?? 100_000);
let seed = 42;
const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;

function logChunk(i: number, size: number): Buffer {
  const line = `${String(i).padStart(6, '0')} ${'log line '.repeat(Math.ceil(size / 9))}`;
  return Buffer.from(`${line.slice(0, size - 1)}\n`);
}

/** The framed body as one buffer, and the writes it goes out in (views into it). */
function frame(chunks: readonly Buffer[], perWrite: number): { writes: Buffer[]; sha256: string; bytes: number } {
  const hash = createHash('sha256');
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let at = 0;
  chunks.forEach((chunk, i) => {
    hash.update(chunk);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    parts.push(framed);
    at += framed.length;
    if ((i + 1) % perWrite === 0 || i === chunks.length - 1) ends.push(at);
  });
  parts.push(Buffer.from('0\r\n\r\n'));
  ends[ends.length - 1] = at + 5;
  const whole = Buffer.concat(parts);
  let start = 0;
  const writes = ends.map((end) => {
    const view = whole.subarray(start, end);
    start = end;
    return view;
  });
  return { writes, sha256: hash.digest('hex'), bytes: chunks.reduce((sum, c) => sum + c.length, 0) };
}

const small = Array.from({ length: n }, (_, i) => logChunk(i, 180 + Math.floor(random() * 41)));
const smallBytes = small.reduce((sum, c) => sum + c.length, 0);
const large = Array.from({ length: Math.max(1, Math.round(smallBytes / 4096)) }, (_, i) => logChunk(i, 4096));

const bodies = new Map<string, { shape: FragmentShape; writes: Buffer[] }>();
for (const [id, path, chunks, perWrite, chunkBytes] of [
  ['64 per write', '/frag/64', small, 64, '180-220'],
  ['1 per write', '/frag/1', small, 1, '180-220'],
  ['4 KB chunks', '/frag/4k', large, 1, '4096'],
] as const) {
  const { writes, sha256, bytes } = frame(chunks, perWrite);
  bodies.set(path, { shape: { id, path, chunks: chunks.length, chunkBytes, perWrite, sha256, bytes }, writes });
}

const HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
);
const NOT_FOUND = Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');

function pump(socket: Socket, writes: readonly Buffer[], from: number): void {
  let i = from;
  while (i < writes.length) {
    if (!socket.write(writes[i++]!)) {
      socket.once('drain', () => pump(socket, writes, i));
      return;
    }
  }
  socket.end();
}

const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  let head = '';
  const onData = (data: Buffer): void => {
    head += data.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    const path = /^[A-Z]+ (\S+)/.exec(head)?.[1] ?? '';
    const body = bodies.get(path);
    if (body === undefined) {
      socket.end(NOT_FOUND);
      return;
    }
    socket.write(HEAD);
    pump(socket, body.writes, 0);
  };
  socket.on('data', onData);
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening ${port} ${JSON.stringify([...bodies.values()].map((b) => b.shape))}\n`);
});
process.on('SIGTERM', () => process.exit(0));
