import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Operation } from '../runtime/effect.js';
import { call } from '../runtime/effects/call.js';
import { acceptsGzip } from '../stream/sendfile/conditions.js';
import { followGrowing } from '../stream/sendfile/follow.js';
import { OpenFileCache } from '../stream/sendfile/open-file-cache.js';
import { openInside } from '../stream/sendfile/open-inside.js';
import type { FileInside } from '../stream/sendfile/open-inside.js';
import { namedPath } from '../stream/sendfile/paths.js';
import { answerStatic, PLAIN } from '../stream/sendfile/static-answer.js';
import type { StaticAnswerOptions, Variant } from '../stream/sendfile/static-answer.js';
import { StaticFile } from '../stream/sendfile/static-file.js';
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
  /** nginx's open_file_cache for finished files; default { max: 1000, inactive: 60 s, valid: 0 (a stat per request) }. */
  openFileCache?: { max: number; inactive: number; valid: number };
  /** Finished files up to this size are served from memory; default 64 KB. */
  memoryCacheMax?: number;
  /** nginx's `expires` for finished files (ms; Cache-Control max-age and Expires); default null: none. */
  expires?: number | null;
  /** nginx's gzip_static: NAME.gz, if there, to clients that take gzip; default off. */
  gzipStatic?: boolean;
  /** Where the followers of growing files are counted. */
  metrics?: ServerMetrics;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

const VARY: Variant = { encoding: null, vary: true, growing: false };
const GZIP: Variant = { encoding: 'gzip', vary: true, growing: false };

const DEFAULT_CACHE = { max: 1_000, inactive: 60_000, valid: 0 };

/**
 * Dynamic sendfile (ngx_http_dynamic_sendfile_module, done right): GET location/NAME serves NAME as a
 * static file once it is finished (through an open-file cache), streams NAME<suffix> while it is being
 * written, 404 otherwise.
 */
