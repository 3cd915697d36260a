import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';

/** Request headers a listener accepts; their bytes are capped separately (limits.headerSize). */
export const MAX_REQUEST_HEADERS = 1000;

/**
 * Makes a server answer 431 (and close) to a request with more than `limit` headers. Node otherwise
 * keeps the first ~1,000 and drops the rest silently, so a handler would act on a partial head. The
 * server's own count limit is lifted; the head's byte size (maxHeaderSize) still bounds the memory.
 * Apply before oneRequestPerConnection so the 431 takes its turn on the connection.
 */
export function refuseTooManyHeaders(server: Server, limit: number = MAX_REQUEST_HEADERS): void {
  const handlers = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.maxHeadersCount = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.rawHeaders.length / 2 > limit) {
      const body = `request has more than ${limit} headers\n`;
      res.writeHead(431, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        Connection: 'close',
      });
      res.end(body);
      return;
    }
    for (const handler of handlers) handler.call(server, req, res);
  });
}
