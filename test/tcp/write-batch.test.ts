import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NEED_MORE, parserRead } from '../../adapters/tcp/index.js';
import { deferWrites, flushDeferred } from '../../adapters/write-batch.js';
import type { ByteQueue } from '../../adapters/tcp/index.js';
import { HttpProtocolError, Scheduler, pools, tcp } from '../../src/index.js';
import type { Operation } from '../../src/index.js';

/** A server that keeps what each connection sent until it closes; `greeting` is sent to each first. */
function collector(greeting = ''): Promise<{ server: Server; port: number; received: Promise<string>[] }> {
  const received: Promise<string>[] = [];
  const server = createServer((s) => {
    if (greeting !== '') s.write(greeting);
    received.push(
      new Promise((resolve) => {
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('error', () => {});
        s.on('close', () => resolve(Buffer.concat(chunks).toString()));
      }),
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address !== null ? address.port : 0, received });
    }),
  );
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('deferWrites (the writes of a turn leave together)', () => {
  let target: Awaited<ReturnType<typeof collector>>;
  before(async () => {
    target = await collector();
  });
  after(() => new Promise<void>((resolve) => target.server.close(() => resolve())));

  it('holds what is written until the end of the turn, then sends it in order', async () => {
    const socket = await open(target.port);
    deferWrites(socket);
    socket.write('one ');
    deferWrites(socket); // once per turn: a second call changes nothing
    socket.write('two');
    assert.equal(socket.writableLength, 7, 'held, not handed to the kernel yet');
    await endOfTurn();
    assert.equal(socket.writableLength, 0);
    assert.equal(socket.writableCorked, 0);
    socket.end();
    assert.equal(await target.received.at(-1), 'one two');
  });

  it('flushDeferred sends it at once: a destroy right after loses nothing', async () => {
    const socket = await open(target.port);
    deferWrites(socket);
    socket.write('before the close');
    flushDeferred(socket);
    assert.equal(socket.writableCorked, 0);
    socket.destroy();
    assert.equal(await target.received.at(-1), 'before the close');
    flushDeferred(socket); // nothing held: nothing happens
    await endOfTurn(); // the turn's flush finds nothing of it left to uncork
  });

  it('leaves a socket its owner corked as it is', async () => {
    const socket = await open(target.port);
    socket.cork();
    deferWrites(socket);
    socket.write('owner');
    await endOfTurn();
    assert.equal(socket.writableCorked, 1, 'the owner uncorks it, not the end of the turn');
    assert.equal(socket.writableLength, 5);
    socket.uncork();
    socket.end();
    assert.equal(await target.received.at(-1), 'owner');
  });
});

describe('tcp cosocket exchange (its write leaves at the end of the turn)', () => {
  after(() => pools.drain());

  it('sends the request and reads the answer', async () => {
    const server = createServer((s) => s.on('data', (c: Buffer) => s.write(`got ${c.toString()}\n`)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const line = {
      parse(queue: ByteQueue): unknown {
        const at = queue.indexOf(Buffer.from('\n'));
        return at < 0 ? NEED_MORE : queue.take(at + 1).toString();
      },
    };
    const answer = await new Scheduler({ name: 'write-batch' }).go(function* (): Operation<unknown> {
      const sock = yield* tcp.connect('127.0.0.1', port, { pool: 'write-batch-answer' });
      const got = yield* sock.exchange<string>(Buffer.from('ping'), parserRead(line));
      sock.close();
      return got;
    });
    assert.equal(answer, 'got ping\n');
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a read that fails at once still sends the request before the socket closes', async () => {
    // bytes the peer sent before the request: the parser refuses them as soon as the exchange starts
    const target = await collector('junk\n');
    const port = target.port;
    const refuse = {
      parse(queue: ByteQueue): unknown {
        if (queue.length > 0) throw new HttpProtocolError('127.0.0.1', 'a reply before the request');
        return NEED_MORE;
      },
    };
    const failed = await new Scheduler({ name: 'write-batch' }).go(function* (): Operation<unknown> {
      const sock = yield* tcp.connect('127.0.0.1', port, { pool: 'write-batch-refused' });
      yield* sock.waitMore(0); // the junk has arrived
      try {
        yield* sock.exchange(Buffer.from('the request'), parserRead(refuse));
        return 'answered';
      } catch (err) {
        return (err as Error).constructor.name;
      }
    });
    assert.equal(failed, 'HttpProtocolError');
    assert.equal(await target.received.at(-1), 'the request');
    await new Promise<void>((resolve) => target.server.close(() => resolve()));
  });
});
