import { Redis } from 'ioredis';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';

/** A private redis-server for one test file, and a plain ioredis client to look at it from outside. */
export interface TestRedis {
  server: EmbeddedRedis;
  url: string;
  admin: Redis;
  /** Client connections the server has now, not counting `admin`. */
  clients(): Promise<number>;
  /** Connections the server has accepted since it started. */
  connectionsReceived(): Promise<number>;
  stop(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const server = await startEmbeddedRedis();
  const admin = new Redis(server.url, { lazyConnect: false });
  await admin.ping();
  return {
    server,
    url: server.url,
    admin,
    async clients() {
      const list = (await admin.client('LIST')) as string;
      return (
        list
          .trim()
          .split('\n')
          .filter((line) => line !== '').length - 1
      );
    },
    async connectionsReceived() {
      const info = await admin.info('stats');
      return Number(/total_connections_received:(\d+)/.exec(info)![1]);
    },
    async stop() {
      admin.disconnect();
      await server.stop();
    },
  };
}

/** One command on a connection of its own to 127.0.0.1:port, closed after (no retries): for looking at a server from outside. */
export async function redisCommand(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(args[0]!, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}
