import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyFramingError } from '../../src/errors/index.js';
import { BodyDecoder } from '../../src/dyups/front/body-decoder.js';
import { HeadParser } from '../../src/dyups/front/request-head.js';
import type { RequestHead } from '../../src/dyups/front/request-head.js';

/**
 * The dyups front's request head parser and body decoder on their own: what they accept, what they
 * refuse and with which status, whole and byte by byte.
 */

const LIMITS = { maxHeadBytes: 16 * 1024, maxHeaders: 1000 };

/** Parses `text` given all at once; the head, or the failure's status. */
function parse(text: string, limits = LIMITS): RequestHead | number {
  const parser = new HeadParser(limits);
  const head = parser.parse(Buffer.from(text, 'latin1'), 0);
  if (head !== null) return head;
  return parser.failed?.status ?? 0; // 0: wants more bytes
}

/** Parses `text` as it would arrive one byte per read: the connection keeps the bytes not yet parsed. */
function parseByteByByte(text: string): RequestHead | number {
  const parser = new HeadParser(LIMITS);
  const all = Buffer.from(text, 'latin1');
  let pending = Buffer.alloc(0);
  for (let i = 0; i < all.length; i++) {
    pending = Buffer.concat([pending, all.subarray(i, i + 1)]);
    const head = parser.parse(pending, 0);
    pending = pending.subarray(parser.next);
    if (head !== null) return head;
    if (parser.failed !== null) return parser.failed.status;
  }
  return 0;
}

function head(text: string): RequestHead {
  const result = parse(text);
  if (typeof result === 'number') assert.fail(`refused with ${result}: ${JSON.stringify(text)}`);
  return result;
}

