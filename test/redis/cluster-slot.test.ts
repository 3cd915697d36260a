import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterSlotMap } from '../../adapters/redis/cluster-map.js';
import { firstKeyIndex, keySlot, parseRedirect } from '../../adapters/redis/cluster-slot.js';
import { RedisClusterReplyError } from '../../src/errors/index.js';

describe('redis cluster slots (pure)', () => {
  it('keySlot matches the values in the Redis Cluster specification', () => {
    assert.equal(keySlot('123456789'), 0x31c3 & 16383); // CRC16/XMODEM check value 0x31C3
    assert.equal(keySlot('foo'), 12182);
    assert.equal(keySlot('bar'), 5061);
    assert.equal(keySlot(''), 0);
    assert.equal(keySlot(Buffer.from('foo')), 12182);
  });

  it('keySlot hashes only the first non-empty {tag}', () => {
    assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
    assert.equal(keySlot('{user1000}.followers'), keySlot('user1000'));
    assert.equal(keySlot('foo{bar}{zap}'), keySlot('bar'));
    assert.notEqual(keySlot('foo{}{bar}'), keySlot('bar'));
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
    assert.equal(keySlot('foo{bar'), keySlot(Buffer.from('foo{bar')));
    assert.equal(keySlot('é{x}'), keySlot('x'));
  });

  it('firstKeyIndex finds the key a cluster routes by', () => {
    assert.equal(firstKeyIndex('GET', ['k']), 0);
    assert.equal(firstKeyIndex('set', ['k', 'v']), 0);
    assert.equal(firstKeyIndex('EVAL', ['return 1', 2, 'a', 'b']), 2);
    assert.equal(firstKeyIndex('evalsha', ['abc', '0']), null);
    assert.equal(firstKeyIndex('FCALL', ['f', '1', 'k']), 2);
    assert.equal(firstKeyIndex('XREAD', ['COUNT', '2', 'STREAMS', 's1', 's2', '0', '0']), 3);
    assert.equal(firstKeyIndex('xreadgroup', ['GROUP', 'g', 'c', 'BLOCK', 0, 'streams', 's', '>']), 6);
    assert.equal(firstKeyIndex('XREAD', ['COUNT', '2']), null);
    assert.equal(firstKeyIndex('BLMPOP', [0, 2, 'a', 'b', 'LEFT']), 2);
    assert.equal(firstKeyIndex('ZUNION', [2, 'a', 'b']), 1);
    assert.equal(firstKeyIndex('MEMORY', ['USAGE', 'k']), 1);
    assert.equal(firstKeyIndex('XGROUP', ['CREATE', 's', 'g', '$']), 1);
    for (const keyless of ['PING', 'info', 'SCRIPT', 'CLUSTER', 'PUBLISH', 'MULTI', 'SCAN']) {
      assert.equal(firstKeyIndex(keyless, ['x', 'y']), null, keyless);
    }
    assert.equal(firstKeyIndex('GET', []), null);
  });

  it('parseRedirect reads MOVED and ASK, IPv6 hosts too, and nothing else', () => {
    assert.deepEqual(parseRedirect('MOVED 3999 127.0.0.1:6381'), {
      kind: 'moved',
      slot: 3999,
      host: '127.0.0.1',
      port: 6381,
    });
    assert.deepEqual(parseRedirect('-ASK 0 redis-3.local:7000'), {
      kind: 'ask',
      slot: 0,
      host: 'redis-3.local',
      port: 7000,
    });
    assert.deepEqual(parseRedirect('MOVED 16383 ::1:6379'), { kind: 'moved', slot: 16383, host: '::1', port: 6379 });
    assert.deepEqual(parseRedirect('MOVED 1 [2001:db8::7]:6379'), {
      kind: 'moved',
      slot: 1,
      host: '2001:db8::7',
      port: 6379,
    });
    assert.deepEqual(parseRedirect('MOVED 5 :6379'), { kind: 'moved', slot: 5, host: '', port: 6379 });
    for (const notRedirect of [
      'ERR unknown command',
      'MOVED 16384 127.0.0.1:6379',
      'MOVED 1 127.0.0.1:0',
      'MOVED 1 127.0.0.1:70000',
      'MOVED x 127.0.0.1:6379',
      'MOVED 1 127.0.0.1',
      'moved 1 127.0.0.1:6379',
      'MOVED 1 a b:6379',
      '',
    ]) {
      assert.equal(parseRedirect(notRedirect), null, notRedirect);
    }
  });
});

