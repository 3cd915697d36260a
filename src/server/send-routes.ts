import type { FastifyInstance } from 'fastify';
import type { Operation } from '../runtime/effect.js';
import { serveFinished } from '../stream/sendfile/finished.js';
import { followGrowing } from '../stream/sendfile/follow.js';
import { openInside } from '../stream/sendfile/open-inside.js';
import { namedPath } from '../stream/sendfile/paths.js';
import { parseRange } from '../stream/sendfile/range.js';
import { WatchHub } from '../stream/sendfile/watch-hub.js';
import type { HandlerContext } from '../fastify/context.js';
import { co } from '../fastify/plugin.js';
import type { ServerMetrics } from './metrics.js';

export interface SendRouteOptions {
  location: string;
  root: string;
  interval: number;
  timeout: number;
  suffix: string;
  maxDuration: number;
  /** Where the followers of growing files are counted. */
  metrics?: ServerMetrics;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/**
 * Dynamic sendfile (ngx_http_dynamic_sendfile_module, done right): GET location/NAME serves NAME as a
 * static file once it is finished, streams NAME<suffix> while it is being written, 404 otherwise.
 */
export async function sendRoutes(app: FastifyInstance, options: SendRouteOptions): Promise<void> {
  const hub = new WatchHub(options.interval);
  options.metrics?.sources.sendfile.push(() => hub.stats());
  const follow = {
    interval: options.interval,
    timeout: options.timeout,
    maxDuration: options.maxDuration,
    readSize: 64 * 1024,
  };

  function* send(ctx: HandlerContext): Operation<unknown> {
    const method = ctx.request.method;
    if (method !== 'GET' && method !== 'HEAD') {
      ctx.status = 405;
      ctx.header('allow', 'GET, HEAD');
      return '405 Method Not Allowed\n';
    }
    // the raw path, decoded exactly once by namedPath (never the router's decoded parameter)
    const rawPath = ctx.request.url.split('?', 1)[0]!;
    const finishedPath = rawPath.startsWith(options.location)
      ? namedPath(options.root, rawPath.slice(options.location.length))
      : null;
    if (finishedPath === null) return notFound(ctx);
    const growingPath = finishedPath + options.suffix;
    // each name is opened once and served from that descriptor only (never checked, then opened again)
    for (let attempt = 0; attempt < 2; attempt++) {
      const finished = yield* openInside(options.root, finishedPath);
      if (finished === 'refused') return notFound(ctx);
      if (finished !== 'missing') return serveFinished(ctx, finishedPath, finished);
      const growing = yield* openInside(options.root, growingPath);
      if (growing === 'refused') return notFound(ctx);
      if (growing !== 'missing') {
        const range = parseRange(ctx.request.headers.range, Infinity);
        const start = range !== null && range !== 'unsatisfiable' ? range.start : 0;
        yield* followGrowing(ctx, hub, growingPath, finishedPath, growing, start, follow);
        return undefined;
      }
      // NAME.tmp may have been renamed to NAME between the two opens: look for NAME once more
    }
    return notFound(ctx);
  }

  app.route({ method: [...METHODS], url: `${options.location}*`, handler: co(send, { name: 'send' }) });
}

function notFound(ctx: HandlerContext): string {
  ctx.status = 404;
  return '404 Not Found\n';
}
