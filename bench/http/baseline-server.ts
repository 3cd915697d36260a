/**
 * The servers a user would write by hand instead of cosocket, for bench/http. Run as
 * `node baseline-server.js MODE REDIS_URL`; prints `listening PORT` when ready.
 *   constant     fastify returning the 10 bytes, no Redis (the ceiling)
 *   ioredis      fastify + one shared ioredis client, async handler (what most people write)
 *   ioredis-pool fastify + generic-pool of ioredis clients, one per request (cosocket keepalive's model)
 *   connect      fastify + a new ioredis connection per request (cosocket short's model)
 *   raw-connect  fastify + a new net.connect per request speaking RESP by hand (short's model, no client library)
 *   co-constant  fastify + cosocket's plugin, a co() handler printing the 10 bytes (constant's cost plus co()'s)
 */
import Fastify from 'fastify';
import genericPool from 'generic-pool';
import { Redis } from 'ioredis';
import type { HandlerContext, Operation } from '../../src/index.js';
import { getTestOverNewConnection } from './raw-resp-get.js';

const [mode, url] = process.argv.slice(2);
if (!mode || !url) throw new Error('usage: baseline-server MODE REDIS_URL');
const app = Fastify({ logger: false });
const options = { enableReadyCheck: false, lazyConnect: true, maxRetriesPerRequest: 0 };

if (mode === 'constant') {
  app.get('/test', async () => 'hello12345');
} else if (mode === 'ioredis') {
  const redis = new Redis(url, options);
  await redis.connect();
  app.get('/test', async () => redis.get('test'));
} else if (mode === 'ioredis-pool') {
  const pool = genericPool.createPool(
    {
      create: async () => {
        const client = new Redis(url, options);
        await client.connect();
        return client;
      },
      destroy: async (client) => client.disconnect(),
    },
    { max: 100, min: 0 },
  );
  app.get('/test', async () => {
    const client = await pool.acquire();
    try {
      return await client.get('test');
    } finally {
      void pool.release(client);
    }
  });
} else if (mode === 'connect') {
  app.get('/test', async () => {
    const client = new Redis(url, options);
    await client.connect();
    try {
      return await client.get('test');
    } finally {
      client.disconnect();
    }
  });
} else if (mode === 'raw-connect') {
  const { hostname, port } = new URL(url);
  app.get('/test', async () => (await getTestOverNewConnection(hostname, Number(port))) ?? '');
} else if (mode === 'co-constant') {
  // only this server runs the library under test: the others never load it
  const lib = await (await import('../lib/subject.js')).loadSubject();
  await app.register(lib.cosocketPlugin, {});
  app.get(
    '/test',
    lib.co(function* constant(ctx: HandlerContext): Operation<void> {
      ctx.print('hello12345');
    }),
  );
} else {
  throw new Error(`unknown mode ${mode}`);
}
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
