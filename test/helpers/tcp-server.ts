import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface TestServer {
  server: Server;
  port: number;
  /** Every connection accepted so far. */
  sockets: Socket[];
  /** Connections closed by either side so far. */
  closed: number;
  /** Resolves when `closed` reaches `n`. */
  waitClosed(n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** A real TCP server on 127.0.0.1 that runs `onConnection` for each client and counts connections. */
export async function startTcpServer(onConnection: (socket: Socket) => void): Promise<TestServer> {
  const sockets: Socket[] = [];
  const waiters: Array<() => void> = [];
  const state = { closed: 0 };
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      state.closed++;
      for (const w of waiters.splice(0)) w();
    });
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const result: TestServer = {
    server,
    port,
    sockets,
    get closed() {
      return state.closed;
    },
    async waitClosed(n, ms = 5_000) {
      const end = Date.now() + ms;
      while (state.closed < n) {
        if (Date.now() > end) throw new Error(`only ${state.closed} of ${n} connections closed within ${ms} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return result;
}

/** Echoes every byte back. */
export function echo(socket: Socket): void {
  socket.on('data', (data) => socket.write(data));
}

/**
 * A port nothing listens on, for a server a test starts later. It is picked below Linux's ephemeral range
 * (32768-60999): a port the kernel handed out and took back can be handed to another test's outgoing
 * connection before the server binds it, which made `serve --admin-port` fail with EADDRINUSE.
 */
export async function deadPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canBind(port)) return port;
  }
}

function canBind(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
