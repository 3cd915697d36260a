import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UpstreamSyntaxError, parseUpstream } from '../../src/dyups/parse.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { formatDetail, toNginx } from '../../src/dyups/format.js';

/** Bodies made of the grammar's own pieces, shuffled and broken: far likelier to reach deep paths than random bytes. */
const piece = fc.oneof(
  fc.constantFrom(
    'server',
    'least_conn',
    'ip_hash',
    'hash',
    'keepalive',
    'check',
    'check_http_send',
    'check_http_expect_alive',
    'upstream',
    'backup',
    'down',
    'drain',
    'consistent',
    'random',
    'two',
    'least_time',
    'header',
    'last_byte',
    'inflight',
    'ewma',
    'sticky',
    'cookie',
    'route',
    'split',
    '->',
    'balancer',
    'balancer_timeout',
  ),
  fc.constantFrom(
    ';',
    '{',
    '}',
    '"',
    "'",
    '#',
    '\\',
    ' ',
    '\n',
    '\t',
    '=',
    ':',
    '[',
    ']',
    '\0',
    '\u000b',
    '\u00a0',
    '\u2003',
    '\u3000',
    '\ufeff',
  ),
  fc.constantFrom(
    '127.0.0.1:80',
    '[::1]:8080',
    'unix:/tmp/s',
    'host',
    'host:0',
    'host:99999',
    'weight=3',
    'weight=0',
    'weight=-1',
    'max_fails=2',
    'fail_timeout=10s',
    'fail_timeout=1x',
    'max_conns=5',
    'interval=3000',
    'type=http',
    'type=udp',
    'rise=2',
    '$request_uri',
    '$http_x_canary=1',
    '10%',
    '12.5%',
    'expires=1h',
    'expires=max',
    'path=/',
    'route=a',
    'decay=2s',
    'least_time=header',
    'http_2xx',
    '10s',
    '1e9',
    '99999999999999999999',
  ),
  fc.string({ maxLength: 12 }),
  fc.fullUnicodeString({ maxLength: 6 }),
);
const body = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(fc.sample(fc.constantFrom(' ', ''), 1)[0]));

describe('dyups bodies, fuzzed', () => {
  it('treats every kind of whitespace as a separator (found by fuzzing: it once looped forever)', () => {
    for (const space of ['\u000b', '\u000c', '\u00a0', '\u2003', '\u2028', '\u3000', '\ufeff']) {
      assert.equal(parseUpstream('w', `server${space}127.0.0.1:80;`).servers[0]!.address, '127.0.0.1:80');
      assert.throws(() => parseUpstream('w', `weight=-1 ${space} "B`), UpstreamSyntaxError);
    }
  });

  it('never crash the parser: a group or an UpstreamSyntaxError, nothing else', () => {
    fc.assert(
      fc.property(body, (text) => {
        try {
          const group = parseUpstream('fuzz', text);
          assert.ok(group.servers.length > 0);
        } catch (err) {
          if (!(err instanceof UpstreamSyntaxError)) throw err;
          assert.ok(err.position >= 0 && err.position <= text.length, `position ${err.position} outside the body`);
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('accepted bodies survive the state file unchanged (structured, mostly valid bodies)', () => {
    const serverLine = fc
      .record({
        host: fc.constantFrom('127.0.0.1', '10.0.0.7', 'backend.local', '[::1]', 'a'),
        port: fc.integer({ min: 1, max: 65535 }),
        weight: fc.option(fc.integer({ min: 0, max: 20 })),
        maxFails: fc.option(fc.integer({ min: 0, max: 9 })),
        failTimeout: fc.option(fc.constantFrom('10s', '500ms', '2m', '7', '1x')),
        maxConns: fc.option(fc.integer({ min: 0, max: 100 })),
        backup: fc.boolean(),
        down: fc.boolean(),
        drain: fc.boolean(),
      })
      .map(
        (s) =>
          [
            `server ${s.host}:${s.port}`,
            s.weight === null ? '' : `weight=${s.weight}`,
            s.maxFails === null ? '' : `max_fails=${s.maxFails}`,
            s.failTimeout === null ? '' : `fail_timeout=${s.failTimeout}`,
            s.maxConns === null ? '' : `max_conns=${s.maxConns}`,
            s.backup ? 'backup' : '',
            s.down ? 'down' : '',
            s.drain ? 'drain' : '',
          ]
            .filter((p) => p !== '')
            .join(' ') + ';',
      );
    const structured = fc
      .tuple(
        fc.constantFrom(
          '',
          'least_conn;',
          'ip_hash;',
          'hash $request_uri;',
          'hash $remote_addr consistent;',
          'random;',
          'random two least_time=last_byte;',
          'least_time header inflight;',
          'ewma decay=3s;',
          'sticky cookie srv expires=1h path=/ httponly; split $http_x_canary=1 -> canary; split 5% -> canary;',
        ),
        fc.array(serverLine, { minLength: 1, maxLength: 6 }),
        fc.option(fc.integer({ min: 0, max: 64 })),
      )
      .map(
        ([method, servers, keepalive]) =>
          `${method}\n${servers.join('\n')}\n${keepalive === null ? '' : `keepalive ${keepalive};`}`,
      );
    let accepted = 0;
    fc.assert(
      fc.property(structured, (text) => {
        let group;
        try {
          group = parseUpstream('s', text);
        } catch (err) {
          if (!(err instanceof UpstreamSyntaxError)) throw err;
          return;
        }
        accepted++;
        assert.deepEqual(parseUpstream('s', toNginx(group)), group);
      }),
      { numRuns: 3_000 },
    );
    assert.ok(
      accepted > 500,
      `only ${accepted} of 3,000 structured bodies were accepted: the generator misses the accept paths`,
    );
  });

  it('never change the live group unless accepted, and never answer anything but 200 or 400', () => {
    const table = new UpstreamTable({ stateFile: null });
    assert.equal(table.update('live', 'server 127.0.0.1:80 weight=2; server 127.0.0.1:81 backup;').status, 200);
    fc.assert(
      fc.property(body, (text) => {
        const before = formatDetail(table.all());
        const version = table.version;
        const result = table.update('live', text);
        assert.ok(result.status === 200 || result.status === 400, `status ${result.status}: ${result.message}`);
        if (result.status === 400) {
          assert.equal(formatDetail(table.all()), before, 'a refused body changed the live group');
          assert.equal(table.version, version);
        }
      }),
      { numRuns: 3_000 },
    );
  });
});
