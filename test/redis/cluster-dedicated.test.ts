import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClusterSlotMap } from '../../adapters/redis/cluster-map.js';
import { keySlot } from '../../adapters/redis/cluster-slot.js';
import { clusterTopology } from '../../adapters/redis/cluster-topology.js';
import { parseRedisTarget } from '../../adapters/redis/url.js';
import { InvalidArgumentError, RedisReplyError, Scheduler, SocketError, pools, redis } from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { waitFor } from '../helpers/net.js';
import { startTestRedisCluster } from '../helpers/redis-cluster.js';
import type { TestRedisCluster } from '../helpers/redis-cluster.js';

const scheduler = new Scheduler({ name: 'redis-cluster-dedicated-tests' });
const TIMEOUTS = { connect: 30_000, read: 30_000 };
let cluster: TestRedisCluster;

/** The slot map as the cluster tells it now. */
async function liveMap(): Promise<ClusterSlotMap> {
  return ClusterSlotMap.fromClusterSlots(await cluster.admin(0).call('CLUSTER', 'SLOTS'), '127.0.0.1');
}

function nodeIndex(port: number): number {
  return cluster.nodes.findIndex((node) => node.port === port);
}

async function nodeId(index: number): Promise<string> {
  return String(await cluster.admin(index).call('CLUSTER', 'MYID'));
}

/** A key (with the given prefix) whose slot some master serves, and that master's node index. */
function keyOn(map: ClusterSlotMap, port: number, prefix: string): string {
  for (let i = 0; ; i++) {
    const key = `${prefix}${i}`;
    if (map.nodeForSlot(keySlot(key))!.port === port) return key;
  }
}

/** Where the client's own slot map (shared by the process) sends `slot` now. */
function clientMapPort(slot: number): number | undefined {
  return clusterTopology(parseRedisTarget(cluster.url), TIMEOUTS.connect).slots?.nodeForSlot(slot)?.port;
}

/** Starts moving `slot` from one master to another: IMPORTING on the target, MIGRATING on the source. */
async function beginMigration(slot: number, from: number, to: number): Promise<void> {
  await cluster.admin(to).call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', await nodeId(from));
  await cluster.admin(from).call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', await nodeId(to));
}

async function migrateKeys(from: number, to: number, keys: string[]): Promise<void> {
  await cluster.admin(from).call('MIGRATE', '127.0.0.1', cluster.nodes[to]!.port, '', 0, 10_000, 'KEYS', ...keys);
}

/** Ends a migration: every master learns that `to` serves `slot`. */
async function finishMigration(slot: number, from: number, to: number, masters: number[]): Promise<void> {
  const left = (await cluster.admin(from).call('CLUSTER', 'GETKEYSINSLOT', slot, 1000)) as string[];
  if (left.length > 0) await migrateKeys(from, to, left);
  const id = await nodeId(to);
  await cluster.admin(to).call('CLUSTER', 'SETSLOT', slot, 'NODE', id);
  await cluster.admin(from).call('CLUSTER', 'SETSLOT', slot, 'NODE', id);
  for (const other of masters)
    if (other !== from && other !== to) await cluster.admin(other).call('CLUSTER', 'SETSLOT', slot, 'NODE', id);
}

