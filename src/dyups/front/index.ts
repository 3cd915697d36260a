/**
 * The dyups proxy listener's HTTP/1.1 front: a raw-socket server with a strict request parser, running
 * each request as a coroutine whose context writes the response straight to the socket.
 */
export { FrontServer } from './server.js';
export type { FrontOptions } from './connection.js';
export { FrontExchange } from './exchange.js';
export type { FrontBody } from './request-body.js';
export type { ClientTunnel } from './client-tunnel.js';
export type { RequestHead } from './request-head.js';
export { ERROR_PAGE_TYPE, errorLogLine, errorPage } from './error-page.js';