export async function sendRoutes(app: FastifyInstance, options: SendRouteOptions): Promise<void> {
  const hub = new WatchHub(options.interval);
  options.metrics?.sources.sendfile.push(() => hub.stats());
  const cache = new OpenFileCache({
    ...(options.openFileCache ?? DEFAULT_CACHE),
    memoryMax: options.memoryCacheMax ?? 64 * 1024,
  });
  app.addHook('onClose', (_app, done) => {
    cache.close();
    done();
  });
  const gzipStatic = options.gzipStatic ?? false;
  const expires = options.expires ?? null;
  const follow = {
    interval: options.interval,
    timeout: options.timeout,
    maxDuration: options.maxDuration,
    readSize: 64 * 1024,
  };

  /** The answer for a finished file, from the cache or opened now: NAME.gz instead when asked and there. */
  function* finishedFile(ctx: HandlerContext, path: string, opened: FileInside | null): Operation<boolean> {
    let file: StaticFile;
    if (opened === null) {
      const cached = cache.lookup(path);
      if (!(cached instanceof StaticFile)) return false;
      file = cached;
    } else {
      file = yield* call(cache.fill(path, opened.file.release(), opened.info));
    }
    let variant: Variant = PLAIN;
    if (gzipStatic) {
      variant = VARY;
      if (acceptsGzip(ctx.request.headers['accept-encoding'])) {
        const gzipped = yield* gzipOf(path);
        if (gzipped !== null) {
          // the plain file, held for this answer only when nothing else holds it, is released unused
          file.acquire();
          file.release();
          file = gzipped;
          variant = GZIP;
        }
      }
    }
    answer(ctx, file, variant);
    return true;
  }

  /** NAME.gz beside NAME, as safely opened as NAME itself; null when there is none inside the root. */
  function* gzipOf(path: string): Operation<StaticFile | null> {
    const gzPath = `${path}.gz`;
    const cached = cache.lookup(gzPath);
    if (cached === 'missing') return null;
    if (cached !== undefined) return cached;
    const opened = yield* openInside(options.root, gzPath);
    if (opened === 'missing' || opened === 'refused') {
      cache.markMissing(gzPath);
      return null;
    }
    return yield* call(cache.fill(gzPath, opened.file.release(), opened.info, path));
  }

  function answer(ctx: HandlerContext, file: StaticFile, variant: Variant): void {
    answerOn(ctx.reply, file, variant, ctx.sendTimeout);
  }

  function answerOn(reply: FastifyReply, file: StaticFile, variant: Variant, sendTimeout: number): void {
    const answerOptions: StaticAnswerOptions = { expires, sendTimeout };
    reply.hijack();
    file.acquire();
    try {
      answerStatic(reply.request.raw, reply.raw, file, answerOptions, variant);
    } finally {
      file.release();
    }
  }

  /** Names already checked by namedPath, by raw path (it depends on nothing else). */
  const named = new Map<string, string | null>();
  function pathOf(rawPath: string): string | null {
    let path = named.get(rawPath);
    if (path === undefined) {
      path = rawPath.startsWith(options.location)
        ? namedPath(options.root, rawPath.slice(options.location.length))
        : null;
      if (named.size >= 10_000) named.clear();
      named.set(rawPath, path);
    }
    return path;
  }

  /**
   * A finished file the cache holds and stat still shows under its name, answered without a coroutine;
   * false for everything else (the coroutine opens, follows, or answers 404/405).
   */
  function fastPath(request: FastifyRequest, reply: FastifyReply): boolean {
    const raw = request.raw;
    if (raw.method !== 'GET' && raw.method !== 'HEAD') return false;
    const url = raw.url ?? '';
    const query = url.indexOf('?');
    const path = pathOf(query === -1 ? url : url.slice(0, query));
    if (path === null) return false;
    const file = cache.lookup(path);
    if (!(file instanceof StaticFile)) return false;
    let served = file;
    let variant = PLAIN;
    if (gzipStatic) {
      variant = VARY;
      if (acceptsGzip(raw.headers['accept-encoding'])) {
        const gzipped = cache.lookup(`${path}.gz`);
        if (gzipped === undefined) return false;
        if (gzipped !== 'missing') {
          served = gzipped;
          variant = GZIP;
        }
      }
    }
    answerOn(reply, served, variant, request.server.cosocket.output.sendTimeout);
    return true;
  }

  function* send(ctx: HandlerContext): Operation<unknown> {
    const method = ctx.request.method;
    if (method !== 'GET' && method !== 'HEAD') {
      ctx.status = 405;
      ctx.header('allow', 'GET, HEAD');
      return '405 Method Not Allowed\n';
    }
    // the raw path, decoded exactly once by namedPath (never the router's decoded parameter)
    const finishedPath = pathOf(ctx.request.url.split('?', 1)[0]!);
    if (finishedPath === null) return notFound(ctx);
    // a finished file the cache holds and stat still shows under its name: no open, no read
    if (yield* finishedFile(ctx, finishedPath, null)) return undefined;
    const growingPath = finishedPath + options.suffix;
    // each name is opened once and served from that descriptor only (never checked, then opened again)
    for (let attempt = 0; attempt < 2; attempt++) {
      const finished = yield* openInside(options.root, finishedPath);
      if (finished === 'refused') return notFound(ctx);
      if (finished !== 'missing') {
        yield* finishedFile(ctx, finishedPath, finished);
        return undefined;
      }
      const growing = yield* openInside(options.root, growingPath);
      if (growing === 'refused') return notFound(ctx);
      if (growing !== 'missing') {
        if (ctx.request.headers.range !== undefined) {
          yield* presentRange(ctx, growingPath, finishedPath, growing);
          return undefined;
        }
        yield* followGrowing(ctx, hub, growingPath, finishedPath, growing, 0, follow);
        return undefined;
      }
      // NAME.tmp may have been renamed to NAME between the two opens: look for NAME once more
    }
    return notFound(ctx);
  }

  /**
   * A Range of a file still being written: the bytes present now, as a 206 with `bytes N-M/*` (M the
   * last byte there when the head is sent) and a Content-Length — a valid answer a resuming client
   * (curl -C -) can parse; it asks again for what comes later.
   */
  function* presentRange(
    ctx: HandlerContext,
    growingPath: string,
    finishedPath: string,
    opened: FileInside,
  ): Operation<void> {
    const file = yield* call(StaticFile.open(growingPath, opened.file.release(), opened.info, 0, finishedPath));
    file.detach();
    answer(ctx, file, { encoding: null, vary: false, growing: true });
  }

  app.route({ method: [...METHODS], url: `${options.location}*`, handler: co(send, { name: 'send', fastPath }) });
}

function notFound(ctx: HandlerContext): string {
  ctx.status = 404;
  return '404 Not Found\n';
}
