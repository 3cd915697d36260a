import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Scheduler, co, cosocketPlugin, pools, proxyPass } from '../../src/index.js';
import type { HandlerContext, Operation } from '../../src/index.js';
import { parseChunked, rawGet } from '../helpers/chunked.js';
import { startTcpServer } from '../helpers/tcp-server.js';
import type { TestServer } from '../helpers/tcp-server.js';

/** What the upstream sends: bytes, and pauses (ms) so that what comes after arrives in a later read. */
type Script = ReadonlyArray<string | Buffer | number>;

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';

/** `size` bytes cycling through `alphabet` in a stride: each body part tells apart from the others. */
function data(size: number, alphabet: string): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = alphabet.charCodeAt((i * 7) % alphabet.length);
  return out;
}

const A = data(4096, 'abcdefghijklmnopqrstuvwxyz');
const B = data(5000, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ');
const C = data(3000, '!#$%&()*+,-./:<=>?@[]^_{|}~');
const D = data(2500, 'abcdefghijklmnopqrstuvwxyz0123456789');
/** small enough to arrive with the head in a new connection's first (2 KB) read */
const E = data(1500, 'zyxwvutsrqponmlkjihgfedcba');

const scripts: Record<string, Script> = {
  // size lines in every accepted form: extensions, whitespace, bare LF, upper case, leading zeros; trailers
  '/forms': [
    HEAD,
    '1000;name=value\r\n',
    A,
    '\r\n',
    20,
    '1388 \r\n',
    B,
    '\r\n',
    20,
    '0BB8\n',
    C,
    '\r\n',
    20,
    '00009c4;x;y="q"\r\n',
    D,
    '\r\n0\r\nx-trailer: secret\r\n\r\n',
  ],
  // the head arrives with the start of a chunk: the rest of it follows its framing
  '/mid-chunk': [HEAD, '1000\r\n', A.subarray(0, 1000), 30, A.subarray(1000), '\r\n1388\r\n', B, '\r\n0\r\n\r\n'],
  // the head arrives with a whole chunk but not its CRLF
  '/before-crlf': [HEAD, '5dc\r\n', E, 30, '\r\n1388\r\n', B, '\r\n0\r\n\r\n'],
  // a bare-LF size line first in a read, with nothing before it to move down over
  '/bare-lf-first': [HEAD, '1000\r\n', A, '\r\n', 30, '1388\n', B, '\r\n', 30, 'bb8\n', C, '\r\n0\r\n\r\n'],
  // a framing fault after the framing is passed on: the client is cut, nothing after the fault goes on
  '/fault': [HEAD, '1000\r\n', A, '\r\n', 30, '1388\r\n', B, 'XX', 'bb8\r\n', C, '\r\n0\r\n\r\n'],
};

function expectedBody(path: string): Buffer {
  if (path === '/forms') return Buffer.concat([A, B, C, D]);
  if (path === '/bare-lf-first') return Buffer.concat([A, B, C]);
  if (path === '/before-crlf') return Buffer.concat([E, B]);
  return Buffer.concat([A, B]);
}

/** Bytes between two pauses go in one write. */
async function play(socket: Socket, script: Script): Promise<void> {
  let pending: Buffer[] = [];
  const flush = (): void => {
    if (!socket.destroyed && pending.length > 0) socket.write(Buffer.concat(pending));
    pending = [];
  };
  for (const step of script) {
    if (typeof step !== 'number') pending.push(Buffer.from(step));
    else {
      flush();
      await new Promise((r) => setTimeout(r, step));
    }
  }
  flush();
  socket.end();
}

const scheduler = new Scheduler({ name: 'chunk-passthrough' });
let upstream: TestServer;
let app: FastifyInstance;
let port = 0;

describe('proxy: large upstream chunks pass on with their framing, checked', () => {
  before(async () => {
    upstream = await startTcpServer((socket) => {
      let head = '';
      const onData = (d: Buffer): void => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        const path = /^GET (\S+)/.exec(head)?.[1] ?? '';
        void play(socket, scripts[path] ?? ['HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n']);
      };
      socket.on('data', onData);
    });
    app = Fastify({ logger: false });
    await app.register(cosocketPlugin, { scheduler });
    for (const buffering of [true, false]) {
      app.get(
        `/${buffering ? 'on' : 'off'}/*`,
        co(function* (ctx: HandlerContext): Operation<void> {
          yield* proxyPass(ctx, '127.0.0.1', upstream.port, {
            path: ctx.request.url.replace(/^\/o(n|ff)/, ''),
            buffering: { buffering },
          });
        }),
      );
    }
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  after(async () => {
    await app.close();
    await pools.drain();
    await upstream.close();
  });

  for (const mode of ['on', 'off'] as const) {
    for (const path of ['/forms', '/mid-chunk', '/before-crlf', '/bare-lf-first']) {
      it(`${path} (buffering ${mode}): every byte, strict framing, no extensions, no trailers`, async () => {
        const raw = await rawGet(port, `/${mode}${path}`);
        const parsed = parseChunked(raw); // throws on any framing the proxy got wrong
        assert.equal(parsed.complete, true, `incomplete: ${JSON.stringify(raw.toString('latin1').slice(-80))}`);
        assert.ok(parsed.body.equals(expectedBody(path)), 'the body differs from the upstream data');
        const text = raw.toString('latin1');
        assert.doesNotMatch(text, /name=value|x;y|secret|x-trailer/, 'an extension or trailer was passed on');
        assert.ok(text.endsWith('\r\n0\r\n\r\n'), 'the body ends with a bare last chunk');
        if (path === '/forms') {
          // the chunks after the first write keep the upstream's sizes: their framing went through
          const sizes = parsed.chunks.map((c) => c.length);
          for (const size of [5000, 3000, 2500]) assert.ok(sizes.includes(size), `chunk sizes ${sizes.join(' ')}`);
        }
      });
    }

    it(`/fault (buffering ${mode}): a bad CRLF after large chunks cuts the client without the last chunk`, async () => {
      const raw = await rawGet(port, `/${mode}/fault`);
      const text = raw.toString('latin1');
      const parsed = parseChunked(raw);
      assert.equal(parsed.complete, false, 'the body was terminated as if whole');
      assert.ok(parsed.body.subarray(0, A.length).equals(A), 'the chunk before the fault should have arrived');
      assert.ok(!text.endsWith('0\r\n\r\n'), 'the body was terminated as if whole');
      assert.ok(!text.includes(C.toString('latin1').slice(0, 100)), 'data after the fault was passed on');
    });
  }

  it('a client that cannot take chunks (HTTP/1.0) gets the data, framing dropped', async () => {
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      const socket = connect(port, '127.0.0.1', () => socket.write('GET /on/forms HTTP/1.0\r\nHost: x\r\n\r\n'));
      socket.on('data', (d: Buffer) => parts.push(d));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(parts)));
    });
    const headEnd = raw.indexOf('\r\n\r\n');
    assert.doesNotMatch(raw.subarray(0, headEnd).toString('latin1'), /transfer-encoding/i);
    assert.ok(raw.subarray(headEnd + 4).equals(expectedBody('/forms')));
  });
});
