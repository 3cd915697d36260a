import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UnexpectedReplyError, redis } from '../../src/index.js';
import { mapReply } from '../../adapters/redis/replies.js';

/** Anything a RESP2 or RESP3 parser can hand over: strings, numbers, nil, buffers, nested arrays, maps. */
const reply = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.constant(null),
    fc.boolean(),
    fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('redis reply mappers', () => {
  it('turn any reply into the promised shape or an UnexpectedReplyError naming the command, never anything else', () => {
    const mapped = Object.entries(redis.COMMANDS).filter(([, row]) => row.spec.map !== undefined);
    assert.ok(mapped.length > 30);
    fc.assert(
      fc.property(reply, (raw) => {
        for (const [name, row] of mapped) {
          try {
            mapReply(name, row.spec.map!, raw);
          } catch (err) {
            assert.ok(err instanceof UnexpectedReplyError, `${name}: ${String(err)}`);
            assert.ok(err.message.startsWith(`redis ${name.toUpperCase()}: unexpected reply: expected `), err.message);
          }
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('accept RESP3 shapes: maps, nested pairs, doubles', () => {
    const map = (name: keyof typeof redis.COMMANDS, raw: unknown): unknown =>
      mapReply(name, redis.COMMANDS[name].spec.map!, raw);
    assert.deepEqual(
      map(
        'hgetall',
        new Map([
          ['a', '1'],
          ['b', '2'],
        ]),
      ),
      { a: '1', b: '2' },
    );
    assert.deepEqual(map('hgetall', { a: '1' }), { a: '1' });
    assert.deepEqual(map('hgetall', ['a', '1', 'b', '2']), { a: '1', b: '2' });
    assert.deepEqual(
      map('zpopmin', [
        ['a', 1.5],
        ['b', 2],
      ]),
      [
        ['a', 1.5],
        ['b', 2],
      ],
    );
    assert.deepEqual(map('zpopmin', ['a', 1.5]), [['a', 1.5]]);
    assert.deepEqual(
      map('zrange', [
        ['a', 1],
        ['b', '-inf'],
      ]),
      ['a', '1', 'b', '-inf'],
    );
    assert.deepEqual(map('xread', new Map([['s', [['1-0', ['f', 'v']]]]])), [['s', [['1-0', ['f', 'v']]]]]);
    assert.deepEqual(
      map('xautoclaim', ['0-0', [['1-0', ['f', 'v']]]]),
      ['0-0', [['1-0', ['f', 'v']]], []],
      'Redis 6.2 sends no deleted ids',
    );
    assert.equal(map('zscore', 2.5), 2.5);
    assert.equal(map('zscore', '-inf'), -Infinity);
    assert.equal(map('sismember', true), true);
  });
});
