import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/**
 * A TCP relay in front of a real server whose replies can be held back: while held, what the server sends is
 * kept at the relay; on release it is delivered and the relay passes bytes through again. A stall that lasts
 * exactly until the test says so, however slow the machine.
 */
export interface GateProxy {
  port: number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startGateProxy(targetPort: number): Promise<GateProxy> {
  let held = false;
  const heldBack: Array<{ to: Socket; bytes: Buffer }> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (bytes: Buffer) => upstream.write(bytes));
    upstream.on('data', (bytes: Buffer) => {
      if (held) heldBack.push({ to: client, bytes });
      else client.write(bytes);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const { to, bytes } of heldBack.splice(0)) if (!to.destroyed) to.write(bytes);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
