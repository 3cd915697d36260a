import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteQueue } from '../../adapters/tcp/byte-queue.js';
import { NEED_MORE } from '../../adapters/tcp/queue-parser.js';
import { encodeCommand, joinEncoded } from '../../adapters/redis/encode.js';
import { PushReply, RespReader } from '../../adapters/redis/resp.js';
import { RedisProtocolError, RedisReplyError } from '../../src/index.js';

/** One reply of each RESP2 and RESP3 type (and nestings of them), with what it must parse to. */
const CASES: Array<[name: string, wire: string, expected: unknown]> = [
  ['simple string', '+OK\r\n', 'OK'],
  ['empty simple string', '+\r\n', ''],
  ['error', '-ERR unknown command\r\n', new RedisReplyError('ERR unknown command')],
  ['integer', ':1234\r\n', 1234],
  ['negative integer', ':-42\r\n', -42],
  ['zero', ':0\r\n', 0],
  // eslint-disable-next-line no-loss-of-precision -- the wire's digits; the reply loses the same precision
  ['big integer', ':9007199254740993\r\n', 9007199254740993],
  ['bulk', '$5\r\nhello\r\n', 'hello'],
  ['bulk with CRLF inside', '$4\r\na\r\nb\r\n', 'a\r\nb'],
  ['utf-8 bulk', '$5\r\nhé¡\r\n', 'hé¡'],
  ['empty bulk', '$0\r\n\r\n', ''],
  ['null bulk', '$-1\r\n', null],
  ['null array', '*-1\r\n', null],
  ['empty array', '*0\r\n', []],
  ['array', '*3\r\n$3\r\nfoo\r\n:7\r\n$-1\r\n', ['foo', 7, null]],
  ['nested array', '*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n+x\r\n', [[1, 2], ['x']]],
  ['array with an error inside', '*2\r\n+OK\r\n-WRONGTYPE nope\r\n', ['OK', new RedisReplyError('WRONGTYPE nope')]],
  ['RESP3 null', '_\r\n', null],
  ['RESP3 true', '#t\r\n', true],
  ['RESP3 false', '#f\r\n', false],
  ['RESP3 double', ',3.25\r\n', 3.25],
  ['RESP3 inf', ',inf\r\n', Infinity],
  ['RESP3 -inf', ',-inf\r\n', -Infinity],
  [
    'RESP3 big number',
    '(3492890328409238509324850943850943825024385\r\n',
    '3492890328409238509324850943850943825024385',
  ],
  ['RESP3 blob error', '!21\r\nSYNTAX invalid syntax\r\n', new RedisReplyError('SYNTAX invalid syntax')],
  ['RESP3 verbatim', '=15\r\ntxt:Some string\r\n', 'Some string'],
  ['RESP3 map', '%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n:2\r\n', { first: 1, second: 2 }],
  ['RESP3 empty map', '%0\r\n', {}],
  ['RESP3 set', '~3\r\n+a\r\n+b\r\n:3\r\n', ['a', 'b', 3]],
  ['RESP3 map of arrays', '%1\r\n+k\r\n*2\r\n:1\r\n%1\r\n+x\r\n_\r\n', { k: [1, { x: null }] }],
  [
    'RESP3 attribute before a reply',
    '|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n',
    [2039123, 9543892],
  ],
  ['RESP3 attribute inside an array', '*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n', [1, 2]],
];

function feed(reader: RespReader, pieces: Buffer[]): unknown[] {
  const queue = new ByteQueue();
  const results: unknown[] = [];
  for (const piece of pieces) {
    // a copy per piece: as reads land in distinct buffers
    queue.push(Buffer.from(piece));
    for (;;) {
      const reply = reader.read(queue);
      if (reply === NEED_MORE) break;
      results.push(reply);
    }
  }
  assert.equal(queue.length, 0, 'every byte consumed');
  return results;
}

