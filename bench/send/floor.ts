/**
 * The floor bench/send measures followers against: a bare node:net server that does only what must be
 * done for N followers of a growing file — one watch, one read of the new bytes per change, and one
 * chunk-framed write per follower — with no HTTP parser, router, coroutine, timer or check of any kind.
 * `node floor.js DIR`: GET /send/NAME follows DIR/NAME.tmp until DIR/NAME appears.
 */
import { open, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { existsSync, readSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';

const root = process.argv[2]!;
const HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
);
const LAST = Buffer.from('0\r\n\r\n');

interface Followed {
  fd: number;
  offset: number;
  sockets: Set<Socket>;
  watcher: FSWatcher;
}

const followed = new Map<string, Followed>();

function refresh(name: string, entry: Followed): void {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    const n = readSync(entry.fd, buffer, 0, buffer.length, entry.offset);
    if (n === 0) break;
    entry.offset += n;
    const framed = Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), buffer.subarray(0, n), Buffer.from('\r\n')]);
    for (const socket of entry.sockets) socket.write(framed);
  }
  if (existsSync(join(root, name))) {
    for (const socket of entry.sockets) socket.end(LAST);
    entry.watcher.close();
    followed.delete(name);
  }
}

function follow(name: string, socket: Socket): void {
  let entry = followed.get(name);
  if (entry !== undefined) {
    entry.sockets.add(socket);
    socket.write(HEAD);
    return;
  }
  open(join(root, `${name}.tmp`), 'r', (err, fd) => {
    if (err) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    entry = followed.get(name);
    if (entry === undefined) {
      const created: Followed = {
        fd,
        offset: 0,
        sockets: new Set(),
        watcher: watch(root, { persistent: false }, () => refresh(name, created)),
      };
      entry = created;
      followed.set(name, entry);
    }
    entry.sockets.add(socket);
    socket.write(HEAD);
    refresh(name, entry);
  });
}

const server = createServer((socket) => {
  let head = '';
  socket.on('error', () => undefined);
  socket.on('close', () => {
    for (const entry of followed.values()) entry.sockets.delete(socket);
  });
  const onData = (d: Buffer): void => {
    head += d.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    const path = /^GET \/send\/([^ ]+) /.exec(head)?.[1];
    if (path === undefined) socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    else follow(path, socket);
  };
  socket.on('data', onData);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
