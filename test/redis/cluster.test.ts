import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ClusterSlotMap } from '../../adapters/redis/cluster-map.js';
import { firstKeyIndex, keySlot, parseRedirect } from '../../adapters/redis/cluster-slot.js';
import { InvalidArgumentError, Scheduler, all, pools, redis } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { startTestRedisCluster } from '../helpers/redis-cluster.js';
import type { TestRedisCluster } from '../helpers/redis-cluster.js';

const scheduler = new Scheduler({ name: 'redis-cluster-tests' });
let cluster: TestRedisCluster;

/** Random keys: plain, with tags, empty tags, unclosed braces, multi-byte and raw binary. */
function sampleKeys(): Array<string | Buffer> {
  const keys: Array<string | Buffer> = [
    '',
    '{}',
    '{',
    '}',
    '{a',
    'a}',
    '{}a{b}',
    'a{{b}}c',
    'é',
    '日本{語}',
    '{user1000}.following',
  ];
  for (let i = 0; i < 300; i++) {
    const body = randomBytes(1 + (i % 12)).toString('base64');
    const shapes = [
      body,
      `{${body}}x`,
      `x{}${body}`,
      `${body}{`,
      `{${body}`,
      `a{b}{${body}}`,
      `${body.slice(0, 3)}{${body.slice(3)}}`,
    ];
    keys.push(shapes[i % shapes.length]!);
  }
  for (let i = 0; i < 100; i++) {
    const bytes = randomBytes(1 + (i % 20));
    if (i % 3 === 0) bytes[0] = 0x7b; // '{' first, so some binary keys have tags
    if (i % 3 === 0 && bytes.length > 2) bytes[bytes.length - 1] = 0x7d;
    keys.push(bytes);
  }
  return keys;
}

let slotMap: ClusterSlotMap | null = null;

function sameNode(a: string, b: string): boolean {
  return slotMap!.nodeForSlot(keySlot(a)) === slotMap!.nodeForSlot(keySlot(b));
}

