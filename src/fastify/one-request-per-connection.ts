import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Makes a server handle one request per connection at a time, like nginx: Node parses pipelined
 * requests and emits each at once, so one connection could start thousands of handlers. The server's
 * request listeners now see the next request on a connection only when the previous response has
 * finished (or the connection closed); while requests wait, the connection is not read.
 */
export function oneRequestPerConnection(server: Server): void {
  const handlers = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  const waiting = new WeakMap<Socket, Array<[IncomingMessage, ServerResponse]>>();
  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    let advanced = false;
    const next = (): void => {
      if (advanced) return;
      advanced = true;
      const queue = waiting.get(socket)!;
      queue.shift();
      if (socket.destroyed) queue.length = 0;
      // read on: the next request's body may still be on the wire (a later request pauses it again);
      // while the client does not read its answers, only once they have drained
      if (socket.writableNeedDrain) socket.once('drain', () => socket.resume());
      else socket.resume();
      const following = queue[0];
      if (following !== undefined) dispatch(...following);
    };
    res.once('finish', next);
    res.once('close', next);
    for (const handler of handlers) handler.call(server, req, res);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    let queue = waiting.get(socket);
    if (queue === undefined) {
      queue = [];
      waiting.set(socket, queue);
    }
    queue.push([req, res]);
    if (queue.length === 1) dispatch(req, res);
    else socket.pause();
  });
}
