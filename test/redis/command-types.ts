/**
 * Type-level test of the command table: compiled by `npm run build`, never run. Each assignment only
 * compiles when the method's result type is what commands.ts promises, and each `@ts-expect-error`
 * fails the build if the wrong use it marks ever compiles.
 */
import type { Operation, redis } from '../../src/index.js';

export function* resultTypes(red: redis.RedisClient): Operation<void> {
  const value: string | null = yield* red.get('k');
  const ok: 'OK' = yield* red.set('k', 'v');
  const old: string | null = yield* red.set('k', 'v', 'GET');
  const hash: Record<string, string> = yield* red.hgetall('h');
  const isMember: boolean = yield* red.sismember('s', 'm');
  const present: boolean[] = yield* red.smismember('s', 'a', 'b');
  const hasField: boolean = yield* red.hexists('h', 'f');
  const expired: boolean = yield* red.expire('k', 10);
  const count: number = yield* red.exists('a', 'b');
  const added: number = yield* red.hset('h', { f: 'v', n: 1 });
  const sum: number = yield* red.incrbyfloat('f', 0.5);
  const score: number | null = yield* red.zscore('z', 'm');
  const popped: Array<[member: string, score: number]> = yield* red.zpopmin('z', 2);
  const one: string | null = yield* red.lpop('l');
  const many: string[] | null = yield* red.lpop('l', 3);
  const blocked: [key: string, element: string] | null = yield* red.blpop('a', 'b', 5);
  const page: [cursor: string, items: string[]] = yield* red.scan(0, 'MATCH', 'k*');
  const entries: Array<[id: string, fields: string[]]> = yield* red.xrange('s', '-', '+');
  const read: Array<[stream: string, entries: Array<[id: string, fields: string[]]>]> | null = yield* red.xread(
    'COUNT',
    1,
    'STREAMS',
    's',
    '0',
  );
  const group: Array<[stream: string, entries: Array<[id: string, fields: string[] | null]>]> | null =
    yield* red.xreadgroup('GROUP', 'g', 'c', 'STREAMS', 's', '>');
  const [next, claimed, deleted]: [string, Array<[string, string[]]>, string[]] = yield* red.xautoclaim(
    's',
    'g',
    'c',
    0,
    '0',
  );
  const [pendingCount]: [number, string | null, string | null, Array<[string, string]> | null] = yield* red.xpending(
    's',
    'g',
  );
  const pending: Array<[id: string, consumer: string, idleMs: number, deliveries: number]> = yield* red.xpending(
    's',
    'g',
    '-',
    '+',
    10,
  );
  const created: 'OK' = yield* red.xgroup('CREATE', 's', 'g', '$', 'MKSTREAM');
  const sha: string = yield* red.script('LOAD', 'return 1');
  const known: boolean[] = yield* red.script('EXISTS', 'abc');
  const [seconds, micros]: [number, number] = yield* red.time();
  const scripted: number = yield* red.evalScript<number>('return 1', ['k'], ['a']);
  const pipelined = yield* red
    .pipeline()
    .hset('h', { a: 1 })
    .get('a')
    .hgetall('h')
    .sismember('s', 'm')
    .lpop('l', 2)
    .exec();
  const queued: redis.RedisBatch = red.multi().blpop('a', 1).zadd('z', 1, 'm');
  void [
    value,
    ok,
    old,
    hash,
    isMember,
    present,
    hasField,
    expired,
    count,
    added,
    sum,
    score,
    popped,
    one,
    many,
    blocked,
  ];
  void [
    page,
    entries,
    read,
    group,
    next,
    claimed,
    deleted,
    pendingCount,
    pending,
    created,
    sha,
    known,
    seconds,
    micros,
    scripted,
    pipelined,
    queued,
  ];
}

export function* wrongUses(red: redis.RedisClient): Operation<void> {
  // @ts-expect-error hgetall is an object, not the flat array Redis sends
  const flat: string[] = yield* red.hgetall('h');
  // @ts-expect-error sismember answers a boolean
  const asNumber: number = yield* red.sismember('s', 'm');
  // @ts-expect-error get may answer null
  const always: string = yield* red.get('k');
  // @ts-expect-error lpop without a count answers one element
  const list: string[] | null = yield* red.lpop('l');
  // @ts-expect-error blpop needs its timeout last
  yield* red.blpop('a', 'b');
  // @ts-expect-error incrby takes a number
  yield* red.incrby('k', { by: 1 });
  // @ts-expect-error no such command
  yield* red.frobnicate('k');
  // @ts-expect-error a batch's blpop needs its timeout last too
  red.pipeline().blpop('a');
  // @ts-expect-error batch methods chain the batch, they are not effects
  const notEffect: string | null = yield* red.pipeline().get('a');
  void [flat, asNumber, always, list, notEffect];
}
