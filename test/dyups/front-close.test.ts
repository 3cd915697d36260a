import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Operation } from '../../src/index.js';
import { FrontServer } from '../../src/dyups/front/index.js';
import type { FrontExchange } from '../../src/dyups/front/index.js';
import { frontOptions } from '../helpers/front-options.js';

/**
 * How the front closes a connection whose client asked for no further request: at once once the
 * answer is written (as nginx does), not after waiting for the client's own close.
 */

/** Longer than any wait below: a connection still open after half of it was left lingering. */
const LINGER = 20_000;

let server: FrontServer;
let port = 0;

function* handler(ctx: FrontExchange): Operation<unknown> {
  const body = ctx.body;
  if (body !== null) while ((yield* body.read()) !== null);
  return `${ctx.method} ${ctx.url}`;
}

function openConnections(): Promise<number> {
  return new Promise((resolve, reject) => {
    server.server.getConnections((err, count) => (err ? reject(err) : resolve(count)));
  });
}

/** Resolves once the server holds no connection; rejects after `ms`. */
async function noConnectionsWithin(ms: number): Promise<void> {
  const until = Date.now() + ms;
  while ((await openConnections()) > 0) {
    if (Date.now() > until) throw new Error(`a connection is still open after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('dyups front: closing after the answer', () => {
  before(async () => {
    server = new FrontServer(
      frontOptions('front-close-test', handler, { headerTimeout: 5_000, bodyTimeout: 5_000, lingerTimeout: LINGER }),
    );
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server.closeAllConnections();
    await server.close();
  });

  for (const request of [
    'GET /plain HTTP/1.0\r\n\r\n',
    'GET /close HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    'POST /body HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc', // its body read whole
  ]) {
    it(`closes without lingering after answering ${JSON.stringify(request.split('\r\n')[0])}`, async () => {
      // the client never closes its side: the server must not wait for it
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('error', () => {});
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      const ended = new Promise<void>((resolve) => socket.once('end', resolve));
      socket.write(request);
      await ended;
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nConnection: close\r\n/);
      assert.ok(text.endsWith(`\r\n\r\n${request.split(' ').slice(0, 2).join(' ')}`), JSON.stringify(text));
      await noConnectionsWithin(LINGER / 2);
      socket.destroy();
    });
  }
});
