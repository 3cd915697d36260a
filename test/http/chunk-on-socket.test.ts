import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, co, cosocketPlugin } from '../../src/index.js';
import type { HandlerContext, Operation } from '../../src/index.js';
import { parseChunked } from '../helpers/chunked.js';

const scheduler = new Scheduler({ name: 'chunk-on-socket' });
let app: FastifyInstance;
let port = 0;
const results: boolean[] = [];
const given: string[] = [];

/** Writes raw request bytes (several requests may share the connection) and collects the reply until the server closes or `ms` pass. */
function exchange(requests: string, ms = 2_000): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(requests));
    socket.on('data', (d: Buffer) => parts.push(d));
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
  });
}

describe('ctx.chunkOnSocket: chunked framing written by cosocket on the client socket', () => {
  before(async () => {
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler });
    app.get(
      '/parts',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.header('x-kind', 'parts');
        ctx.header('trailer', 'x-done');
        results.push(ctx.chunkOnSocket());
        ctx.print('printed;');
        yield* ctx.writeLent([Buffer.from('one,'), Buffer.from('two,'), Buffer.from('three')], (part) =>
          given.push(part.toString()),
        );
        ctx.print('after');
        yield* ctx.flush(true);
        yield* ctx.write(Buffer.from('written'));
        ctx.print('end');
        ctx.trailer('x-done', 'yes');
      }),
    );
    app.get(
      '/sized',
      co(function* (ctx: HandlerContext): Operation<void> {
        ctx.header('content-length', '5');
        results.push(ctx.chunkOnSocket());
        yield* ctx.write(Buffer.from('fixed'));
      }),
    );
    app.get(
      '/bad-trailer',
      co(function* (ctx: HandlerContext): Operation<string> {
        const refused: string[] = [];
        for (const [name, value] of [
          ['x-ok', 'a\r\nInjected: 1'],
          ['bad name', 'v'],
          ['x-nul', 'a\u0000b'],
        ] as const) {
          try {
            ctx.trailer(name, value);
          } catch (err) {
            refused.push(`${(err as Error).name}: ${(err as Error).message}`);
          }
        }
        return refused.join('\n');
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  after(async () => {
    await app.close();
  });

  it('sends several parts as one chunk in one write, print/flush/write framed alike, trailers at the end', async () => {
    results.length = 0;
    given.length = 0;
    const raw = await exchange('GET /parts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(results, [true]);
    const parsed = parseChunked(raw);
    assert.equal(parsed.complete, true);
    assert.match(parsed.head, /^HTTP\/1\.1 200/);
    assert.match(parsed.head, /\r\nx-kind: parts/i);
    assert.match(parsed.head, /\r\ntransfer-encoding: chunked/i);
    assert.deepEqual(parsed.chunks.map(String), ['printed;one,two,three', 'after', 'written', 'end']);
    assert.match(raw.toString('latin1'), /\r\n0\r\nx-done: yes\r\n\r\n$/);
    assert.deepEqual(given.sort(), ['one,', 'three', 'two,'], 'every lent part is handed back once written');
  });

  it('refuses a trailer that would break the response where it is set, naming it', async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/bad-trailer`)).text();
    const lines = text.split('\n');
    assert.equal(lines.length, 3, text);
    assert.match(lines[0]!, /InvalidArgumentError: trailer 'x-ok': the value has a character/);
    assert.match(lines[1]!, /InvalidArgumentError: trailer name "bad name" is not a valid field name/);
    assert.match(lines[2]!, /InvalidArgumentError: trailer 'x-nul'/);
  });

  it('keeps the connection usable: a second request on it is answered after the first body', async () => {
    const raw = await exchange(
      'GET /parts HTTP/1.1\r\nHost: x\r\n\r\nGET /parts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const text = raw.toString('latin1');
    const second = text.indexOf('HTTP/1.1 200', 1);
    assert.ok(second > 0, 'no second response');
    assert.deepEqual(parseChunked(raw.subarray(0, second)).chunks.map(String), [
      'printed;one,two,three',
      'after',
      'written',
      'end',
    ]);
    assert.equal(parseChunked(raw.subarray(second)).complete, true);
  });

  it('declines, and the response goes out the usual way (HTTP/1.0: without the Trailer header), for HTTP/1.0, HEAD and a set Content-Length', async () => {
    results.length = 0;
    const old = await exchange('GET /parts HTTP/1.0\r\nHost: x\r\n\r\n');
    assert.doesNotMatch(old.toString('latin1'), /transfer-encoding/i);
    assert.match(old.toString('latin1'), /\r\n\r\nprinted;one,two,threeafterwrittenend$/);
    const head = await exchange('HEAD /parts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.doesNotMatch(head.toString('latin1').split('\r\n\r\n')[1] ?? '', /./, 'a HEAD response has no body');
    const sized = await exchange('GET /sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(sized.toString('latin1'), /content-length: 5\r\n[\s\S]*\r\n\r\nfixed$/i);
    assert.deepEqual(results, [false, false, false]);
  });
});
