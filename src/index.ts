/**
 * cosocket's public API, all of it: cosocket/core (runtime, errors, pools, cosockets), cosocket/fastify
 * (handlers, proxying, sendfile) and cosocket/dyups. Import a subpath to load only that part.
 */
export * from './core.js';
export * from './fastify.js';
export * from './dyups/index.js';
export { startTracing } from './tracing/index.js';
export type { Tracing, TracingOptions } from './tracing/index.js';
