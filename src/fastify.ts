/**
 * cosocket/fastify: coroutine handlers for fastify (the plugin, `co`, HandlerContext), proxying with
 * nginx-style buffering, and the sendfile pieces (a name under a root, opened safely, served finished or
 * followed while it grows). Loads fastify, not the product.
 */
export { co, cosocketPlugin, HandlerContext } from './fastify/plugin.js';
export type { CosocketPluginOptions, CosocketState, RouteStats } from './fastify/plugin.js';
export type { Printable } from './fastify/output.js';
export type { FileSink, ResponseSink, SinkRequest } from './stream/sink.js';
export { NGINX_BUFFERING, copyResponseHead, endToEndHeaders, proxyPass, proxyResponse } from './stream/proxy.js';
export type { BufferingOptions, ProxyPassOptions, ProxyStats } from './stream/proxy.js';
export { incomingBody } from './stream/request-body.js';
export type { BodySource } from './stream/request-body.js';
export { namedPath } from './stream/sendfile/paths.js';
export { openInside } from './stream/sendfile/open-inside.js';
export type { FileInside, OpenInside } from './stream/sendfile/open-inside.js';
export { parseRange } from './stream/sendfile/range.js';
export type { ByteRange } from './stream/sendfile/range.js';
export { serveFinished } from './stream/sendfile/finished.js';
export { STATUS_TRAILER, followGrowing } from './stream/sendfile/follow.js';
export type { FollowOptions, SendStatus } from './stream/sendfile/follow.js';
export { WatchHub } from './stream/sendfile/watch-hub.js';
