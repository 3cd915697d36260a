import type { FastifyInstance } from 'fastify';
import { co, cosocketPlugin } from '../../fastify/plugin.js';
import type { HandlerContext } from '../../fastify/context.js';
import { call } from '../../runtime/effects/call.js';
import type { Operation } from '../../runtime/effect.js';
import { Scheduler } from '../../runtime/scheduler.js';
import { Signal } from '../../runtime/signal.js';
import { loadPage, PAGE_HEADERS } from './page.js';
import { takeSnapshot } from './snapshot.js';
import type { SnapshotSources } from './snapshot.js';

export interface DashboardOptions extends SnapshotSources {
  /** ms between two snapshots when nothing changes (a change sends one at once). Default 1,000. */
  interval?: number;
}

/**
 * GET /dashboard (the page) and GET /dashboard/events (its Server-Sent Events: a snapshot at once, on
 * every change of the table, and every `interval` ms), for the admin app: its access checks apply. The
 * events stream on cosocket's own output, in coroutines of their own scheduler (they never count
 * against the proxy's budget); closing the app ends every stream.
 */
export async function dashboardRoutes(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const interval = options.interval ?? 1_000;
  const page = loadPage();
  const wake = new Signal();
  let closing = false;
  options.table.onChange(() => wake.notify());
  app.addHook('preClose', (done) => {
    closing = true;
    wake.notify();
    done();
  });
  await app.register(cosocketPlugin, {
    scheduler: new Scheduler({ name: 'dyups dashboard', deadline: 0 }),
    // a stream is cut once it went this long without a write (the page reconnects)
    output: { idleTimeout: Math.max(60_000, interval * 3) },
  });

  for (const [name, file] of page) {
    const url = name === 'index.html' ? '/dashboard' : `/dashboard/${name}`;
    app.get(url, async (_request, reply) => reply.headers(PAGE_HEADERS).type(file.type).send(file.body));
  }
  app.get(
    '/dashboard/events',
    co(
      function* dashboardEvents(ctx: HandlerContext): Operation<void> {
        ctx.header('content-type', 'text/event-stream; charset=utf-8');
        ctx.header('cache-control', 'no-store');
        ctx.print('retry: 2000\n\n');
        while (!closing) {
          const snapshot = yield* call(takeSnapshot(options));
          ctx.print(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
          yield* ctx.flush(true);
          if (!closing) yield* wake.wait(interval);
        }
      },
      { name: 'dashboard/events' },
    ),
  );
}
