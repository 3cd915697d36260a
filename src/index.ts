/**
 * cosocket's public API, all of it: cosocket/core (runtime, errors, pools, cosockets), cosocket/fastify
 * (handlers, proxying, sendfile), cosocket/dyups and cosocket/tracing. Import a subpath to load only that part.
 */
export * from './core.js';
export * from './fastify.js';
export * from './dyups/index.js';
export * from './tracing/index.js';
