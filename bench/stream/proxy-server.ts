/**
 * The proxies under test, one per process: `node proxy-server.js MODE UPSTREAM_PORT`; prints
 * `listening PORT`. MODE: naive (the Lua loop ported as is: read one upstream chunk, print,
 * flush(true)), off / on (cosocket's proxy, buffering off or on), reply-from (@fastify/reply-from).
 */
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';
import type { HandlerContext, Operation } from '../../src/index.js';
import { loadSubject } from '../lib/subject.js';

const { co, copyResponseHead, cosocketPlugin, http, proxyPass } = await loadSubject();

const [mode, upstreamPort] = process.argv.slice(2);
const port = Number(upstreamPort);
const app = Fastify({ logger: false });

if (mode === 'reply-from') {
  await app.register(replyFrom, { base: `http://127.0.0.1:${port}` });
  app.get('/*', (request, reply) => {
    void reply.from(request.url);
  });
} else {
  await app.register(cosocketPlugin);
  if (mode === 'naive') {
    app.get(
      '/*',
      co(function* naive(ctx: HandlerContext): Operation<void> {
        const conn = yield* http.connect('127.0.0.1', port);
        const res = yield* conn.request({ path: ctx.request.url });
        copyResponseHead(ctx, res);
        for (;;) {
          const chunk = yield* res.body.readChunk();
          if (chunk === null) break;
          ctx.print(chunk);
          yield* ctx.flush(true);
        }
        conn.setkeepalive();
      }),
    );
  } else if (mode === 'off' || mode === 'on') {
    const buffering = mode === 'on';
    app.get(
      '/*',
      co(function* proxied(ctx: HandlerContext): Operation<void> {
        yield* proxyPass(ctx, '127.0.0.1', port, { buffering: { buffering } });
      }),
    );
  } else {
    throw new Error(`unknown mode ${String(mode)}`);
  }
}
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
process.on('SIGTERM', () => process.exit(0));
