import type { Server } from 'node:http';
import { refuseTooManyHeaders } from './header-count-limit.js';
import { oneRequestPerConnection } from './one-request-per-connection.js';

/**
 * Fastify options every cosocket listener uses: the request head must arrive within `headerTimeout`
 * (nginx's client_header_timeout; slowloris), checked on an interval to match, and the whole request
 * within `requestTimeout` unless it is 0 (a body that stalls mid-way).
 */
export function listenerOptions(
  headerTimeout: number,
  requestTimeout: number,
  maxHeaderSize?: number,
): {
  http: { headersTimeout: number; connectionsCheckingInterval: number; maxHeaderSize?: number };
  requestTimeout: number;
} {
  // Node wants headersTimeout <= requestTimeout: the head cannot be given longer than the whole request
  const head = requestTimeout === 0 ? headerTimeout : Math.min(headerTimeout, requestTimeout);
  return {
    http: {
      headersTimeout: head,
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(head / 4))),
      ...(maxHeaderSize !== undefined ? { maxHeaderSize } : {}),
    },
    requestTimeout,
  };
}

/**
 * What every cosocket listener does to a request before its app sees it: more than
 * MAX_REQUEST_HEADERS headers is a 431, and a connection runs one request at a time. The order
 * matters: the 431 then takes its turn on a pipelined connection like any other answer.
 */
export function guardRequests(server: Server): void {
  refuseTooManyHeaders(server);
  oneRequestPerConnection(server);
}