describe('dyups front: request head parser', () => {
  it('parses a request line and fields into lowercased headers, whole and byte by byte', () => {
    const text =
      'POST /path?q=1 HTTP/1.1\r\nHost: App.Local:8080\r\nX-Name:  a b \t\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\n';
    for (const parsed of [head(text), parseByteByByte(text) as RequestHead]) {
      assert.equal(parsed.method, 'POST');
      assert.equal(parsed.url, '/path?q=1');
      assert.equal(parsed.minor, 1);
      assert.deepEqual(
        { ...parsed.headers },
        { host: 'App.Local:8080', 'x-name': 'a b', 'content-length': '5', connection: 'Keep-Alive' },
      );
      assert.equal(parsed.contentLength, 5);
      assert.equal(parsed.chunked, false);
      assert.equal(parsed.keepAlive, true);
    }
  });

  it('joins repeated fields as node does: set-cookie an array, cookie with ;, first only for Content-Type', () => {
    const parsed = head(
      'GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\nSet-Cookie: x=1\r\nSet-Cookie: y=2\r\nCookie: c=1\r\nCookie: d=2\r\nContent-Type: text/a\r\nContent-Type: text/b\r\n__proto__: z\r\n\r\n',
    );
    assert.equal(parsed.headers.accept, 'a, b');
    assert.deepEqual(parsed.headers['set-cookie'], ['x=1', 'y=2']);
    assert.equal(parsed.headers.cookie, 'c=1; d=2');
    assert.equal(parsed.headers['content-type'], 'text/a');
    assert.equal(Object.getPrototypeOf(parsed.headers), Object.prototype);
  });

  it('keeps header bytes >= 0x80 as latin1 (byte for byte)', () => {
    const value = Buffer.from([0x63, 0xc3, 0xa9, 0x20, 0xe9]);
    const parser = new HeadParser(LIMITS);
    const parsed = parser.parse(
      Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nX-V: '), value, Buffer.from('\r\n\r\n')]),
      0,
    );
    assert.ok(parsed !== null);
    assert.deepEqual(Buffer.from(parsed.headers['x-v'] as string, 'latin1'), value);
  });

  it('decides keep-alive from the version and Connection', () => {
    assert.equal(head('GET / HTTP/1.1\r\nHost: h\r\n\r\n').keepAlive, true);
    assert.equal(head('GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade, close\r\n\r\n').keepAlive, false);
    assert.equal(head('GET / HTTP/1.0\r\n\r\n').keepAlive, false);
    assert.equal(head('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').keepAlive, true);
    assert.equal(head('GET / HTTP/1.0\r\nConnection: xkeep-alive\r\n\r\n').keepAlive, false);
  });

  it('takes absolute-form targets, * for OPTIONS only, and skips empty lines before the request line', () => {
    assert.equal(head('GET http://a.local/x HTTP/1.1\r\nHost: h\r\n\r\n').url, 'http://a.local/x');
    assert.equal(head('OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n').url, '*');
    assert.equal(parse('GET * HTTP/1.1\r\nHost: h\r\n\r\n'), 400);
    assert.equal(parse('CONNECT a.local:443 HTTP/1.1\r\nHost: h\r\n\r\n'), 400);
    assert.equal(head('\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n').url, '/');
  });

  it('chunked framing, and Expect: 100-continue', () => {
    const chunked = head('PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nExpect: 100-Continue\r\n\r\n');
    assert.equal(chunked.chunked, true);
    assert.equal(chunked.contentLength, -1);
    assert.equal(chunked.expectContinue, true);
    assert.equal(head('PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n').contentLength, 7);
  });

  for (const [what, text, status] of [
    ['a bare LF line end', 'GET / HTTP/1.1\nHost: h\n\n', 400],
    ['a bare LF after a field', 'GET / HTTP/1.1\r\nHost: h\n\r\n', 400],
    ['a bare CR in a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', 400],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n', 400],
    ['DEL in a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n', 400],
    ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 400],
    ['an empty field name', 'GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n', 400],
    ['a non-token field name', 'GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n', 400],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['two spaces in the request line', 'GET  / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['a control byte in the target', 'GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['a non-ASCII byte in the target', 'GET /\xe9 HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['a target that is no path', 'GET x HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['a malformed version', 'GET / HTTP/1.x\r\nHost: h\r\n\r\n', 400],
    ['a lower-case version', 'GET / http/1.1\r\nHost: h\r\n\r\n', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: h\r\n\r\n', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: h\r\n\r\n', 505],
    ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['a Content-Length that is no number', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\n', 400],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n', 400],
    ['a list as Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n', 400],
    ['a huge Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n', 400],
    [
      'two different Content-Lengths',
      'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      400,
    ],
    [
      'Content-Length with Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      400,
    ],
    ['chunked not last', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n', 400],
    ['an unknown coding', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['a coding before chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
    ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['an expectation other than 100-continue', 'POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n', 417],
  ] as const) {
    it(`refuses ${what} with ${status}, whole and byte by byte`, () => {
      assert.equal(parse(text), status);
      assert.equal(parseByteByByte(text), status);
    });
  }

  it('refuses a head over its byte limit (431) even before its end arrives, and more than 1,000 fields (431)', () => {
    const limits = { maxHeadBytes: 1024, maxHeaders: 1000 };
    assert.equal(parse(`GET / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(2000)}`, limits), 431);
    assert.equal(parse(`GET /${'a'.repeat(2000)}`, limits), 431);
    assert.equal(typeof parse(`GET / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(900)}\r\n\r\n`, limits), 'object');
    const many = (n: number): string => `GET / HTTP/1.1\r\nHost: h\r\n${'X-A: 1\r\n'.repeat(n - 1)}\r\n`;
    assert.equal(typeof parse(many(1000)), 'object');
    assert.equal(parse(many(1001)), 431);
  });

  it('waits for more bytes on an incomplete head without refusing it', () => {
    assert.equal(parse('GET / HTTP/1.1\r\nHost: h\r\n'), 0);
    assert.equal(parse('GET / HTTP/1.1\r\nHost: h\r'), 0);
    assert.equal(parse('GET / HTT'), 0);
  });
});

/** Decodes `text` given in pieces of `step` bytes; the data, or the framing error's message. */
function decode(text: string, step = Infinity): { data: string; done: boolean } | string {
  const decoder = new BodyDecoder();
  decoder.start(-1, true);
  const all = Buffer.from(text, 'latin1');
  let pending = Buffer.alloc(0);
  const out: Buffer[] = [];
  try {
    for (let i = 0; i < all.length; i += Math.min(step, all.length)) {
      pending = Buffer.concat([pending, all.subarray(i, i + step)]);
      pending = pending.subarray(decoder.decode(pending, 0, out));
      if (decoder.done) break;
    }
  } catch (err) {
    assert.ok(err instanceof BodyFramingError, String(err));
    return err.message;
  }
  return { data: Buffer.concat(out).toString('latin1'), done: decoder.done };
}

describe('dyups front: chunked request body decoder', () => {
  it('takes sizes, extensions, data and trailers, whole and byte by byte', () => {
    const body = '5;name="v a"\r\nhello\r\n1 ;x\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
    for (const step of [Infinity, 1, 3]) assert.deepEqual(decode(body, step), { data: 'hello 0123456789', done: true });
  });

  it('waits while the body is incomplete', () => {
    assert.deepEqual(decode('5\r\nhel'), { data: 'hel', done: false });
    assert.deepEqual(decode('5\r\nhello\r\n0\r\n'), { data: 'hello', done: false });
  });

  for (const [what, body] of [
    ['a size that is not hex', 'zz\r\nhello\r\n0\r\n\r\n'],
    ['a negative size', '-5\r\nhello\r\n0\r\n\r\n'],
    ['a size beyond 2^53', 'ffffffffffffffff1\r\nhello\r\n0\r\n\r\n'],
    ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
    ['chunk data without its CRLF', '5\r\nhelloXX0\r\n\r\n'],
    ['a control byte in an extension', '5;a\x01b\r\nhello\r\n0\r\n\r\n'],
    ['an extension past the cap', `5;ext=${'x'.repeat(10 * 1024)}\r\nhello\r\n0\r\n\r\n`],
    ['a malformed trailer', '0\r\nno colon\r\n\r\n'],
    ['a bare LF ending the trailers', '0\r\n\n'],
  ] as const) {
    it(`refuses ${what}, whole and byte by byte`, () => {
      assert.equal(typeof decode(body), 'string', JSON.stringify(decode(body)));
      assert.equal(typeof decode(body, 1), 'string', JSON.stringify(decode(body, 1)));
    });
  }

  it('takes a Content-Length body and stops at its end', () => {
    const decoder = new BodyDecoder();
    decoder.start(5, false);
    const out: Buffer[] = [];
    const buf = Buffer.from('helloGET / HTTP/1.1\r\n');
    assert.equal(decoder.decode(buf, 0, out), 5);
    assert.ok(decoder.done);
    assert.equal(Buffer.concat(out).toString(), 'hello');
  });
});
