import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  ConnectionRefusedError,
  KeepalivePool,
  PoolBacklogFullError,
  Scheduler,
  SocketTimeoutError,
  pools,
  sleep,
  tcp,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { deadPort, echo, startTcpServer } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'pool-tests' });

function* hold(port: number, pool: string, ms: number, options: tcp.ConnectOptions = {}): Operation<void> {
  const sock = yield* tcp.connect('127.0.0.1', port, { pool, ...options });
  yield* sleep(ms);
  sock.setkeepalive();
}

describe('keepalive pools', () => {
  after(() => pools.drain());

  it('fails a refused connect within milliseconds, not after the connect timeout', async () => {
    const port = await deadPort();
    await assert.rejects(
      scheduler.go(function* () {
        yield* tcp.connect('127.0.0.1', port, { timeouts: { connect: 30_000 } });
      }),
      (err: unknown) => err instanceof ConnectionRefusedError && err.code === 'COSOCKET_ERR_CONNECTION_REFUSED',
    );
    // a refusal, not the 30 s connect timeout: the error says which one ended the connect
  });

  it('caps open connections at poolSize, queues up to backlog, refuses past it at once', async () => {
    const server = await startTcpServer(echo);
    const options = { poolSize: 1, backlog: 1 };
    const holder = scheduler.go(hold, server.port, 'backlog', 60, options);
    const waiter = scheduler.go(hold, server.port, 'backlog', 1, options);
    await new Promise((r) => setTimeout(r, 10));
    // the backlog error is raised when the connect asks, before any wait (a wait would end in SocketTimeoutError)
    await assert.rejects(
      scheduler.go(hold, server.port, 'backlog', 1, options),
      (err: unknown) => err instanceof PoolBacklogFullError && /too many waiting connect operations/.test(err.message),
    );
    await Promise.all([holder, waiter]);
    assert.equal(server.sockets.length, 1, 'the waiter should have reused the one connection');
    await server.close();
  });

  it('times out a connect that waits longer than the connect timeout for a free connection', async () => {
    const server = await startTcpServer(echo);
    const options = { poolSize: 1, timeouts: { connect: 40 } };
    const holder = scheduler.go(hold, server.port, 'acquire-timeout', 300, options);
    await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(
      scheduler.go(hold, server.port, 'acquire-timeout', 1, options),
      (err: unknown) => err instanceof SocketTimeoutError && err.op === 'connect',
    );
    await holder;
    await server.close();
  });

  it('does not spin on a factory that always fails: each waiter gets the error, retries back off', async () => {
    const port = await deadPort();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        scheduler.go(function* () {
          yield* tcp.connect('127.0.0.1', port, { pool: 'always-fails', timeouts: { connect: 2_000 } });
        }),
      ),
    );
    // every waiter gets the refusal itself, none waits out its 2 s connect timeout
    const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).constructor.name : 'fulfilled'));
    assert.deepEqual(
      [...new Set(reasons)],
      ['ConnectionRefusedError'],
      'waiters must get the connect error promptly, not at the timeout',
    );
    // keep asking in a loop for a while: attempts must be spaced out, not one per call
    const loopEnd = Date.now() + 300;
    let calls = 0;
    while (Date.now() < loopEnd) {
      calls++;
      await scheduler
        .go(function* () {
          yield* tcp.connect('127.0.0.1', port, { pool: 'always-fails' });
        })
        .catch(() => undefined);
      await new Promise((r) => setImmediate(r));
    }
    const stats = pools.stats().find((p) => p.name === 'always-fails')!;
    assert.ok(
      stats.connectFailures <= 50 + 20,
      `${stats.connectFailures} connect attempts for ${calls} calls: retries do not back off`,
    );
    assert.ok(stats.backoffRejections > 0);
    // with nobody asking, nothing may keep retrying in the background (generic-pool's loop would)
    const cpuBefore = process.cpuUsage();
    const idleStart = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const cpu = process.cpuUsage(cpuBefore);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    assert.ok(cpuMs < 100, `burned ${cpuMs.toFixed(0)} ms CPU in ${Date.now() - idleStart} ms of idling`);
    assert.equal(
      pools.stats().find((p) => p.name === 'always-fails')!.connectFailures,
      stats.connectFailures,
      'connects went on with nobody asking',
    );
  });

  it('a connect started while the backend recovers succeeds once the back-off window has passed', async () => {
    const server = await startTcpServer(echo);
    const port = server.port;
    await server.close();
    for (let i = 0; i < 3; i++) {
      await scheduler
        .go(function* () {
          yield* tcp.connect('127.0.0.1', port, { pool: 'recovers' });
        })
        .catch(() => undefined);
    }
    const revived = await startTcpServerOn(port);
    await new Promise((r) => setTimeout(r, 1_100)); // longest back-off window
    await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', port, { pool: 'recovers' });
      sock.close();
    });
    await revived.close();
  });

  it('hands out the most recently used idle connection first', async () => {
    const server = await startTcpServer(echo);
    const order = await scheduler.go(function* (): Operation<number[]> {
      const a = yield* tcp.connect('127.0.0.1', server.port, { pool: 'mru' });
      const b = yield* tcp.connect('127.0.0.1', server.port, { pool: 'mru' });
      const portOf = (s: tcp.TcpSocket): number =>
        (s as unknown as { conn: { socket: { localPort: number } } }).conn.socket.localPort;
      const aPort = portOf(a);
      const bPort = portOf(b);
      a.setkeepalive();
      b.setkeepalive(); // b is the most recent
      const c = yield* tcp.connect('127.0.0.1', server.port, { pool: 'mru' });
      const got = portOf(c);
      c.setkeepalive();
      return [aPort, bPort, got];
    });
    assert.equal(order[2], order[1]);
    await server.close();
  });

  it('validates pool options', () => {
    const hooks = { create: async () => 1, destroy: () => {}, isAlive: () => true };
    assert.throws(() => new KeepalivePool({ name: 'x', size: 0 }, hooks), /'size' must be a whole number >= 1/);
    assert.throws(() => new KeepalivePool({ name: 'x', backlog: -1 }, hooks), /'backlog' must be a whole number >= 0/);
    assert.throws(() => new KeepalivePool({ name: '' }, hooks), /needs a name/);
  });

  it('leaves no sockets or handles behind once drained', async () => {
    const server = await startTcpServer(echo);
    await Promise.all(Array.from({ length: 5 }, () => scheduler.go(hold, server.port, 'leaks', 5)));
    await pools.drain();
    await server.close();
    await new Promise((r) => setTimeout(r, 20));
    const handles = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap');
    assert.deepEqual(handles, []);
  });
});

async function startTcpServerOn(port: number): Promise<{ close(): Promise<void> }> {
  const { createServer } = await import('node:net');
  const server = createServer(echo);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
