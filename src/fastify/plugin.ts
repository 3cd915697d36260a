import fp from 'fastify-plugin';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
  RouteOptions,
} from 'fastify';
import { BudgetExceededError, CancelReason, PluginNotRegisteredError } from '../errors/index.js';
import type { Operation } from '../runtime/effect.js';
import { defaultScheduler } from '../runtime/scheduler.js';
import type { Scheduler, StartOptions } from '../runtime/scheduler.js';
import type { Task } from '../runtime/task.js';
import { runInSpan } from '../runtime/tracing.js';
import type { TraceSpan } from '../runtime/tracing.js';
import { HandlerContext } from './context.js';
import type { FailureLog, OutputOptions } from './context.js';
import { traceRequests } from './request-span.js';
import { RouteStatsTable, recordStatus } from './route-stats.js';
import type { RouteStats } from './route-stats.js';

export type { RouteStats } from './route-stats.js';

/** Options of cosocketPlugin: the scheduler handlers run on, output sizes, Retry-After, failure logging. */
export interface CosocketPluginOptions {
  scheduler?: Scheduler;
  output?: Partial<OutputOptions>;
  /** Seconds in Retry-After when the budget is exhausted. Default 1. */
  retryAfter?: number;
  /** Where handler failures are logged; default: each request's own logger. */
  log?: FastifyBaseLogger;
  /** Takes every handler failure instead of the logger (e.g. to rate-limit them). */
  failureLog?: FailureLog;
}

/** What the plugin decorates the fastify instance with. */
export interface CosocketState {
  scheduler: Scheduler;
  output: OutputOptions;
  retryAfter: number;
  /** null: log through each request's logger */
  log: FastifyBaseLogger | null;
  /** null: failures go to the logger */
  failureLog: FailureLog | null;
  routeStats(): RouteStats[];
  /** @internal */
  stats: RouteStatsTable;
}

declare module 'fastify' {
  interface FastifyInstance {
    cosocket: CosocketState;
  }
  interface FastifyRequest {
    /** @internal The route stats this request's arrival was counted in; null until it was. */
    cosocketStats: RouteStats | null;
  }
}

/** Marks a request that was counted only when it was answered (no route, or answered before its route's counters ran). */
const COUNTED_WHEN_ANSWERED: RouteStats = Object.freeze({
  route: '',
  requests: 0,
  '2xx': 0,
  '3xx': 0,
  '4xx': 0,
  '5xx': 0,
  aborted: 0,
});

/** co() handlers carry this: a copy of the handler that counts into one route's stats without looking the route up. */
const BIND_ROUTE_STATS = Symbol('cosocket.bindRouteStats');

type CoroutineRouteHandler = RouteHandlerMethod & { [BIND_ROUTE_STATS]?: (stats: RouteStats) => RouteHandlerMethod };

type RouteHook = NonNullable<RouteOptions['onRequest']>;

function withHook<H>(existing: H | H[] | undefined, hook: H): H[] {
  if (existing === undefined) return [hook];
  return Array.isArray(existing) ? [...existing, hook] : [existing, hook];
}

/**
 * Counts requests per route without per-request lookups: each route gets its RouteStats entry when
 * it is registered. A co() route counts in its handler (it knows how its response ended); other
 * routes get route-level hooks. Requests no counter saw before they were answered (no route matched,
 * or a hook answered before the route's own counters ran) are counted by one onSend hook.
 */
function countRequests(app: FastifyInstance, table: RouteStatsTable): void {
  app.decorateRequest('cosocketStats', null);
  app.addHook('onRoute', (route) => {
    const entry = typeof route.method === 'string' ? table.entry(route.method, route.url) : null;
    const bind = (route.handler as CoroutineRouteHandler)[BIND_ROUTE_STATS];
    if (bind !== undefined) {
      if (entry !== null) route.handler = bind(entry);
      return;
    }
    const arrived: RouteHook = (request, _reply, done) => {
      const stats = entry ?? table.entryOf(request);
      stats.requests++;
      request.cosocketStats = stats;
      done();
    };
    route.onRequest = withHook(route.onRequest as RouteHook | RouteHook[] | undefined, arrived) as NonNullable<
      typeof route.onRequest
    >;
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- only collects the hooks
    route.onResponse = withHook(route.onResponse, (request, reply, done) => {
      const stats = request.cosocketStats;
      if (stats !== null && stats !== COUNTED_WHEN_ANSWERED) recordStatus(stats, reply.statusCode);
      done();
    });
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- only collects the hooks
    route.onRequestAbort = withHook(route.onRequestAbort, (request, done) => {
      const stats = request.cosocketStats;
      if (stats !== null && stats !== COUNTED_WHEN_ANSWERED) stats.aborted++;
      done();
    });
  });
  app.addHook('onSend', (request, reply, _payload, done) => {
    if (request.cosocketStats === null) {
      const stats = table.entryOf(request);
      stats.requests++;
      recordStatus(stats, reply.statusCode);
      request.cosocketStats = COUNTED_WHEN_ANSWERED;
    }
    done();
  });
}

/**
 * Lets routes be coroutines: `app.get('/x', co(function* (ctx) { ... }))`. Adds per-route stats
 * and answers 503 with Retry-After when the scheduler's budget is exhausted.
 */
