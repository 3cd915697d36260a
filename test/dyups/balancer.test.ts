import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Balancers, GroupBalancer, Peer, ipHashKey } from '../../src/dyups/balancer.js';
import { parseUpstream } from '../../src/dyups/parse.js';

function balancer(body: string): GroupBalancer {
  const group = parseUpstream('g', body);
  return new GroupBalancer(
    group,
    group.servers.map((s) => new Peer(s)),
  );
}

const input = (clientIp = '10.0.0.1', hashKey = '/'): { clientIp: string; hashKey: string } => ({ clientIp, hashKey });
const none = new Set<Peer>();

describe('dyups balancers', () => {
  it("smooth weighted round robin gives nginx's sequence for weights 5, 1, 1", () => {
    const b = balancer('server a:1 weight=5; server b:1; server c:1;');
    const picks = Array.from({ length: 7 }, () => b.pick(input(), none)!.address[0]);
    assert.deepEqual(picks, ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  });

  it('weights 3:1 give 75% of 1,000 requests to the heavier server', () => {
    const b = balancer('server a:1 weight=3; server b:1;');
    let a = 0;
    for (let i = 0; i < 1_000; i++) if (b.pick(input(), none)!.address === 'a:1') a++;
    assert.ok(Math.abs(a - 750) <= 50, `${a} of 1,000`);
  });

  it('uses backup servers only when no primary is available', () => {
    const b = balancer('server a:1 max_fails=2 fail_timeout=10s; server z:1 backup;');
    assert.equal(b.pick(input(), none)!.address, 'a:1');
    const a = b.primaries[0]!;
    a.failed(1_000);
    assert.equal(b.pick(input(), none, 1_000)!.address, 'a:1', 'one failure of two allowed');
    a.failed(1_001);
    assert.equal(b.pick(input(), none, 1_002)!.address, 'z:1', 'max_fails reached: the backup takes over');
    assert.equal(b.pick(input(), none, 11_001)!.address, 'a:1', 'after fail_timeout the primary is tried again');
    const down = balancer('server a:1 down; server z:1 backup;');
    assert.equal(down.pick(input(), none)!.address, 'z:1');
    const nothing = balancer('server a:1 down;');
    assert.equal(nothing.pick(input(), none), null);
  });

  it('skips servers already tried (retries) and servers at max_conns', () => {
    const b = balancer('server a:1; server b:1 max_conns=1;');
    const a = b.primaries[0]!;
    assert.equal(b.pick(input(), new Set([a]))!.address, 'b:1');
    b.primaries[1]!.active = 1;
    assert.equal(b.pick(input(), new Set([a])), null);
  });

  it('least_conn picks the server with the fewest requests in flight per weight', () => {
    const b = balancer('least_conn; server a:1; server b:1; server c:1 weight=4;');
    b.primaries[0]!.active = 3;
    b.primaries[1]!.active = 1;
    b.primaries[2]!.active = 2; // 2/4 = 0.5 per weight unit
    assert.equal(b.pick(input(), none)!.address, 'c:1');
  });

  it('ip_hash keeps a client (and its /24) on one server, and moves it when that server fails', () => {
    const b = balancer('ip_hash; server a:1; server b:1; server c:1;');
    const first = b.pick(input('192.168.7.10'), none)!;
    for (let i = 0; i < 20; i++) assert.equal(b.pick(input('192.168.7.10'), none), first);
    assert.equal(b.pick(input('192.168.7.99'), none), first, 'same first three octets');
    assert.equal(ipHashKey('::ffff:10.1.2.3'), '10.1.2');
    first.server = { ...first.server, down: true };
    assert.notEqual(b.pick(input('192.168.7.10'), none), first);
  });

  it('consistent hash keeps keys in place, and removing a server moves only its keys', () => {
    const three = balancer('hash $request_uri consistent; server a:1; server b:1; server c:1;');
    const two = balancer('hash $request_uri consistent; server a:1; server b:1;');
    let moved = 0;
    let fromC = 0;
    for (let i = 0; i < 3_000; i++) {
      const key = `/item/${i}`;
      const before = three.pick(input('1.1.1.1', key), none)!.address;
      assert.equal(three.pick(input('1.1.1.1', key), none)!.address, before, 'a key must stay on its server');
      const after = two.pick(input('1.1.1.1', key), none)!.address;
      if (before === 'c:1') fromC++;
      else if (after !== before) moved++;
    }
    assert.equal(moved, 0, 'keys of the remaining servers must not move');
    assert.ok(fromC > 700 && fromC < 1_300, `${fromC} of 3,000 keys were on c`);
  });

  it('keeps a peer (its failures, its requests in flight) across updates that keep its server', () => {
    const balancers = new Balancers();
    balancers.set(parseUpstream('g', 'server a:1; server b:1;'), 'g');
    const a = balancers.get('g')!.primaries[0]!;
    a.active = 2;
    a.failed(5);
    balancers.set(parseUpstream('g', 'server a:1 weight=9; server c:1;'), 'g');
    const again = balancers.get('g')!.primaries[0]!;
    assert.equal(again, a);
    assert.equal(again.active, 2);
    assert.equal(again.server.weight, 9);
    balancers.set(null, 'g');
    assert.equal(balancers.get('g'), undefined);
  });

  for (const method of ['random', 'random two', 'random two least_time=header', 'least_time header inflight', 'ewma']) {
    it(`${method}: down, drain, max_conns, failed servers and backups keep their meaning`, () => {
      const backup = method.startsWith('random') ? '' : ' server z:1 backup;';
      const b = balancer(
        `${method}; server a:1 down; server b:1 drain; server c:1 max_conns=1; server d:1 max_fails=1; server e:1;${backup}`,
      );
      const [, , c, d, e] = b.primaries;
      c!.active = 1;
      d!.failed(Date.now());
      for (let i = 0; i < 50; i++) assert.equal(b.pick(input(), none)!.address, 'e:1', method);
      assert.equal(b.pick(input(), new Set([e!])), backup === '' ? null : b.backups[0]!, 'only a backup is left');
    });
  }

  it('least_time and ewma prefer the server with the lower average, which fades while unused', () => {
    for (const method of ['least_time header decay=1s', 'ewma decay=1s']) {
      const b = balancer(`${method}; server a:1; server b:1;`);
      const [a, slow] = b.primaries as [Peer, Peer];
      const now = performance.now();
      a.timed(2, 3, now, 1_000, false);
      slow.timed(50, 60, now, 1_000, false);
      for (let i = 0; i < 20; i++) assert.equal(b.pick(input(), none)!.address, 'a:1', method);
      assert.ok(slow.timeNow('header', now + 5_000, 1_000) < 1, 'faded after five decays');
      assert.ok(Math.abs(slow.timeNow('header', now + 1_000, 1_000) - 50 / Math.E) < 0.01);
    }
  });

  it('least_time inflight counts the age of requests still in flight; without it only finished ones count', () => {
    for (const [method, expected] of [
      ['least_time last_byte inflight', 'b:1'],
      ['least_time last_byte', 'a:1'],
    ] as const) {
      const b = balancer(`${method}; server a:1; server b:1;`);
      const [a, other] = b.primaries as [Peer, Peer];
      const now = performance.now();
      a.timed(1, 1, now, 10_000, false);
      other.timed(5, 5, now, 10_000, false);
      // a's one request in flight started a second ago (it counts in active too, as the proxy has it)
      a.timedStarts = now - 1_000;
      a.timedActive = 1;
      a.active = 1;
      b.primaries[1]!.active = 1;
      assert.equal(b.pick(input(), none)!.address, expected, method);
    }
  });
});