describe('redis cluster slot map (pure)', () => {
  const reply = [
    [0, 5460, ['10.0.0.1', 7000, 'id1', []], ['10.0.0.4', 7003, 'id4']],
    [5461, 10922, ['10.0.0.2', 7001, 'id2']],
    [10923, 16383, [Buffer.from('10.0.0.3'), '7002', 'id3']],
  ];

  it('routes every slot to the master of its range, with replicas', () => {
    const map = ClusterSlotMap.fromClusterSlots(reply);
    assert.deepEqual(map.nodeForSlot(0), { host: '10.0.0.1', port: 7000, key: '10.0.0.1:7000' });
    assert.equal(map.nodeForSlot(5460)!.port, 7000);
    assert.equal(map.nodeForSlot(5461)!.port, 7001);
    assert.equal(map.nodeForSlot(16383)!.host, '10.0.0.3');
    assert.deepEqual(
      map.replicasForSlot(7).map((n) => n.key),
      ['10.0.0.4:7003'],
    );
    assert.deepEqual(map.replicasForSlot(6000), []);
    assert.equal(map.uncoveredSlots(), 0);
    assert.deepEqual(
      map.masters().map((n) => n.port),
      [7000, 7001, 7002],
    );
    assert.equal(map.nodeForSlot(1), map.nodeForSlot(2), 'one object per node, to key pools by');
  });

  it('a MOVED moves one slot; a refresh replaces the table', () => {
    const map = ClusterSlotMap.fromClusterSlots(reply);
    const moved = map.moved(100, '::1', 7005);
    assert.equal(moved.key, '[::1]:7005');
    assert.equal(map.nodeForSlot(100), moved);
    assert.equal(map.nodeForSlot(99)!.port, 7000);
    assert.equal(map.nodeForSlot(101)!.port, 7000);
    map.refresh([[0, 99, ['10.0.0.9', 7009, 'id9']]]);
    assert.equal(map.nodeForSlot(50)!.port, 7009);
    assert.equal(map.nodeForSlot(100), null);
    assert.equal(map.uncoveredSlots(), 16384 - 100);
  });

  it('stands the asked host in for an empty or ? host', () => {
    const map = ClusterSlotMap.fromClusterSlots([[0, 16383, ['', 7000, 'id']]], '10.1.1.1');
    assert.equal(map.nodeForSlot(9)!.key, '10.1.1.1:7000');
    assert.throws(() => ClusterSlotMap.fromClusterSlots([[0, 16383, ['?', 7000]]]), /host is '\?'/);
  });

  it('refuses a malformed reply with a clear error and keeps the table it had', () => {
    const map = ClusterSlotMap.fromClusterSlots(reply);
    const bad: Array<[unknown, RegExp]> = [
      ['OK', /must reply with an array, got "OK"/],
      [[[0, 16384, ['h', 1]]], /not a range within 0-16383/],
      [[[10, 5, ['h', 1]]], /not a range/],
      [[[0, 1]], /entry 0 must be \[start, end, master/],
      [[[0, 1, 'h:1']], /entry 0 master: a node must be \[host, port/],
      [[[0, 1, ['h', 0]]], /port must be 1-65535, got 0/],
      [[[0, 1, [7, 1]]], /host must be a string, got 7/],
      [[[0, 1, ['h', 1], ['r', 'x']]], /entry 0 replica 0: the port must be 1-65535, got "x"/],
    ];
    for (const [value, message] of bad) {
      assert.throws(
        () => map.refresh(value),
        (err: unknown) => err instanceof RedisClusterReplyError && message.test(err.message),
      );
    }
    assert.equal(map.nodeForSlot(0)!.port, 7000);
    assert.throws(() => map.nodeForSlot(16384), /whole number from 0 to 16383/);
    assert.throws(() => map.moved(-1, 'h', 1), RedisClusterReplyError);
  });
});