function same(actual: unknown, expected: unknown, what: string): void {
  if (expected instanceof RedisReplyError) {
    assert.ok(actual instanceof RedisReplyError, `${what}: not a RedisReplyError`);
    assert.equal(actual.message, expected.message, what);
    assert.equal(actual.redisCode, expected.redisCode, what);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${what}: not an array`);
    assert.equal(actual.length, expected.length, what);
    expected.forEach((e, i) => same(actual[i], e, `${what}[${i}]`));
    return;
  }
  assert.deepEqual(actual, expected, what);
}

describe('RESP reader', () => {
  for (const [name, wire, expected] of CASES) {
    it(`reads ${name} cut at every byte boundary, and byte by byte`, () => {
      const bytes = Buffer.from(wire);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const got = feed(new RespReader('test'), [bytes.subarray(0, cut), bytes.subarray(cut)]);
        assert.equal(got.length, 1, `cut at ${cut}`);
        same(got[0], expected, `${name}, cut at ${cut}`);
      }
      for (let a = 1; a < bytes.length; a++) {
        for (let b = a + 1; b < bytes.length; b++) {
          const got = feed(new RespReader('test'), [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
          same(got[0], expected, `${name}, cut at ${a} and ${b}`);
        }
      }
      const oneByOne = feed(
        new RespReader('test'),
        [...bytes].map((byte) => Buffer.from([byte])),
      );
      same(oneByOne[0], expected, `${name}, byte by byte`);
    });
  }

  it('reads every case back to back from one chunk and from chunks cut anywhere', () => {
    const all = Buffer.from(CASES.map(([, wire]) => wire).join(''));
    const expected = CASES.map(([, , value]) => value);
    same(feed(new RespReader('test'), [all]), expected, 'one chunk');
    for (let size = 1; size <= 17; size++) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < all.length; i += size) pieces.push(all.subarray(i, i + size));
      same(feed(new RespReader('test'), pieces), expected, `chunks of ${size}`);
    }
  });

  it('returns a RESP3 push as a PushReply, apart from replies', () => {
    const [push] = feed(new RespReader('test'), [Buffer.from('>3\r\n+message\r\n+news\r\n$3\r\none\r\n')]);
    assert.ok(push instanceof PushReply);
    assert.deepEqual(push.items, ['message', 'news', 'one']);
  });

  it('keeps a map key named __proto__ as data', () => {
    const [map] = feed(new RespReader('test'), [Buffer.from('%1\r\n+__proto__\r\n+x\r\n')]);
    assert.equal(Object.getPrototypeOf(map), Object.prototype);
    assert.deepEqual(Object.keys(map as object), ['__proto__']);
    assert.equal((map as Record<string, unknown>)['__proto__'], 'x');
  });

  it('names the error code of an error reply and keeps its text', () => {
    for (const [text, code] of [
      ['ERR wrong number', 'ERR'],
      ['WRONGTYPE Operation against a key', 'WRONGTYPE'],
      ['MOVED 3999 127.0.0.1:6381', 'MOVED'],
      ['NOSCRIPT No matching script', 'NOSCRIPT'],
      ['LOADING', 'LOADING'],
    ]) {
      const [err] = feed(new RespReader('test'), [Buffer.from(`-${text}\r\n`)]);
      assert.ok(err instanceof RedisReplyError);
      assert.equal(err.message, text);
      assert.equal(err.redisCode, code);
      assert.equal(err.code, 'COSOCKET_ERR_REDIS_REPLY');
    }
  });

  it('reads a bulk past one read buffer without joining it piece by piece', () => {
    const value = 'x'.repeat(300_000);
    const wire = Buffer.from(`$${value.length}\r\n${value}\r\n+OK\r\n`);
    const pieces: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 65_536) pieces.push(wire.subarray(i, i + 65_536));
    const got = feed(new RespReader('test'), pieces);
    assert.equal(got.length, 2);
    assert.equal((got[0] as string).length, value.length);
    assert.equal(got[1], 'OK');
  });

  it('throws RedisProtocolError naming what is wrong, for every way a reply can break RESP', () => {
    const broken: Array<[string, RegExp, number?]> = [
      ['?what\r\n', /unexpected byte 0x3f where a reply starts/],
      [':12a\r\n', /'12a' is not an integer/],
      [':\r\n', /is not an integer/],
      ['$abc\r\n', /'abc' is not an integer/],
      ['$-2\r\n', /bulk length -2/],
      ['*-5\r\n', /aggregate length -5/],
      ['$3\r\nabcde\r\n', /not followed by CRLF/],
      ['+OK\rX\n', /CR without LF/],
      ['#x\r\n', /neither #t nor #f/],
      [',abc\r\n', /not a double/],
      ['(12x\r\n', /non-digits/],
      ['=3\r\nabc\r\n', /no format prefix/],
      [`${'*1\r\n'.repeat(65)}:1\r\n`, /nested deeper than 64/],
      ['$11\r\nhello world\r\n', /a bulk reply of 11 bytes is larger than maxBulk \(10 bytes\)/, 10],
    ];
    for (const [wire, message, maxBulk] of broken) {
      assert.throws(
        () => feed(new RespReader('127.0.0.1:1/0', maxBulk), [Buffer.from(wire)]),
        (err: unknown) =>
          err instanceof RedisProtocolError &&
          message.test(err.message) &&
          err.message.startsWith('receive 127.0.0.1:1/0: bad reply from Redis'),
        JSON.stringify(wire),
      );
    }
  });

  it('refuses a reply line that never ends', () => {
    const reader = new RespReader('test');
    const queue = new ByteQueue();
    queue.push(Buffer.from('+'));
    assert.equal(reader.read(queue), NEED_MORE);
    queue.push(Buffer.alloc(600 * 1024, 'a'.charCodeAt(0)));
    assert.throws(() => reader.read(queue), /longer than 524288 bytes/);
  });
});

describe('RESP encoder', () => {
  it('encodes a command as an array of bulk strings, in one string', () => {
    assert.equal(encodeCommand('SET', ['k', 'hé', 12]), '*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nhé\r\n$2\r\n12\r\n');
  });

  it('encodes binary arguments as they are', () => {
    const encoded = encodeCommand('SET', ['k', Buffer.from([0, 255, 13, 10])]);
    assert.ok(Array.isArray(encoded));
    assert.deepEqual(
      Buffer.concat(encoded),
      Buffer.concat([
        Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n'),
        Buffer.from([0, 255, 13, 10]),
        Buffer.from('\r\n'),
      ]),
    );
    const joined = joinEncoded([encodeCommand('PING', []), encoded]);
    assert.ok(Array.isArray(joined));
    assert.ok(Buffer.concat(joined).toString('latin1').startsWith('*1\r\n$4\r\nPING\r\n*3\r\n'));
  });

  it('refuses an argument that is not a string, number or Buffer, naming it', () => {
    assert.throws(
      () => encodeCommand('SET', ['k', null as never]),
      /redis SET: argument 2 must be a string, number or Buffer, got null/,
    );
    assert.throws(() => encodeCommand('SET', [{} as never]), /argument 1 .* got object/);
  });
});
