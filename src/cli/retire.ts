import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

/**
 * How long a kept-alive connection of a retiring listener must have been idle before it is closed: a
 * client that has been silent this long is not writing its next request on it right now, so closing
 * it cannot cut a request in the middle.
 */
export const RETIRE_QUIET_MS = 1_000;
const CHECK_EVERY_MS = 100;

interface ConnectionState {
  inFlight: number;
  idleSince: number;
}

/** A listener that can be retired without failing a request: see `retire()`. */
export interface Retirable {
  /**
   * Stops accepting (with node:cluster, the listening socket stays with the workers still listening);
   * every request in flight or still coming on a kept-alive connection is answered with
   * `Connection: close`; a connection idle for a second is closed. Resolves once every connection closed.
   */
  retire(): Promise<void>;
}

/**
 * Tracks a node:http (or https) server's connections from now on. Unlike `server.close()`, which closes
 * idle kept-alive connections at once (a client may be writing a request on one) and after which fastify
 * answers 503, a retirement lets each connection end after an answer.
 */
export function retirable(server: HttpServer): Retirable {
  const open = new Map<Socket, ConnectionState>();
  const inFlight = new Set<ServerResponse>();
  let retiring = false;
  const track = (socket: Socket): ConnectionState => {
    let state = open.get(socket);
    if (state === undefined) {
      open.set(socket, (state = { inFlight: 0, idleSince: Date.now() }));
      socket.once('close', () => open.delete(socket));
    }
    return state;
  };
  server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', track);
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const state = track(req.socket);
    state.inFlight++;
    inFlight.add(res);
    if (retiring) res.setHeader('Connection', 'close');
    res.once('close', () => {
      state.inFlight--;
      state.idleSince = Date.now();
      inFlight.delete(res);
    });
  });
  // a WebSocket tunnel is in flight until it closes
  server.on('upgrade', (req: IncomingMessage) => track(req.socket).inFlight++);
  return {
    retire: () =>
      new Promise<void>((resolve) => {
        retiring = true;
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        const quiet = setInterval(() => {
          const now = Date.now();
          for (const [socket, state] of open)
            if (state.inFlight === 0 && now - state.idleSince >= RETIRE_QUIET_MS) socket.end();
        }, CHECK_EVERY_MS);
        // net's close, not http's: http's also closes idle connections at once
        NetServer.prototype.close.call(server, () => {
          clearInterval(quiet);
          resolve();
        });
      }),
  };
}
