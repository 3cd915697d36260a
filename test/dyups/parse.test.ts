import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDetail, formatList, formatServers, toNginx } from '../../src/dyups/format.js';
import { UpstreamSyntaxError, parseUpstream } from '../../src/dyups/parse.js';

describe('dyups upstream bodies', () => {
  it("parses dyups' example body with nginx's defaults", () => {
    const group = parseUpstream(
      'app',
      'server 127.0.0.1:8088; server 127.0.0.1:8089 weight=3 max_fails=2 fail_timeout=10s; server 10.0.0.1:80 backup;',
    );
    assert.equal(group.servers.length, 3);
    assert.deepEqual(group.servers[0], {
      address: '127.0.0.1:8088',
      weight: 1,
      maxConns: 0,
      maxFails: 1,
      failTimeout: 10,
      backup: false,
      down: false,
      drain: false,
    });
    assert.deepEqual(group.servers[1], {
      address: '127.0.0.1:8089',
      weight: 3,
      maxConns: 0,
      maxFails: 2,
      failTimeout: 10,
      backup: false,
      down: false,
      drain: false,
    });
    assert.equal(group.servers[2]!.backup, true);
    assert.deepEqual(group.balancer, { kind: 'round_robin' });
  });

  it('reads every directive: balancers, keepalive, check with its http lines, down, max_conns, addresses', () => {
    const body = `
      least_conn;
      server backend.local max_conns=100 down;   # port 80 by default
      server [::1]:8080 fail_timeout=500ms;
      server unix:/run/app.sock;
      keepalive 32;
      check interval=3000 rise=2 fall=5 timeout=1000 type=http;
      check_http_send "HEAD /health HTTP/1.0\\r\\n\\r\\n";
      check_http_expect_alive http_2xx http_3xx;`;
    const group = parseUpstream('api', body);
    assert.deepEqual(group.balancer, { kind: 'least_conn' });
    assert.equal(group.servers[0]!.address, 'backend.local:80');
    assert.equal(group.servers[0]!.maxConns, 100);
    assert.equal(group.servers[0]!.down, true);
    assert.equal(group.servers[1]!.address, '[::1]:8080');
    assert.equal(group.servers[1]!.failTimeout, 0.5);
    assert.equal(group.servers[2]!.address, 'unix:/run/app.sock');
    assert.equal(group.keepalive, 32);
    assert.equal(group.check!.type, 'http');
    assert.equal(group.check!.interval, 3000);
    assert.equal(group.check!.httpSend, 'HEAD /health HTTP/1.0\r\n\r\n');
    assert.deepEqual(group.check!.httpExpectAlive, ['http_2xx', 'http_3xx']);
    assert.deepEqual(parseUpstream('h', 'hash $request_uri consistent; server a:1;').balancer, {
      kind: 'hash',
      key: '$request_uri',
      consistent: true,
    });
    assert.deepEqual(parseUpstream('i', 'ip_hash; server a:1;').balancer, { kind: 'ip_hash' });
  });

  it('accepts a whole upstream block too', () => {
    const group = parseUpstream('x', 'upstream x {\n  server 127.0.0.1:1;\n}\n');
    assert.equal(group.servers[0]!.address, '127.0.0.1:1');
  });

  const bad: Array<[string, RegExp, number]> = [
    ['', /empty body/, 0],
    ['   # only a comment\n', /empty body/, 0],
    ['server 127.0.0.1:8080', /missing ';'/, 7],
    ['server 127.0.0.1:8080 weight=0;', /whole number from 1/, 29],
    ['server 127.0.0.1:8080 wieght=2;', /unknown server parameter \(weight=.*\) at 'wieght=2'/, 22],
    ['server 127.0.0.1:99999;', /invalid port/, 7],
    ['server bad_host!:80;', /invalid server address/, 7],
    ['server a:1; server a:1;', /duplicate server a:1/, 19],
    ['server a:1 fail_timeout=10x;', /expected a time/, 24],
    ['serve a:1;', /unknown directive at 'serve'/, 0],
    ['least_conn; ip_hash; server a:1;', /balancing method was already set by 'least_conn'/, 12],
    ['ip_hash; server a:1; server b:1 backup;', /ip_hash does not support backup/, 0],
    ['server a:1 backup;', /every server is a backup/, 0],
    ['keepalive 32;', /no server in the body/, 0],
    ['server a:1; check type=udp;', /check type is tcp or http/, 23],
    ['server a:1; check_http_send "x";', /need a 'check' line/, 0],
    ['server a:1; check_http_send "unterminated;', /unterminated quoted string/, 28],
    ['server a:1; { }', /expected a directive/, 12],
  ];
  for (const [body, pattern, position] of bad) {
    it(`refuses ${JSON.stringify(body)} naming the token and its position`, () => {
      assert.throws(
        () => parseUpstream('x', body),
        (err: unknown) => {
          assert.ok(err instanceof UpstreamSyntaxError, String(err));
          assert.match(err.message, pattern);
          assert.equal(err.position, position, err.message);
          assert.match(err.message, /line \d+, column \d+, offset \d+/);
          return true;
        },
      );
    });
  }

  it('prints /list, /detail and /upstream/NAME exactly as dyups does', () => {
    const app = parseUpstream(
      'app',
      'server 127.0.0.1:8088; server 127.0.0.1:8089 weight=3 max_fails=2 fail_timeout=30s backup down;',
    );
    const api = parseUpstream('api', 'server 10.0.0.1:80;');
    assert.equal(formatList([app, api]), 'api\napp\n');
    assert.equal(
      formatDetail([app, api]),
      'api\nserver 10.0.0.1:80 weight=1 max_conns=0 max_fails=1 fail_timeout=10 backup=0 down=0\n\n' +
        'app\nserver 127.0.0.1:8088 weight=1 max_conns=0 max_fails=1 fail_timeout=10 backup=0 down=0\n' +
        'server 127.0.0.1:8089 weight=3 max_conns=0 max_fails=2 fail_timeout=30 backup=1 down=1\n\n',
    );
    assert.equal(formatServers(app), 'server 127.0.0.1:8088\nserver 127.0.0.1:8089\n');
  });

  it('writes nginx syntax that parses back to the same group (the state file format)', () => {
    const bodies = [
      'server a:1;',
      'least_conn; server a:1 weight=5 max_conns=3 max_fails=0 fail_timeout=250ms; server b:2 backup; server c:3 down; keepalive 8;',
      'hash $remote_addr consistent; server [::1]:9 weight=2; check interval=2s rise=1 fall=2 timeout=300 type=http port=81; check_http_send "GET /\\r\\n\\"q\\"\\\\"; check_http_expect_alive http_4xx;',
      'ip_hash; server unix:/tmp/s.sock;',
    ];
    for (const body of bodies) {
      const group = parseUpstream('g', body);
      const text = toNginx(group);
      assert.deepEqual(parseUpstream('g', text), group, text);
    }
  });
});