describe('redis cluster in short and keepalive modes (a real six-node cluster)', () => {
  let masters: number[] = [];

  before(async () => {
    cluster = await startTestRedisCluster();
    console.log(`# test cluster of ${cluster.nodes.length} nodes started in ${cluster.startedInMs} ms`);
    masters = (await liveMap()).masters().map((node) => nodeIndex(node.port));
  });
  after(async () => {
    await pools.drain();
    await cluster?.stop();
  });

  for (const mode of ['short', 'keepalive'] as const) {
    it(`${mode}: keys land on all three masters, each on the master of its slot, with typed commands`, async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `${mode}:key:${i}`);
      const read = await scheduler.go(function* (): Operation<Array<string | null>> {
        const red = yield* redis.connect({ url: cluster.url, mode, timeouts: TIMEOUTS });
        for (const key of keys) assert.equal(yield* red.set(key, `v-${key}`), 'OK');
        assert.equal(yield* red.incr(`${mode}:counter`), 1);
        assert.equal(yield* red.hset(`${mode}:hash`, 'f', 'v'), 1);
        assert.equal(yield* red.hget(`${mode}:hash`, 'f'), 'v');
        assert.equal(yield* red.ping(), 'PONG');
        const values: Array<string | null> = [];
        for (const key of keys) values.push(yield* red.get(key));
        red.setkeepalive();
        assert.equal(red.closed, true);
        return values;
      });
      assert.deepEqual(
        read,
        keys.map((key) => `v-${key}`),
      );
      const map = await liveMap();
      const served = new Set<number>();
      for (const key of keys) {
        const owner = map.nodeForSlot(keySlot(key))!;
        served.add(owner.port);
        assert.equal(
          await cluster.admin(nodeIndex(owner.port)).get(key),
          `v-${key}`,
          `${key} is on the master of its slot`,
        );
      }
      assert.equal(served.size, 3);
    });
  }

  it('keepalive: one pool per node, and its connections are reused', async () => {
    const map = await liveMap();
    const keys = map.masters().map((node) => keyOn(map, node.port, 'pooled:'));
    for (let round = 0; round < 3; round++) {
      await scheduler.go(function* () {
        const red = yield* redis.connect({
          url: cluster.url,
          mode: 'keepalive',
          pool: 'cluster-pools',
          timeouts: TIMEOUTS,
        });
        for (const key of keys) yield* red.set(key, String(round));
        red.setkeepalive();
      });
    }
    const ours = pools.stats().filter((s) => s.kind === 'redis' && s.name.startsWith('cluster-pools@'));
    assert.deepEqual(
      ours.map((s) => s.name).sort(),
      map
        .masters()
        .map((node) => `cluster-pools@127.0.0.1:${node.port}`)
        .sort(),
    );
    for (const stats of ours) {
      assert.equal(stats.inUse, 0, `${stats.name}: every connection is back`);
      assert.equal(stats.created, 1, `${stats.name}: one connection served all three rounds`);
      assert.equal(stats.reused, 2, stats.name);
    }
  });

  it('a pipeline across nodes: one per node, results in the order queued, errors in place', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `pipe:${i}`);
    const results = await scheduler.go(function* () {
      const red = yield* redis.connect({ url: cluster.url, mode: 'keepalive', timeouts: TIMEOUTS });
      const batch = red.pipeline();
      for (const key of keys) batch.set(key, key).get(key);
      batch.call('LPUSH', 'pipe:0', 'x').incr('pipe:counter');
      const out = yield* batch.exec();
      red.setkeepalive();
      return out!;
    });
    assert.equal(results.length, keys.length * 2 + 2);
    keys.forEach((key, i) => {
      assert.deepEqual(results[2 * i], [null, 'OK']);
      assert.deepEqual(results[2 * i + 1], [null, key]);
    });
    const [wrongType] = results[keys.length * 2]!;
    assert.ok(wrongType instanceof RedisReplyError && wrongType.redisCode === 'WRONGTYPE');
    assert.deepEqual(results[keys.length * 2 + 1], [null, 1]);
    const map = await liveMap();
    assert.equal(
      new Set(keys.map((key) => map.nodeForSlot(keySlot(key))!.port)).size,
      3,
      'the pipeline spanned all three masters',
    );
  });

  it('a transaction with a hash tag runs on the node of its slot; keys in other slots are refused by Redis', async () => {
    const results = await scheduler.go(function* () {
      const red = yield* redis.connect({ url: cluster.url, mode: 'short', timeouts: TIMEOUTS });
      return yield* red.multi().set('{tx}a', '1').incr('{tx}a').get('{tx}a').get('{tx}b').exec();
    });
    assert.deepEqual(results, [
      [null, 'OK'],
      [null, 2],
      [null, '2'],
      [null, null],
    ]);
    const map = await liveMap();
    const elsewhere = keyOn(
      map,
      map.masters().find((node) => node.port !== map.nodeForSlot(keySlot('tx:a'))!.port)!.port,
      'tx:other:',
    );
    await assert.rejects(
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: cluster.url, mode: 'keepalive', timeouts: TIMEOUTS });
        return yield* red.multi().set('tx:a', '1').set(elsewhere, '2').exec();
      }),
      (err: unknown) => err instanceof RedisReplyError && /EXECABORT|CROSSSLOT|MOVED/.test(err.message),
    );
    assert.equal(
      await cluster.admin(nodeIndex(map.nodeForSlot(keySlot('tx:a'))!.port)).get('tx:a'),
      null,
      'nothing of the refused transaction ran',
    );
  });

  it('refuses what needs one connection (pub/sub, readReply, WATCH, SELECT) with a clear error', async () => {
    await scheduler.go(function* () {
      const red = yield* redis.connect({ url: cluster.url, mode: 'keepalive', timeouts: TIMEOUTS });
      const refused = (err: unknown): boolean =>
        err instanceof InvalidArgumentError &&
        /redis\+cluster:\/\/ connection in mode 'keepalive'.*one node's redis:\/\/ URL/.test(err.message);
      assert.throws(() => red.subscribe('ch'), refused);
      assert.throws(() => red.readReply(), refused);
      assert.throws(() => red.call('WATCH', 'k'), refused);
      assert.throws(() => red.call('select', 1), refused);
      assert.throws(() => red.pipeline().call('MULTI').exec(), refused);
      assert.equal(yield* red.get('still-works'), null);
      red.close();
      assert.throws(
        () => red.get('k'),
        (err: unknown) => err instanceof SocketError && /closed/.test(err.message),
      );
    });
  });

  it('follows MOVED after a slot was moved by hand, and the slot map learns the new owner', async () => {
    const before = await liveMap();
    const key = 'moved:key';
    const slot = keySlot(key);
    const from = nodeIndex(before.nodeForSlot(slot)!.port);
    const to = masters.find((index) => index !== from)!;
    await scheduler.go(function* () {
      const red = yield* redis.connect({ url: cluster.url, mode: 'keepalive', timeouts: TIMEOUTS });
      assert.equal(yield* red.set(key, 'here'), 'OK');
      red.setkeepalive();
    });
    assert.equal(clientMapPort(slot), cluster.nodes[from]!.port);
    await beginMigration(slot, from, to);
    await finishMigration(slot, from, to, masters);
    assert.equal(clientMapPort(slot), cluster.nodes[from]!.port, 'the client does not know yet');
    for (const mode of ['keepalive', 'short'] as const) {
      const value = await scheduler.go(function* () {
        const red = yield* redis.connect({ url: cluster.url, mode, timeouts: TIMEOUTS });
        return yield* red.get(key);
      });
      assert.equal(value, 'here');
      assert.equal(clientMapPort(slot), cluster.nodes[to]!.port, 'MOVED moved the slot in the client map');
    }
  });

  it('follows ASK during a migration (ASKING first), alone and in a pipeline, without changing the map', async () => {
    const map = await liveMap();
    const moving = '{asked}moving';
    const staying = '{asked}staying';
    const slot = keySlot(moving);
    const from = nodeIndex(map.nodeForSlot(slot)!.port);
    const to = masters.find((index) => index !== from)!;
    await cluster.admin(from).mset(moving, 'moved-value', staying, 'stayed-value');
    await scheduler.go(function* () {
      const red = yield* redis.connect({ url: cluster.url, mode: 'short', timeouts: TIMEOUTS });
      yield* red.get(staying);
    });
    await beginMigration(slot, from, to);
    try {
      await migrateKeys(from, to, [moving]);
      const [alone, batch] = await scheduler.go(function* () {
        const red = yield* redis.connect({ url: cluster.url, mode: 'keepalive', timeouts: TIMEOUTS });
        const one = [yield* red.get(moving), yield* red.get(staying)];
        const results = yield* red.pipeline().get(staying).get(moving).get('ask:elsewhere').exec();
        red.setkeepalive();
        return [one, results] as const;
      });
      assert.deepEqual(alone, ['moved-value', 'stayed-value']);
      assert.deepEqual(batch, [
        [null, 'stayed-value'],
        [null, 'moved-value'],
        [null, null],
      ]);
      assert.equal(
        clientMapPort(slot),
        cluster.nodes[from]!.port,
        'an ASK is for one command: the slot stays where it was',
      );
    } finally {
      await finishMigration(slot, from, to, masters);
    }
  });

  it('a master that is down gives a connect error naming it; after its replica took over the next command succeeds', async () => {
    let map = await liveMap();
    const victim = map.masters()[0]!;
    const key = keyOn(map, victim.port, 'down:');
    // replicas are announced by gossip a little after the cluster is created
    assert.ok(
      await waitFor(async () => (map = await liveMap()).replicasForSlot(keySlot(key)).length > 0, 60_000, 100),
      'the victim has a replica',
    );
    const replica = map.replicasForSlot(keySlot(key))[0]!;
    await scheduler.go(function* () {
      const red = yield* redis.connect({ url: cluster.url, mode: 'keepalive', timeouts: TIMEOUTS });
      yield* red.set(key, 'before');
      red.setkeepalive();
    });
    await cluster.nodes[nodeIndex(victim.port)]!.stop();
    const readKey = (): Promise<string | null> =>
      scheduler.go(function* () {
        const red = yield* redis.connect({ url: cluster.url, mode: 'keepalive', timeouts: TIMEOUTS });
        return yield* red.set(key, 'after');
      });
    await assert.rejects(
      readKey(),
      (err: unknown) => err instanceof SocketError && err.message.includes(`:${victim.port}`),
    );
    // the test cluster's own failure detection is too slow to wait for: the replica takes over by hand
    await cluster.admin(nodeIndex(replica.port)).call('CLUSTER', 'FAILOVER', 'TAKEOVER');
    let lastError: unknown = null;
    const recovered = await waitFor(
      async () => {
        try {
          return (await readKey()) === 'OK';
        } catch (err) {
          lastError = err;
          return false;
        }
      },
      90_000,
      200,
    );
    assert.ok(recovered, `the client never reached the promoted replica: ${String(lastError)}`);
    assert.equal(clientMapPort(keySlot(key)), replica.port, 'the map was loaded again and names the promoted replica');
  });
});
