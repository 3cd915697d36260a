import fp from 'fastify-plugin';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { BudgetExceededError, CancelReason } from '../errors.js';
import type { Operation } from '../runtime/effect.js';
import { defaultScheduler } from '../runtime/scheduler.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { Task } from '../runtime/task.js';
import { HandlerContext } from './context.js';
import type { OutputOptions, ResponseRecorder } from './context.js';

export interface RouteStats {
  route: string;
  requests: number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  /** Clients that went away before their response was complete. */
  aborted: number;
}

export interface CosocketPluginOptions {
  scheduler?: Scheduler;
  output?: Partial<OutputOptions>;
  /** Seconds in Retry-After when the budget is exhausted. Default 1. */
  retryAfter?: number;
  /** Where handler failures are logged; default: each request's own logger. */
  log?: FastifyBaseLogger;
}

/** What the plugin decorates the fastify instance with. */
export interface CosocketState extends ResponseRecorder {
  scheduler: Scheduler;
  output: OutputOptions;
  retryAfter: number;
  /** null: log through each request's logger */
  log: FastifyBaseLogger | null;
  routeStats(): RouteStats[];
}

declare module 'fastify' {
  interface FastifyInstance {
    cosocket: CosocketState;
  }
}

function routeKey(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? '(no route)'}`;
}

class Stats implements ResponseRecorder {
  private readonly routes = new Map<string, RouteStats>();

  entry(request: FastifyRequest): RouteStats {
    const key = routeKey(request);
    let stats = this.routes.get(key);
    if (stats === undefined) {
      stats = { route: key, requests: 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 };
      this.routes.set(key, stats);
    }
    return stats;
  }

  record(request: FastifyRequest, status: number): void {
    const stats = this.entry(request);
    const bucket = status >= 500 ? '5xx' : status >= 400 ? '4xx' : status >= 300 ? '3xx' : '2xx';
    stats[bucket]++;
  }

  recordStreamed(request: FastifyRequest, status: number): void {
    this.record(request, status);
  }

  all(): RouteStats[] {
    return [...this.routes.values()];
  }
}

/**
 * Lets routes be coroutines: `app.get('/x', co(function* (ctx) { ... }))`. Adds per-route stats
 * and answers 503 with Retry-After when the scheduler's budget is exhausted.
 */
export const cosocketPlugin = fp(
  async function cosocket(app: FastifyInstance, options: CosocketPluginOptions) {
    const stats = new Stats();
    const state: CosocketState = {
      scheduler: options.scheduler ?? defaultScheduler,
      output: { bufferSize: 16 * 1024, sendTimeout: 60_000, idleTimeout: 60_000, ...options.output },
      retryAfter: options.retryAfter ?? 1,
      log: options.log ?? null,
      routeStats: () => stats.all(),
      recordStreamed: (request, status) => stats.recordStreamed(request, status),
    };
    app.decorate('cosocket', state);
    // callback hooks: fastify runs async ones with a promise and a microtask each, on every request
    app.addHook('onRequest', (request, _reply, done) => {
      stats.entry(request).requests++;
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      stats.record(request, reply.statusCode);
      done();
    });
    app.addHook('onRequestAbort', (request, done) => {
      stats.entry(request).aborted++;
      done();
    });
  },
  { name: 'cosocket', fastify: '5.x' },
);

/** A fastify handler that runs `handler` as a coroutine under the plugin's scheduler. */
export function co(
  handler: (ctx: HandlerContext) => Operation<unknown>,
  options: { name?: string; deadline?: number } = {},
): RouteHandlerMethod {
  const name = options.name ?? (handler.name || 'handler');
  return function coroutineHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
    const state = this.cosocket;
    if (state === undefined) throw new Error('co(): register cosocketPlugin on this fastify instance first');
    const ctx = new HandlerContext(request, reply, state.output, state, state.log ?? reply.log);
    let task: Task<unknown>;
    try {
      task = state.scheduler.start(options.deadline === undefined ? { name } : { name, deadline: options.deadline }, handler, ctx);
    } catch (err) {
      if (!(err instanceof BudgetExceededError)) throw err;
      reply.code(503).header('retry-after', String(state.retryAfter)).type('text/plain; charset=utf-8').send(`503 Service Unavailable: ${err.message}\n`);
      return;
    }
    ctx.attach(task);
    if (task.done) {
      task.markObserved(); // it failed or finished on its first step: the reply below is its observer
      ctx.onTaskSettled(task);
      return;
    }
    task.addObserver(ctx);
    reply.raw.once('close', () => {
      if (!task.done && !reply.raw.writableFinished) task.cancel(CancelReason.clientAbort());
    });
  };
}

export { HandlerContext } from './context.js';
