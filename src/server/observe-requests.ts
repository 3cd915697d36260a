import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { AccessLog } from './access-log.js';
import type { ServerMetrics } from './metrics.js';

/** nginx's status for a request whose client went away before its response was complete. */
const CLIENT_CLOSED = 499;

/**
 * Counts every request on the app listener in the metrics and writes its access log line once its
 * response has gone out (or the client left: 499). Watches the raw response, so replies a handler
 * hijacked (streams, sendfile) are seen too. Call before the routes are registered.
 */
export function observeRequests(
  app: FastifyInstance,
  metrics: ServerMetrics | null,
  accessLog: AccessLog | null,
): void {
  if (metrics === null && accessLog === null) return;
  app.addHook('onRequest', (request, reply, done) => {
    const started = performance.now();
    const raw = reply.raw;
    const socket = request.raw.socket;
    const writtenBefore = socket.bytesWritten;
    // 'close' comes after 'finish' for a response that went out whole, and alone for one that was cut
    raw.once('close', () => {
      const seconds = (performance.now() - started) / 1000;
      const status = raw.writableFinished ? raw.statusCode : CLIENT_CLOSED;
      const route = request.routeOptions.url ?? '(no route)';
      metrics?.httpRequest(route, request.method, status, seconds);
      accessLog?.log({
        remoteAddr: request.ip,
        method: request.method,
        uri: request.raw.url ?? request.url,
        protocol: `HTTP/${request.raw.httpVersion}`,
        status,
        bodyBytesSent: bodyBytes(raw, socket.bytesWritten - writtenBefore),
        header: (name) => request.headers[name],
        seconds,
        upstream: [],
      });
    });
    done();
  });
}

/** nginx's $body_bytes_sent: what went out on the socket for this response, less its head. */
function bodyBytes(raw: ServerResponse, written: number): number {
  // the head Node wrote (kept as `_header`); without it, the declared length is the best left
  const head = (raw as ServerResponse & { _header?: unknown })._header;
  if (typeof head === 'string') return Math.max(0, written - Buffer.byteLength(head, 'latin1'));
  const length = Number(raw.getHeader('content-length'));
  return Number.isFinite(length) ? length : 0;
}