export const cosocketPlugin = fp(
  async function cosocket(app: FastifyInstance, options: CosocketPluginOptions) {
    const stats = new RouteStatsTable();
    const state: CosocketState = {
      scheduler: options.scheduler ?? defaultScheduler,
      output: { bufferSize: 16 * 1024, sendTimeout: 60_000, idleTimeout: 60_000, ...options.output },
      retryAfter: options.retryAfter ?? 1,
      log: options.log ?? null,
      failureLog: options.failureLog ?? null,
      routeStats: () => stats.all(),
      stats,
    };
    app.decorate('cosocket', state);
    countRequests(app, stats);
    traceRequests(app);
  },
  { name: 'cosocket', fastify: '5.x' },
);

function clientAbortWatcher(task: Task<unknown>, reply: FastifyReply, stats: RouteStats): () => void {
  return () => {
    if (reply.raw.writableFinished) return;
    stats.aborted++;
    if (!task.done) task.cancel(CancelReason.clientAbort());
  };
}

/** A fastify handler that runs `handler` as a coroutine under the plugin's scheduler. */
export function co(
  handler: (ctx: HandlerContext) => Operation<unknown>,
  options: {
    name?: string;
    deadline?: number;
    /**
     * Tried first, without a coroutine: answers on reply.raw at once (after reply.hijack()) and returns
     * true, or returns false, having sent nothing, for the coroutine to run.
     */
    fastPath?: (request: FastifyRequest, reply: FastifyReply) => boolean;
  } = {},
): RouteHandlerMethod {
  const name = options.name ?? (handler.name || 'handler');
  const fastPath = options.fastPath ?? null;
  const startOptions: StartOptions = options.deadline === undefined ? { name } : { name, deadline: options.deadline };
  const forRoute = (routeStats: RouteStats | null): RouteHandlerMethod =>
    function coroutineHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
      const state = this.cosocket;
      if (state === undefined) throw new PluginNotRegisteredError();
      const stats = routeStats ?? state.stats.entryOf(request);
      stats.requests++;
      request.cosocketStats = stats;
      if (fastPath !== null && fastPath(request, reply)) {
        recordStatus(stats, reply.raw.statusCode);
        return;
      }
      const ctx = new HandlerContext(request, reply, state.output, stats, state.log ?? reply.log, state.failureLog);
      let task: Task<unknown>;
      const span = request.cosocketSpan;
      try {
        task =
          span === null
            ? state.scheduler.start(startOptions, handler, ctx)
            : state.scheduler.start(startOptions, handlerInSpan, span, handler, ctx);
      } catch (err) {
        if (!(err instanceof BudgetExceededError)) throw err;
        recordStatus(stats, 503);
        reply
          .code(503)
          .header('retry-after', String(state.retryAfter))
          .type('text/plain; charset=utf-8')
          .send(`503 Service Unavailable: ${err.message}\n`);
        return;
      }
      ctx.attach(task);
      if (task.done) {
        task.markObserved(); // it failed or finished on its first step: the reply below is its observer
        ctx.onTaskSettled(task);
        return;
      }
      task.addObserver(ctx);
      reply.raw.once('close', clientAbortWatcher(task, reply, stats));
    };
  const unbound: CoroutineRouteHandler = forRoute(null);
  unbound[BIND_ROUTE_STATS] = forRoute;
  Object.defineProperty(unbound, 'bind', { value: bindChecked(name), configurable: true, writable: true });
  return unbound;
}

function handlerInSpan(
  span: TraceSpan,
  handler: (ctx: HandlerContext) => Operation<unknown>,
  ctx: HandlerContext,
): Operation<unknown> {
  return runInSpan(span, handler(ctx));
}

/** Instances that already check, when they get ready, that the plugin is there. */
const checkedInstances = new WeakSet<object>();

/**
 * The `bind` of an unbound co() handler. Registering a route binds its handler to the fastify instance
 * (fastify 5's route.js: `opts.handler.bind(this)`), the one moment a route without the plugin can be seen
 * (with the plugin, its onRoute hook swapped the handler for a bound copy, and this is not called). The
 * plugin may be registered and not loaded yet (`app.register` not awaited), so the check waits for the
 * instance's onReady: `ready()`, `listen()` and `inject()` then fail with PluginNotRegisteredError
 * before any request. Were fastify to stop binding, the check per request still answers 500.
 */
function bindChecked(handlerName: string) {
  return function bind(this: RouteHandlerMethod, thisArg: unknown, ...args: unknown[]): unknown {
    if (isFastifyInstance(thisArg) && thisArg.cosocket === undefined && !checkedInstances.has(thisArg)) {
      checkedInstances.add(thisArg);
      thisArg.addHook('onReady', function checkPlugin(this: FastifyInstance, done: (err?: Error) => void) {
        done(this.cosocket === undefined ? new PluginNotRegisteredError(handlerName) : undefined);
      });
    }
    return Function.prototype.bind.call(this, thisArg, ...args) as unknown;
  };
}

function isFastifyInstance(value: unknown): value is FastifyInstance {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<FastifyInstance>).addHook === 'function' &&
    typeof (value as Partial<FastifyInstance>).hasDecorator === 'function'
  );
}

export { HandlerContext } from './context.js';
export type { FailureLog, HandlerFailure } from './context.js';