describe('redis cluster (a real six-node cluster)', () => {
  before(async () => {
    cluster = await startTestRedisCluster();
    console.log(`# test cluster of ${cluster.nodes.length} nodes started in ${cluster.startedInMs} ms`);
    slotMap = ClusterSlotMap.fromClusterSlots(await cluster.admin(0).call('CLUSTER', 'SLOTS'), '127.0.0.1');
  });
  after(async () => {
    await pools.drain();
    await cluster?.stop();
  });

  it('keySlot agrees with CLUSTER KEYSLOT for random, tagged, empty-tagged and binary keys', async () => {
    const keys = sampleKeys();
    const pipeline = cluster.admin(0).pipeline();
    for (const key of keys) pipeline.call('CLUSTER', 'KEYSLOT', key);
    const replies = (await pipeline.exec())!;
    keys.forEach((key, i) => {
      const [err, slot] = replies[i]!;
      assert.equal(err, null);
      assert.equal(keySlot(key), slot, `key ${JSON.stringify(Buffer.isBuffer(key) ? key.toString('hex') : key)}`);
    });
  });

  it('firstKeyIndex names the first key COMMAND GETKEYS names', async () => {
    const commands: Array<[string, ...Array<string | number>]> = [
      ['GET', 'k'],
      ['SET', 'k', 'v', 'EX', 10],
      ['MSET', 'a', '1', 'b', '2'],
      ['EVAL', 'return 1', 2, 'k1', 'k2', 'arg'],
      ['EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', 1, 'k'],
      ['FCALL', 'f', 1, 'k'],
      ['XREAD', 'COUNT', 2, 'STREAMS', 's1', 's2', '0', '0'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>'],
      ['BLMPOP', 1, 2, 'l1', 'l2', 'LEFT'],
      ['LMPOP', 1, 'l', 'RIGHT'],
      ['ZUNIONSTORE', 'dest', 2, 'z1', 'z2'],
      ['ZUNION', 2, 'z1', 'z2'],
      ['SINTERCARD', 2, 's1', 's2'],
      ['BZMPOP', 1, 1, 'z', 'MIN'],
      ['MEMORY', 'USAGE', 'k'],
      ['OBJECT', 'ENCODING', 'k'],
      ['XINFO', 'STREAM', 's'],
      ['XGROUP', 'CREATE', 's', 'g', '$'],
      ['HSET', 'h', 'f', 'v'],
      ['RENAME', 'a', 'b'],
      ['SORT', 'k', 'BY', 'w_*'],
    ];
    for (const [command, ...args] of commands) {
      const keys = (await cluster.admin(0).call('COMMAND', 'GETKEYS', command, ...args)) as string[];
      const index = firstKeyIndex(command, args);
      assert.notEqual(index, null, command);
      assert.equal(args[index!], keys[0], `${command} ${args.join(' ')}`);
    }
    for (const command of [['PING'], ['INFO', 'server'], ['PUBLISH', 'ch', 'm'], ['EVAL', 'return 1', 0]] as const) {
      const [name, ...args] = command;
      assert.equal(firstKeyIndex(name, args), null, name);
      const keys = await cluster
        .admin(0)
        .call('COMMAND', 'GETKEYS', name, ...args)
        .catch((err: Error) => err.message);
      assert.ok(
        (Array.isArray(keys) && keys.length === 0) || /no key|wrong number of arguments/.test(String(keys)),
        `${name}: ${String(keys)}`,
      );
    }
  });

  it('a slot map from the real CLUSTER SLOTS sends every key to the node that serves it, and a MOVED names it', async () => {
    const map = ClusterSlotMap.fromClusterSlots(await cluster.admin(0).call('CLUSTER', 'SLOTS'), '127.0.0.1');
    assert.equal(map.uncoveredSlots(), 0);
    assert.equal(map.masters().length, 3);
    const masterPorts = new Set(map.masters().map((n) => n.port));
    const portsHit = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const key = `routed:${i}`;
      const owner = map.nodeForSlot(keySlot(key))!;
      portsHit.add(owner.port);
      const index = cluster.nodes.findIndex((n) => n.port === owner.port);
      assert.equal(await cluster.admin(index).set(key, 'v'), 'OK', 'the mapped node serves the key, no redirect');
      const other = cluster.nodes.findIndex((n) => masterPorts.has(n.port) && n.port !== owner.port);
      const err = await cluster
        .admin(other)
        .get(key)
        .then(
          () => null,
          (e: Error) => e,
        );
      assert.ok(err !== null, 'another master redirects');
      assert.deepEqual(parseRedirect(err.message), {
        kind: 'moved',
        slot: keySlot(key),
        host: '127.0.0.1',
        port: owner.port,
      });
    }
    assert.equal(portsHit.size, 3, 'thirty keys reach all three masters');
  });

  it('shared mode: keys on every node work from coroutines, and so does a pipeline', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `shared:${i}`);
    const values = await scheduler.go(function* (): Operation<Array<string | null>> {
      const red = yield* redis.connect({ url: cluster.url, mode: 'shared' });
      yield* all(
        keys.map((key) =>
          (function* (): Operation<void> {
            assert.equal(yield* red.set(key, `v-${key}`), 'OK');
          })(),
        ),
      );
      return yield* all(keys.map((key) => red.get(key)));
    });
    assert.deepEqual(
      values,
      keys.map((key) => `v-${key}`),
    );
    const ports = new Set<number>();
    for (const [index, node] of cluster.nodes.entries()) {
      const info = await cluster.admin(index).info('keyspace');
      if (/keys=\d+/.test(info) && /role:master/.test(await cluster.admin(index).info('replication')))
        ports.add(node.port);
    }
    assert.equal(ports.size, 3, 'the keys landed on all three masters');

    const batch = await scheduler.go(function* () {
      const red = yield* redis.connect({ url: cluster.url, mode: 'shared' });
      return yield* red.pipeline().set('{p}a', '1').incr('{p}a').get('{p}a').get('{p}b').exec();
    });
    assert.deepEqual(batch, [
      [null, 'OK'],
      [null, 2],
      [null, '2'],
      [null, null],
    ]);
    // ioredis sends a cluster pipeline to one node: keys served by different nodes are refused, not split
    const a = 'shared:0';
    const b = keys.find((key) => keySlot(key) !== keySlot(a) && !sameNode(key, a))!;
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: cluster.url, mode: 'shared' });
        return yield* red.pipeline().get(a).get(b).exec();
      }),
      /All keys in the pipeline should belong to the same slots allocation group/,
    );
  });

  it('shared mode keeps its refusals and gets typed reply errors from a cluster', async () => {
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: cluster.url, mode: 'shared' });
        yield* red.call('SELECT', 1);
      }),
      (err: unknown) => err instanceof InvalidArgumentError && /SELECT changes connection state/.test(err.message),
    );
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: cluster.url, mode: 'shared' });
        yield* red.set('wrongtype', 'x');
        yield* red.call('LPUSH', 'wrongtype', 'y');
      }),
      /WRONGTYPE/,
    );
    const stats = redis.sharedConnections().find((s) => s.peer.startsWith('cluster:'));
    assert.equal(stats?.status, 'ready');
  });
});
