/**
 * The program of the consumer-project test (consumer.test.ts), as a user would write it against the
 * installed package: it is copied into a fresh folder, type-checked there and run. Not part of this build.
 */
export const CONSUMER_SOURCE = `
import Fastify from 'fastify';
import { CosocketError, HeadersSentError, go, race, sleep } from 'cosocket';
import type { Operation, Task } from 'cosocket';
import { redis, tcp } from 'cosocket/core';
import { co, cosocketPlugin } from 'cosocket/fastify';
import type { HandlerContext } from 'cosocket/fastify';
import { UpstreamTable, parseUpstream, toNginx } from 'cosocket/dyups';
import { startTracing } from 'cosocket/tracing';

function* fastest(): Operation<string> {
  const first = yield* race({ fast: sleep(1), slow: sleep(1000) });
  return Object.keys(first).join(',');
}
const task: Task<string> = go(fastest);
const won = await task;
const target: redis.RedisTarget = redis.parseRedisTarget('redis://127.0.0.1:6379/1');
const group = parseUpstream('app', 'server 127.0.0.1:8080;');
const table = new UpstreamTable({ stateFile: null }, [group]);
const app = Fastify();
await app.register(cosocketPlugin);
app.get('/', co(function* (ctx: HandlerContext): Operation<void> { ctx.say('hi'); }));
const res = await app.inject({ method: 'GET', url: '/' });
await app.close();
const late: CosocketError = new HeadersSentError('status 500');
const tracing = await startTracing({ endpoint: null, serviceName: 'consumer', sampleRatio: 1 });
let mapped = '';
try {
  redis.parseRedisTarget('localhost:6379');
} catch (err) {
  // with --enable-source-maps the stack names the TypeScript source the package ships inline
  mapped = /adapters\\/redis\\/url\\.ts:\\d+/.exec((err as Error).stack ?? '')?.[0] ?? 'unmapped';
}
console.log(JSON.stringify({
  won,
  db: target.db,
  nginx: toNginx(group).includes('server 127.0.0.1:8080'),
  found: table.get('app')?.name,
  body: res.body,
  code: late.code,
  tracing,
  connect: typeof tcp.connect,
  mapped,
}));
`;
