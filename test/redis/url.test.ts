import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, redis } from '../../src/index.js';

const { parseRedisTarget } = redis;

describe('redis URLs', () => {
  it('keeps redis://, rediss:// and unix:// as they were', () => {
    const plain = parseRedisTarget('redis://u:secret@127.0.0.1:6380/2');
    assert.equal(plain.topology, 'single');
    assert.deepEqual(
      [plain.host, plain.port, plain.db, plain.username, plain.password],
      ['127.0.0.1', 6380, 2, 'u', 'secret'],
    );
    assert.deepEqual(plain.addresses, [{ host: '127.0.0.1', port: 6380 }]);
    assert.equal(plain.peer, '127.0.0.1:6380/2');
    assert.match(plain.key, /^127\.0\.0\.1:6380\/2#user=u#auth=[0-9a-f]{12}$/);
    assert.equal(parseRedisTarget('rediss://[::1]/0').host, '::1');
    assert.equal(parseRedisTarget('rediss://[::1]/0').tls, true);
    const unix = parseRedisTarget('unix:///tmp/r.sock?db=3');
    assert.deepEqual(
      [unix.path, unix.db, unix.peer, unix.addresses.length],
      ['/tmp/r.sock', 3, 'unix:/tmp/r.sock/3', 0],
    );
    assert.throws(
      () => parseRedisTarget('redis://u:hunter2@h/x'),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        /database must be a number, got 'x' in 'redis:\/\/u:\*\*\*@h\/x'/.test(err.message),
    );
    assert.throws(
      () => parseRedisTarget('http://x'),
      /must use redis:\/\/, rediss:\/\/, unix:\/\/, redis\+cluster:\/\/ or redis\+sentinel:\/\//,
    );
  });

  it('reads a cluster URL: seed nodes, default port 6379, credentials', () => {
    const t = parseRedisTarget('redis+cluster://app:p%40ss@10.0.0.1:7000,redis-2.local,[::1]:7002');
    assert.equal(t.topology, 'cluster');
    assert.deepEqual(t.addresses, [
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-2.local', port: 6379 },
      { host: '::1', port: 7002 },
    ]);
    assert.deepEqual(
      [t.host, t.port, t.db, t.username, t.password, t.masterName],
      ['10.0.0.1', 7000, 0, 'app', 'p@ss', null],
    );
    assert.equal(t.peer, 'cluster:10.0.0.1:7000,redis-2.local:6379,[::1]:7002');
    assert.doesNotMatch(t.key, /p@ss|p%40ss/);
    assert.equal(parseRedisTarget('redis+cluster://h:1/0').db, 0);
    assert.equal(parseRedisTarget('REDIS+CLUSTER://h:1/').topology, 'cluster');
  });

  it('reads a sentinel URL: sentinels, default port 26379, db, master name, sentinel password', () => {
    const t = parseRedisTarget('redis+sentinel://:pw@s1:26380,s2/3?name=mymaster&sentinelPassword=sp');
    assert.equal(t.topology, 'sentinel');
    assert.deepEqual(t.addresses, [
      { host: 's1', port: 26380 },
      { host: 's2', port: 26379 },
    ]);
    assert.deepEqual(
      [t.db, t.username, t.password, t.masterName, t.sentinelPassword],
      [3, null, 'pw', 'mymaster', 'sp'],
    );
    assert.equal(t.peer, 'sentinel:mymaster@s1:26380,s2:26379/3');
    assert.doesNotMatch(t.key, /pw|sp(?!a)/);
  });

  it('gives every topology, user and password its own pool key', () => {
    const keys = [
      'redis://h:1',
      'redis+cluster://h:1',
      'redis+sentinel://h:1?name=m',
      'redis+sentinel://h:1?name=n',
      'redis+sentinel://h:1/1?name=m',
      'redis+sentinel://h:1?name=m&sentinelPassword=a',
      'redis+sentinel://h:1?name=m&sentinelPassword=b',
      'redis+cluster://:a@h:1',
      'redis+cluster://:b@h:1',
      'redis+cluster://u:a@h:1',
      'redis+cluster://h:1,h:2',
    ].map((url) => parseRedisTarget(url).key);
    assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
  });

  it('refuses every malformed cluster or sentinel URL, naming what is wrong and never the password', () => {
    const bad: Array<[string, RegExp]> = [
      ['redis+cluster://', /has no host/],
      ['redis+cluster://h1:1,,h2:2', /empty address at position 2/],
      ['redis+cluster://h1:1,', /empty address at position 2/],
      ['redis+cluster://h1:0', /invalid port '0' for host 'h1'/],
      ['redis+cluster://h1:65536', /invalid port '65536'/],
      ['redis+cluster://h1:x', /invalid port 'x'/],
      ['redis+cluster://h1:', /invalid port ''/],
      ['redis+cluster://:7000', /address with no host/],
      ['redis+cluster://h_1!:7000', /invalid host name 'h_1!'/],
      ['redis+cluster://::1:7000', /IPv6 address not in brackets/],
      ['redis+cluster://[::1:7000', /without its closing '\]'/],
      ['redis+cluster://[::1]x:7000', /something after the IPv6 address/],
      ['redis+cluster://[zz]:7000', /invalid IPv6 address '\[zz\]'/],
      ['redis+cluster://h:1/2', /database 2, but Redis Cluster has only database 0/],
      ['redis+cluster://h:1/x', /database must be a number, got 'x'/],
      ['redis+cluster://h:1?name=m', /unknown query key 'name' \(it takes none\)/],
      ['redis+cluster://h:1#frag', /must not have a #fragment/],
      ['redis+cluster://@h:1', /empty user:password before '@'/],
      ['redis+cluster://u:%E0%A4%A@h:1', /badly %-encoded password/],
      ['redis+sentinel://s:26379', /needs the master name: add \?name=mymaster/],
      ['redis+sentinel://s:26379?name=', /empty master name/],
      ['redis+sentinel://s:26379?name=a&name=b', /gives 'name' twice/],
      ['redis+sentinel://s:26379?name=a&master=b', /unknown query key 'master' \(known: name, sentinelPassword\)/],
      ['redis+sentinel://s:26379?name=a&sentinelPassword=', /empty sentinelPassword/],
      ['redis+sentinel://s:26379/db1?name=a', /database must be a number, got 'db1'/],
    ];
    for (const [url, message] of bad) {
      assert.throws(
        () => parseRedisTarget(url),
        (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message),
        `${url} should fail with ${String(message)}`,
      );
    }
    assert.throws(
      () => parseRedisTarget('redis+sentinel://u:topsecret@s:1?sentinelPassword=alsosecret'),
      (err: unknown) => err instanceof Error && /\*\*\*/.test(err.message) && !/topsecret|alsosecret/.test(err.message),
    );
  });

  it('short and keepalive modes take cluster and sentinel URLs (connecting is an effect: nothing is refused up front)', () => {
    for (const mode of ['short', 'keepalive'] as const) {
      assert.doesNotThrow(() => redis.connect({ url: 'redis+cluster://127.0.0.1:1', mode }));
      assert.doesNotThrow(() => redis.connect({ url: 'redis+sentinel://127.0.0.1:1?name=m', mode }));
    }
  });
});
