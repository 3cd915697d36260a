import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  InvalidArgumentError,
  Scheduler,
  SocketTimeoutError,
  UnexpectedReplyError,
  pools,
  redis,
  sleep,
  spawn,
} from '../../src/index.js';
import type { Operable, Operation } from '../../src/index.js';
import { installCommands } from '../../adapters/redis/commands.js';
import { startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { startTcpServer } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'redis-command-tests' });
let r: TestRedis;

/** Runs `body` with a keepalive connection of its own pool, handed back afterwards. */
function withRedis<T>(
  body: (red: redis.RedisClient) => Operation<T>,
  options: redis.RedisConnectOptions = {},
): Promise<T> {
  return scheduler.go(function* () {
    const red = yield* redis.connect({ url: r.url, pool: 'commands', ...options });
    try {
      return yield* body(red);
    } finally {
      if (!red.closed) red.close();
    }
  });
}

function* caught(op: Operable<unknown>): Operation<unknown> {
  try {
    return yield* op;
  } catch (err) {
    return err;
  }
}

function commandCalls(info: string, command: string): number {
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return match === null ? 0 : Number(match[1]);
}

describe('redis commands from the table', () => {
  before(async () => {
    r = await startTestRedis();
  });
  after(async () => {
    await pools.drain();
    await r.stop();
  });

  it('every row of the table is a command this redis-server knows, and every common command has a row', async () => {
    const names = Object.keys(redis.COMMANDS);
    const info = (await r.admin.call('COMMAND', 'INFO', ...names)) as unknown[];
    const unknown = names.filter((_, i) => info[i] === null);
    assert.deepEqual(unknown, []);
    const common =
      `get set setnx setex psetex getset getdel getex mget mset msetnx incr incrby incrbyfloat decr decrby append
      strlen getrange setrange del unlink exists expire pexpire expireat ttl pttl persist type rename renamenx keys scan
      randomkey dbsize touch copy hget hset hsetnx hmget hmset hdel hexists hgetall hkeys hvals hlen hincrby hincrbyfloat hscan
      hstrlen hrandfield lpush rpush lpushx rpushx lpop rpop llen lrange lindex lset lrem ltrim linsert lpos lmove blpop brpop
      blmove brpoplpush sadd srem smembers sismember smismember scard spop srandmember sinter sunion sdiff sinterstore
      sunionstore sdiffstore smove sscan zadd zrem zscore zmscore zincrby zcard zcount zrange zrangebyscore zrevrange
      zrevrangebyscore zrank zrevrank zremrangebyrank zremrangebyscore zpopmin zpopmax bzpopmin bzpopmax zscan zunionstore
      zinterstore xadd xlen xrange xrevrange xread xreadgroup xack xgroup xdel xtrim xpending xclaim xautoclaim xinfo eval
      evalsha script ping echo time info publish watch unwatch`.split(/\s+/);
    assert.deepEqual(
      common.filter((name) => !names.includes(name)),
      [],
    );
  });

  it('strings', async () => {
    const got = await withRedis(function* (red) {
      return {
        set: yield* red.set('s:a', 'one'),
        get: yield* red.get('s:a'),
        missing: yield* red.get('s:none'),
        setGet: yield* red.set('s:a', 'two', 'GET'),
        setnxNew: yield* red.setnx('s:b', 'x'),
        setnxOld: yield* red.setnx('s:b', 'y'),
        setex: yield* red.setex('s:ex', 100, 'v'),
        psetex: yield* red.psetex('s:pex', 100_000, 'v'),
        getset: yield* red.getset('s:b', 'z'),
        getex: yield* red.getex('s:b', 'EX', 100),
        getdel: yield* red.getdel('s:b'),
        mset: yield* red.mset({ 's:m1': 'a', 's:m2': 2 }),
        mget: yield* red.mget('s:m1', 's:m2', 's:none'),
        msetnx: yield* red.msetnx('s:m1', 'x', 's:m3', 'y'),
        incr: yield* red.incr('s:n'),
        incrby: yield* red.incrby('s:n', 10),
        decr: yield* red.decr('s:n'),
        decrby: yield* red.decrby('s:n', 5),
        incrbyfloat: yield* red.incrbyfloat('s:f', 1.5),
        append: yield* red.append('s:a', '-tail'),
        strlen: yield* red.strlen('s:a'),
        getrange: yield* red.getrange('s:a', 0, 2),
        setrange: yield* red.setrange('s:a', 0, 'TWO'),
        after: yield* red.get('s:a'),
      };
    });
    assert.deepEqual(got, {
      set: 'OK',
      get: 'one',
      missing: null,
      setGet: 'one',
      setnxNew: true,
      setnxOld: false,
      setex: 'OK',
      psetex: 'OK',
      getset: 'x',
      getex: 'z',
      getdel: 'z',
      mset: 'OK',
      mget: ['a', '2', null],
      msetnx: false,
      incr: 1,
      incrby: 11,
      decr: 10,
      decrby: 5,
      incrbyfloat: 1.5,
      append: 8,
      strlen: 8,
      getrange: 'two',
      setrange: 8,
      after: 'TWO-tail',
    });
  });

  it('keys', async () => {
    const got = await withRedis(function* (red) {
      yield* red.mset('k:a', '1', 'k:b', '2', 'k:c', '3');
      const cursorKeys: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = yield* red.scan(cursor, 'MATCH', 'k:*', 'COUNT', 2);
        cursorKeys.push(...keys);
        cursor = next;
      } while (cursor !== '0');
      return {
        exists: yield* red.exists('k:a', 'k:b', 'k:none'),
        expire: yield* red.expire('k:a', 100),
        expireMissing: yield* red.expire('k:none', 100),
        ttl: yield* red.ttl('k:a'),
        pexpire: yield* red.pexpire('k:b', 100_000),
        pttlPositive: (yield* red.pttl('k:b')) > 0,
        expireat: yield* red.expireat('k:c', Math.floor(Date.now() / 1000) + 1000),
        persist: yield* red.persist('k:a'),
        persistAgain: yield* red.persist('k:a'),
        ttlAfter: yield* red.ttl('k:a'),
        type: yield* red.type('k:a'),
        rename: yield* red.rename('k:a', 'k:renamed'),
        renamenx: yield* red.renamenx('k:renamed', 'k:b'),
        copy: yield* red.copy('k:renamed', 'k:copy'),
        copyAgain: yield* red.copy('k:renamed', 'k:copy'),
        keys: (yield* red.keys('k:*')).sort(),
        scanned: cursorKeys.sort(),
        touch: yield* red.touch('k:b', 'k:none'),
        randomkey: typeof (yield* red.randomkey()),
        dbsizePositive: (yield* red.dbsize()) > 0,
        unlink: yield* red.unlink('k:copy'),
        del: yield* red.del('k:renamed', 'k:b', 'k:c', 'k:none'),
      };
    });
    assert.deepEqual(got, {
      exists: 2,
      expire: true,
      expireMissing: false,
      ttl: 100,
      pexpire: true,
      pttlPositive: true,
      expireat: true,
      persist: true,
      persistAgain: false,
      ttlAfter: -1,
      type: 'string',
      rename: 'OK',
      renamenx: false,
      copy: true,
      copyAgain: false,
      keys: ['k:b', 'k:c', 'k:copy', 'k:renamed'],
      scanned: ['k:a', 'k:b', 'k:c'],
      touch: 1,
      randomkey: 'string',
      dbsizePositive: true,
      unlink: 1,
      del: 3,
    });
  });

  it('hashes: hgetall is an object, yes/no answers are booleans', async () => {
    const got = await withRedis(function* (red) {
      const fields: string[] = [];
      let cursor = '0';
      do {
        const [next, flat] = yield* red.hscan('h', cursor);
        for (let i = 0; i < flat.length; i += 2) fields.push(flat[i]!);
        cursor = next;
      } while (cursor !== '0');
      return {
        hset: yield* red.hset('h', { a: '1', b: 2 }),
        hsetPairs: yield* red.hset('h', 'c', '3', '__proto__', 'field'),
        hgetall: yield* red.hgetall('h'),
        hgetallMissing: yield* red.hgetall('h:none'),
        hget: yield* red.hget('h', 'a'),
        hsetnx: yield* red.hsetnx('h', 'a', 'x'),
        hmget: yield* red.hmget('h', 'a', 'none'),
        hmset: yield* red.hmset('h2', { x: '1' }),
        hexists: yield* red.hexists('h', 'a'),
        hexistsNot: yield* red.hexists('h', 'none'),
        hkeys: yield* red.hkeys('h2'),
        hvals: yield* red.hvals('h2'),
        hlen: yield* red.hlen('h'),
        hincrby: yield* red.hincrby('h', 'b', 5),
        hincrbyfloat: yield* red.hincrbyfloat('h', 'b', '0.25'),
        hstrlen: yield* red.hstrlen('h', 'a'),
        hrandfield: yield* red.hrandfield('h2'),
        hrandfields: yield* red.hrandfield('h2', 5, 'WITHVALUES'),
        hdel: yield* red.hdel('h', 'c', 'none'),
        scanned: fields,
      };
    });
    const all = got.hgetall;
    assert.deepEqual(Object.entries(all).sort(), [
      ['__proto__', 'field'],
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
    assert.equal(
      Object.getPrototypeOf(all),
      Object.prototype,
      'a plain object; the "__proto__" field did not replace its prototype',
    );
    const { hgetall: _, ...rest } = got;
    assert.deepEqual(rest, {
      hset: 2,
      hsetPairs: 2,
      hgetallMissing: {},
      hget: '1',
      hsetnx: false,
      hmget: ['1', null],
      hmset: 'OK',
      hexists: true,
      hexistsNot: false,
      hkeys: ['x'],
      hvals: ['1'],
      hlen: 4,
      hincrby: 7,
      hincrbyfloat: 7.25,
      hstrlen: 1,
      hrandfield: 'x',
      hrandfields: ['x', '1'],
      hdel: 1,
      scanned: [],
    });
  });

  it('lists', async () => {
    const got = await withRedis(function* (red) {
      return {
        rpush: yield* red.rpush('l', 'a', 'b', 'c'),
        lpush: yield* red.lpush('l', 'z'),
        lpushx: yield* red.lpushx('l:none', 'x'),
        rpushx: yield* red.rpushx('l', 'd'),
        lrange: yield* red.lrange('l', 0, -1),
        llen: yield* red.llen('l'),
        lindex: yield* red.lindex('l', 1),
        lset: yield* red.lset('l', 1, 'A'),
        linsert: yield* red.linsert('l', 'AFTER', 'A', 'a2'),
        lpos: yield* red.lpos('l', 'b'),
        lposNone: yield* red.lpos('l', 'nothing'),
        lposCount: yield* red.lpos('l', 'b', 'COUNT', 0),
        lrem: yield* red.lrem('l', 0, 'a2'),
        lmove: yield* red.lmove('l', 'l2', 'RIGHT', 'LEFT'),
        ltrim: yield* red.ltrim('l', 0, 2),
        lpop: yield* red.lpop('l'),
        rpopCount: yield* red.rpop('l', 5),
        lpopMissing: yield* red.lpop('l:none'),
        lpopCountMissing: yield* red.lpop('l:none', 2),
        brpoplpush: yield* red.brpoplpush('l2', 'l3', 1),
        blmove: yield* red.blmove('l3', 'l2', 'LEFT', 'RIGHT', 1),
      };
    });
    assert.deepEqual(got, {
      rpush: 3,
      lpush: 4,
      lpushx: 0,
      rpushx: 5,
      lrange: ['z', 'a', 'b', 'c', 'd'],
      llen: 5,
      lindex: 'a',
      lset: 'OK',
      linsert: 6,
      lpos: 3,
      lposNone: null,
      lposCount: [3],
      lrem: 1,
      lmove: 'd',
      ltrim: 'OK',
      lpop: 'z',
      rpopCount: ['b', 'A'],
      lpopMissing: null,
      lpopCountMissing: null,
      brpoplpush: 'd',
      blmove: 'd',
    });
  });

  it('sets', async () => {
    const got = await withRedis(function* (red) {
      return {
        sadd: yield* red.sadd('set:a', 'x', 'y', 'z'),
        sadd2: yield* red.sadd('set:b', 'y', 'w'),
        srem: yield* red.srem('set:a', 'z', 'none'),
        smembers: (yield* red.smembers('set:a')).sort(),
        sismember: yield* red.sismember('set:a', 'x'),
        sismemberNot: yield* red.sismember('set:a', 'z'),
        smismember: yield* red.smismember('set:a', 'x', 'z', 'y'),
        scard: yield* red.scard('set:a'),
        sinter: yield* red.sinter('set:a', 'set:b'),
        sunion: (yield* red.sunion('set:a', 'set:b')).sort(),
        sdiff: yield* red.sdiff('set:a', 'set:b'),
        sinterstore: yield* red.sinterstore('set:i', 'set:a', 'set:b'),
        sunionstore: yield* red.sunionstore('set:u', 'set:a', 'set:b'),
        sdiffstore: yield* red.sdiffstore('set:d', 'set:a', 'set:b'),
        smove: yield* red.smove('set:u', 'set:m', 'w'),
        smoveMissing: yield* red.smove('set:u', 'set:m', 'w'),
        srandmember: yield* red.srandmember('set:m'),
        srandmembers: yield* red.srandmember('set:m', 3),
        sscan: (yield* red.sscan('set:u', 0))[1].sort(),
        spop: yield* red.spop('set:m'),
        spopEmpty: yield* red.spop('set:m'),
        spopCount: (yield* red.spop('set:u', 5)).sort(),
      };
    });
    assert.deepEqual(got, {
      sadd: 3,
      sadd2: 2,
      srem: 1,
      smembers: ['x', 'y'],
      sismember: true,
      sismemberNot: false,
      smismember: [true, false, true],
      scard: 2,
      sinter: ['y'],
      sunion: ['w', 'x', 'y'],
      sdiff: ['x'],
      sinterstore: 1,
      sunionstore: 3,
      sdiffstore: 1,
      smove: true,
      smoveMissing: false,
      srandmember: 'w',
      srandmembers: ['w'],
      sscan: ['x', 'y'],
      spop: 'w',
      spopEmpty: null,
      spopCount: ['x', 'y'],
    });
  });

  it('sorted sets: scores are numbers', async () => {
    const got = await withRedis(function* (red) {
      return {
        zadd: yield* red.zadd('z', 1, 'a', 2, 'b', 3, 'c'),
        zaddOptions: yield* red.zadd('z', 'NX', 'CH', 4, 'd', 5, 'a'),
        zscore: yield* red.zscore('z', 'b'),
        zscoreMissing: yield* red.zscore('z', 'none'),
        zmscore: yield* red.zmscore('z', 'a', 'none'),
        zincrby: yield* red.zincrby('z', 0.5, 'b'),
        zinf: yield* red.zincrby('z', '+inf', 'c'),
        zcard: yield* red.zcard('z'),
        zcount: yield* red.zcount('z', 2, '+inf'),
        zrange: yield* red.zrange('z', 0, -1),
        zrangeWithScores: yield* red.zrange('z', 0, 1, 'WITHSCORES'),
        zrangebyscore: yield* red.zrangebyscore('z', '(1', 4),
        zrevrange: yield* red.zrevrange('z', 0, 1),
        zrevrangebyscore: yield* red.zrevrangebyscore('z', '+inf', 3),
        zrank: yield* red.zrank('z', 'b'),
        zrevrank: yield* red.zrevrank('z', 'b'),
        zrankMissing: yield* red.zrank('z', 'none'),
        zscan: (yield* red.zscan('z', 0))[1].length,
        zunionstore: yield* red.zunionstore('z:u', 2, 'z', 'z', 'WEIGHTS', 1, 2),
        zinterstore: yield* red.zinterstore('z:i', 1, 'z'),
        zpopmin: yield* red.zpopmin('z'),
        zpopmax: yield* red.zpopmax('z', 2),
        zremrangebyrank: yield* red.zremrangebyrank('z:u', 0, 0),
        zremrangebyscore: yield* red.zremrangebyscore('z:u', '-inf', '+inf'),
        zrem: yield* red.zrem('z', 'b', 'none'),
        bzpopmin: yield* red.bzpopmin('z:none', 'z:i', 1),
        bzpopmax: yield* red.bzpopmax('z:i', 1),
      };
    });
    assert.deepEqual(got, {
      zadd: 3,
      zaddOptions: 1,
      zscore: 2,
      zscoreMissing: null,
      zmscore: [1, null],
      zincrby: 2.5,
      zinf: Infinity,
      zcard: 4,
      zcount: 3,
      zrange: ['a', 'b', 'd', 'c'],
      zrangeWithScores: ['a', '1', 'b', '2.5'],
      zrangebyscore: ['b', 'd'],
      zrevrange: ['c', 'd'],
      zrevrangebyscore: ['c', 'd'],
      zrank: 1,
      zrevrank: 2,
      zrankMissing: null,
      zscan: 8,
      zunionstore: 4,
      zinterstore: 4,
      zpopmin: [['a', 1]],
      zpopmax: [
        ['c', Infinity],
        ['d', 4],
      ],
      zremrangebyrank: 1,
      zremrangebyscore: 3,
      zrem: 1,
      bzpopmin: ['z:i', 'a', 1],
      bzpopmax: ['z:i', 'c', Infinity],
    });
  });

  it('streams: xadd, xreadgroup, xpending, xack, xclaim, xautoclaim round trip', async () => {
    const got = await withRedis(function* (red) {
      const created = yield* red.xgroup('CREATE', 'st', 'g', '$', 'MKSTREAM');
      const id1 = yield* red.xadd('st', '*', { n: '1' });
      const id2 = yield* red.xadd('st', '*', 'n', '2', 'extra', 'x');
      const read = yield* red.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', 'st', '>');
      const summary = yield* red.xpending('st', 'g');
      const acked = yield* red.xack('st', 'g', id1);
      const pending = yield* red.xpending('st', 'g', '-', '+', 10);
      const claimed = yield* red.xclaim('st', 'g', 'c2', 0, id2!);
      const id3 = yield* red.xadd('st', '*', { n: '3' });
      yield* red.xreadgroup('GROUP', 'g', 'c1', 'STREAMS', 'st', '>');
      const deleted = yield* red.xdel('st', id3);
      const history = yield* red.xreadgroup('GROUP', 'g', 'c1', 'STREAMS', 'st', '0');
      const autoclaimed = yield* red.xautoclaim('st', 'g', 'c3', 0, '0-0');
      return {
        created,
        ids: [id1, id2, id3].map((id) => /^\d+-\d+$/.test(id!)),
        read,
        summary,
        acked,
        pending,
        claimed,
        deleted,
        history,
        autoclaimed,
        xlen: yield* red.xlen('st'),
        xrange: yield* red.xrange('st', '-', '+'),
        xrevrange: yield* red.xrevrange('st', '+', '-', 'COUNT', 1),
        xread: yield* red.xread('COUNT', 5, 'STREAMS', 'st', '0'),
        xreadNothing: yield* red.xread('STREAMS', 'st', '$'),
        xtrim: yield* red.xtrim('st', 'MAXLEN', 0),
        groups: Array.isArray(yield* red.xinfo('GROUPS', 'st')),
        destroyed: yield* red.xgroup('DESTROY', 'st', 'g'),
        ids1: [id1, id2, id3],
      };
    });
    const [id1, id2, id3] = got.ids1 as string[];
    assert.deepEqual(got.ids, [true, true, true]);
    assert.equal(got.created, 'OK');
    assert.deepEqual(got.read, [
      [
        'st',
        [
          [id1, ['n', '1']],
          [id2, ['n', '2', 'extra', 'x']],
        ],
      ],
    ]);
    assert.deepEqual(got.summary, [2, id1, id2, [['c1', '2']]]);
    assert.equal(got.acked, 1);
    assert.equal(got.pending.length, 1);
    assert.deepEqual(
      got.pending.map(([id, consumer, idle, deliveries]) => [id, consumer, typeof idle, deliveries]),
      [[id2, 'c1', 'number', 1]],
    );
    assert.deepEqual(got.claimed, [[id2, ['n', '2', 'extra', 'x']]]);
    assert.equal(got.deleted, 1);
    assert.deepEqual(got.history, [['st', [[id3, null]]]], 'a pending entry deleted since it was read has no fields');
    assert.deepEqual(got.autoclaimed, ['0-0', [[id2, ['n', '2', 'extra', 'x']]], [id3]]);
    assert.equal(got.xlen, 2);
    assert.deepEqual(got.xrange, [
      [id1, ['n', '1']],
      [id2, ['n', '2', 'extra', 'x']],
    ]);
    assert.deepEqual(got.xrevrange, [[id2, ['n', '2', 'extra', 'x']]]);
    assert.deepEqual(got.xread, [
      [
        'st',
        [
          [id1, ['n', '1']],
          [id2, ['n', '2', 'extra', 'x']],
        ],
      ],
    ]);
    assert.equal(got.xreadNothing, null);
    assert.equal(got.xtrim, 2);
    assert.equal(got.groups, true);
    assert.equal(got.destroyed, 1);
  });

  it('server and misc commands', async () => {
    const got = await withRedis(function* (red) {
      return {
        ping: yield* red.ping(),
        pingMessage: yield* red.ping('hi'),
        echo: yield* red.echo('e'),
        time: (yield* red.time()).map((n) => Number.isInteger(n) && n >= 0),
        info: /redis_version:/.test(yield* red.info('server')),
        publish: yield* red.publish('nobody', 'm'),
        watch: yield* red.watch('w'),
        unwatch: yield* red.unwatch(),
      };
    });
    assert.deepEqual(got, {
      ping: 'PONG',
      pingMessage: 'hi',
      echo: 'e',
      time: [true, true],
      info: true,
      publish: 0,
      watch: 'OK',
      unwatch: 'OK',
    });
  });

  it('pipelines and transactions queue typed commands and map each reply', async () => {
    const got = await withRedis(function* (red) {
      yield* red.set('p:str', 'x');
      const piped = yield* red
        .pipeline()
        .hset('p:h', { a: '1' })
        .hgetall('p:h')
        .sismember('p:s', 'm')
        .zscore('p:z', 'none')
        .hgetall('p:str')
        .call('GET', 'p:str')
        .exec();
      const tx = yield* red.multi().setnx('p:n', 'v').setnx('p:n', 'w').incrbyfloat('p:f', '2.5').exec();
      return { piped, tx };
    });
    const piped = got.piped!;
    assert.deepEqual(piped.slice(0, 4), [
      [null, 1],
      [null, { a: '1' }],
      [null, false],
      [null, null],
    ]);
    assert.match(String(piped[4]![0]), /WRONGTYPE/, "an error reply stays that command's error");
    assert.deepEqual(piped[5], [null, 'x']);
    assert.deepEqual(got.tx, [
      [null, true],
      [null, false],
      [null, 2.5],
    ]);
  });

  it('evalScript: EVALSHA, EVAL once on NOSCRIPT, then EVALSHA from the cache', async () => {
    const own = await startEmbeddedRedis();
    try {
      const text = 'return redis.call("INCRBY", KEYS[1], ARGV[1])';
      const lua = redis.script(text);
      assert.equal(redis.script(text), lua, 'the same text gives the same script, its SHA1 computed once');
      const got = await scheduler.go(function* () {
        const red = yield* redis.connect({ url: own.url, mode: 'short' });
        const before = yield* red.script('EXISTS', lua.sha);
        const first = yield* red.evalScript<number>(text, ['n'], [5]);
        const between = yield* red.script('EXISTS', lua.sha);
        const second = yield* red.evalScript<number>(lua, ['n'], [2]);
        const third = yield* red.evalScript<number>(text, ['n'], [1]);
        const failed = yield* caught(red.evalScript('return redis.error_reply("boom")'));
        const stats = yield* red.info('commandstats');
        red.close();
        return { before, first, between, second, third, failed, stats };
      });
      assert.deepEqual([got.before, got.first, got.between, got.second, got.third], [[false], 5, [true], 7, 8]);
      assert.equal(commandCalls(got.stats, 'eval'), 2, 'EVAL ran once per script the server did not know');
      assert.equal(commandCalls(got.stats, 'evalsha'), 4, 'one EVALSHA per evalScript');
      assert.ok(got.failed instanceof Error && /boom/.test(got.failed.message), String(got.failed));
    } finally {
      await own.stop();
    }
  });

  it("a script error is the caller's, EVAL is not retried for it", async () => {
    const err = await withRedis(function* (red) {
      yield* red.set('e:str', 'text');
      yield* red.evalScript('return redis.call("GET", KEYS[1])', ['e:str']);
      return yield* caught(red.evalScript('return redis.call("INCR", KEYS[1])', ['e:str']));
    });
    assert.ok(err instanceof Error && /not an integer/.test(err.message), String(err));
  });

  it('blocking pops wait for their own timeout, not the read timeout', async () => {
    const got = await withRedis(
      function* (red) {
        const blpop = yield* caught(red.blpop('b:empty', 1));
        const bzpopmin = yield* caught(red.bzpopmin('b:empty', 0.6));
        const xread = yield* caught(red.xread('BLOCK', 600, 'STREAMS', 'b:stream', '$'));
        const pusher = yield* spawn(function* () {
          yield* sleep(700);
          const other = yield* redis.connect({ url: r.url, mode: 'short' });
          yield* other.rpush('b:later', 'arrived');
          other.close();
        });
        const forever = yield* red.brpop('b:later', 0);
        yield* pusher;
        return { blpop, bzpopmin, xread, forever };
      },
      // each blocks longer than the read timeout; the read timeout is the margin past their own timeout,
      // wide enough for a loaded machine
      { pool: 'blocking', timeouts: { read: 400 } },
    );
    assert.deepEqual(got, { blpop: null, bzpopmin: null, xread: null, forever: ['b:later', 'arrived'] });
  });

  it('a plain command past its read timeout still times out', async () => {
    const err = await withRedis(
      function* (red) {
        return yield* caught(
          red.eval(
            'local t = redis.call("TIME") while true do local n = redis.call("TIME") if (n[1] - t[1]) * 1000000 + n[2] - t[2] > 200000 then return 1 end end',
            0,
          ),
        );
      },
      { pool: 'slow-eval', timeouts: { read: 50 } },
    );
    assert.ok(err instanceof SocketTimeoutError, String(err));
  });

  it('refuses bad arguments before sending anything', async () => {
    const before = Number(/total_commands_processed:(\d+)/.exec(await r.admin.info('stats'))![1]);
    const errors = await withRedis(function* (red) {
      const bad = (run: () => unknown): unknown => {
        try {
          run();
        } catch (err) {
          return err;
        }
        return null;
      };
      const anyRed = red as unknown as Record<string, (...args: unknown[]) => unknown>;
      return [
        bad(() => anyRed.get!(undefined)),
        bad(() => anyRed.del!(['a', 'b'])),
        bad(() => anyRed.incrby!('k', NaN)),
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- tsc needs it
        bad(() => red.blpop('k', 'soon' as unknown as number)),
        bad(() => red.blpop('k', -1)),
        bad(() => red.xclaim('st', 'g', 'c', 0, '0-1', 'JUSTID')),
        bad(() => red.zadd('z', 'XX', 'INCR', 1, 'm')),
        bad(() => red.pipeline().get({} as unknown as string)),
      ];
    });
    const messages = errors.map((err) => {
      assert.ok(err instanceof InvalidArgumentError, String(err));
      return err.message;
    });
    assert.deepEqual(messages, [
      'redis GET: argument 1 must be a string, a finite number or a Buffer, got undefined',
      'redis DEL: argument 1 must be a string, a finite number or a Buffer, got an array (spread it: ...values)',
      'redis INCRBY: argument 2 must be a string, a finite number or a Buffer, got NaN',
      "redis BLPOP: the timeout must be a number of seconds >= 0, got 'soon'",
      "redis BLPOP: the timeout must be a number of seconds >= 0, got '-1'",
      "redis XCLAIM ... JUSTID answers ids, not entries: use red.call('XCLAIM', ...) for it",
      "redis ZADD ... INCR answers a score, not a count (or use zincrby): use red.call('ZADD', ...) for it",
      'redis GET: argument 1 must be a string, a finite number or a Buffer, got an object',
    ]);
    const afterCount = Number(/total_commands_processed:(\d+)/.exec(await r.admin.info('stats'))![1]);
    assert.equal(afterCount - before, 1, 'only the INFO that counted was processed');
  });

  it("shared mode refuses blocking commands: they would hold everybody's connection", async () => {
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: r.url, mode: 'shared' });
        yield* red.blpop('x', 1);
      }),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        /BLPOP blocks the connection it runs on: use mode 'short' or 'keepalive'/.test(err.message),
    );
    const nonBlocking = await scheduler.go(function* () {
      const red = yield* redis.connect({ url: r.url, mode: 'shared' });
      return yield* red.xread('STREAMS', 'nothing', '0');
    });
    assert.equal(nonBlocking, null, 'XREAD without BLOCK runs in shared mode');
  });

  it('a reply of the wrong shape is an UnexpectedReplyError, and the connection stays usable', async () => {
    const server = await startTcpServer((socket) => {
      socket.on('data', (data) => {
        const commands = data.toString('latin1').match(/(?:^|\r\n)\*\d+\r\n/g)?.length ?? 0;
        socket.write('+hello\r\n'.repeat(commands));
      });
    });
    try {
      const got = await scheduler.go(function* () {
        const red = yield* redis.connect({ url: `redis://127.0.0.1:${server.port}`, mode: 'short' });
        const boolean = yield* caught(red.sismember('s', 'm'));
        const record = yield* caught(red.hgetall('h'));
        const piped = yield* red.pipeline().zscore('z', 'm').get('k').exec();
        const after = yield* red.get('k');
        red.close();
        return { boolean, record, piped, after };
      });
      assert.ok(got.boolean instanceof UnexpectedReplyError);
      assert.equal(got.boolean.message, 'redis SISMEMBER: unexpected reply: expected 0 or 1, got string hello');
      assert.ok(got.record instanceof UnexpectedReplyError && /HGETALL/.test(got.record.message), String(got.record));
      assert.ok(
        got.piped![0]![0] instanceof UnexpectedReplyError &&
          /ZSCORE: unexpected reply: expected a number/.test(got.piped![0]![0].message),
      );
      assert.deepEqual(got.piped![1], [null, 'hello']);
      assert.equal(got.after, 'hello');
    } finally {
      await server.close();
    }
  });

  it('the installer refuses a row that would replace an existing method', () => {
    class Client {
      get(): string {
        return 'mine';
      }
      run(): never {
        throw new Error('not called');
      }
    }
    class Batch {
      queue(): never {
        throw new Error('not called');
      }
    }
    assert.throws(
      () => installCommands(Client.prototype as never, Batch.prototype),
      /'get' would replace an existing method/,
    );
  });
});
