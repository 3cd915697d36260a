import type { FastifyInstance, FastifyRequest } from 'fastify';
import { activeTracer, incomingTraceparent, serverSpanAttributes } from '../runtime/tracing.js';
import type { TraceSpan } from '../runtime/tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** @internal The request's server span, with tracing on; null otherwise. */
    cosocketSpan: TraceSpan | null;
  }
}

/**
 * With tracing on when the plugin is registered, a server span per request: opened when it arrives (a
 * `traceparent` header it came with is its parent), ended when its connection is done with the response.
 * A co() handler's coroutine runs under it. Off, no hook is added.
 */
export function traceRequests(app: FastifyInstance): void {
  app.decorateRequest('cosocketSpan', null);
  if (activeTracer() === null) return;
  app.addHook('onRequest', (request, reply, done) => {
    const tracer = activeTracer();
    if (tracer !== null) {
      const span = tracer.startSpan(
        spanName(request),
        'server',
        serverSpanAttributes(request.method, request.url, 'http.route', request.routeOptions.url),
        incomingTraceparent(request.headers),
      );
      request.cosocketSpan = span;
      const raw = reply.raw;
      raw.once('close', () => {
        const status = raw.statusCode;
        span.setAttribute('http.response.status_code', status);
        if (!raw.writableFinished) span.end('the client went away before the response was sent');
        else span.end(status >= 500 ? `status ${status}` : undefined);
      });
    }
    done();
  });
}

function spanName(request: FastifyRequest): string {
  const route = request.routeOptions.url;
  return route === undefined ? request.method : `${request.method} ${route}`;
}
