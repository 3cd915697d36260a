import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CancelledError,
  DubiousStateError,
  Scheduler,
  SocketClosedError,
  SocketTimeoutError,
  pools,
  sleep,
  spawn,
  tcp,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { echo, startTcpServer } from '../helpers/tcp-server.js';

const scheduler = new Scheduler({ name: 'tcp-tests' });

describe('tcp cosocket', () => {
  after(() => pools.drain());

  it('sends a list as one write and reads lines, byte counts, patterns and whatever arrived', async () => {
    const server = await startTcpServer(echo);
    const got = await scheduler.go(function* (): Operation<unknown[]> {
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      const sent = yield* sock.send(['line one\r\n', Buffer.from('two\n'), 'abc--END--xyz']);
      const one = yield* sock.receive('*l');
      const two = yield* sock.receive('*l');
      const until = yield* sock.receiveuntil('--END--').read();
      const three = yield* sock.receive(3);
      yield* sock.send('q');
      const any = yield* sock.receiveany(100);
      sock.close();
      return [sent, one, two, until?.toString(), three.toString(), any.toString()];
    });
    assert.deepEqual(got, [27, 'line one', 'two', 'abc', 'xyz', 'q']);
    await server.close();
  });

  it('streams receiveuntil in pieces of at most N bytes, then null at the pattern', async () => {
    const server = await startTcpServer((s) => s.end('0123456789--B--after'));
    const pieces = await scheduler.go(function* (): Operation<Array<string | null>> {
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      const reader = sock.receiveuntil('--B--');
      yield* sleep(20); // let it all arrive: the pieces must still be at most 4 bytes
      const out: Array<string | null> = [];
      for (;;) {
        const piece = yield* reader.read(4);
        out.push(piece === null ? null : piece.toString());
        if (piece === null) break;
      }
      out.push((yield* sock.receive('*a')).toString());
      sock.close();
      return out;
    });
    assert.deepEqual(pieces, ['0123', '4567', '89', null, 'after']);
    await server.close();
  });

  it('includes the pattern when asked, whole or streamed', async () => {
    const server = await startTcpServer((s) => s.end('ab|cd|'));
    const got = await scheduler.go(function* (): Operation<Array<string | null>> {
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      const reader = sock.receiveuntil('|', { inclusive: true });
      const whole = (yield* reader.read())!.toString();
      const streamed: Array<string | null> = [];
      for (;;) {
        const piece = yield* reader.read(10);
        streamed.push(piece === null ? null : piece.toString());
        if (piece === null) break;
      }
      sock.close();
      return [whole, ...streamed];
    });
    assert.deepEqual(got, ['ab|', 'cd', '|', null]);
    await server.close();
  });

  it("reads everything with '*a' and reports what arrived before an early close as partial", async () => {
    const server = await startTcpServer((s) => s.end('short'));
    const got = await scheduler.go(function* (): Operation<string> {
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      try {
        yield* sock.receive(100);
      } catch (err) {
        assert.ok(err instanceof SocketClosedError);
        assert.equal(sock.closed, true, 'a closed error closes the socket');
        return err.partial?.toString() ?? '';
      }
      return 'no error';
    });
    assert.equal(got, 'short');
    await server.close();
  });

  it('reuses a kept-alive connection, counting reuses; the server sees one connection', async () => {
    const server = await startTcpServer(echo);
    const reuses = await scheduler.go(function* (): Operation<number[]> {
      const counts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const sock = yield* tcp.connect('127.0.0.1', server.port, { pool: 'reuse-test' });
        counts.push(sock.getreusedtimes());
        yield* sock.send('ping\n');
        assert.equal(yield* sock.receive('*l'), 'ping');
        sock.setkeepalive();
        // the count is of this use: it stays after the connection went back to the pool
        assert.equal(sock.getreusedtimes(), counts[i]);
      }
      return counts;
    });
    assert.deepEqual(reuses, [0, 1, 2, 3]);
    assert.equal(server.sockets.length, 1);
    const stats = pools.stats().find((p) => p.name === 'reuse-test')!;
    assert.equal(stats.created, 1);
    assert.equal(stats.reused, 3);
    assert.equal(stats.idle, 1);
    await server.close();
  });

  it('never hands out an idle connection that the server closed; opens a new one', async () => {
    const server = await startTcpServer(echo);
    const name = 'idle-killed';
    await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { pool: name });
      sock.setkeepalive();
    });
    server.sockets[0]!.destroy(); // the server drops the idle connection
    await server.waitClosed(1);
    await new Promise((r) => setTimeout(r, 20));
    const reused = await scheduler.go(function* (): Operation<number> {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { pool: name });
      yield* sock.send('still works\n');
      assert.equal(yield* sock.receive('*l'), 'still works');
      const n = sock.getreusedtimes();
      sock.setkeepalive();
      return n;
    });
    assert.equal(reused, 0, 'a dead connection was handed out');
    assert.equal(server.sockets.length, 2);
    assert.equal(pools.stats().find((p) => p.name === name)!.discarded, 1);
    await server.close();
  });

  it('closes idle pooled connections after the keepalive idle time', async () => {
    const server = await startTcpServer(echo);
    await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { pool: 'idle-timeout' });
      sock.setkeepalive(30);
    });
    await server.waitClosed(1, 3_000);
    await server.close();
  });

  it('times out a read without closing the socket; the late reply can still be read', async () => {
    const server = await startTcpServer((s) => s.on('data', () => setTimeout(() => s.write('late\n'), 150)));
    const got = await scheduler.go(function* (): Operation<string> {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { timeouts: { read: 30 } });
      yield* sock.send('hi\n');
      try {
        yield* sock.receive('*l');
        return 'no timeout';
      } catch (err) {
        assert.ok(err instanceof SocketTimeoutError);
        assert.equal(err.op, 'receive');
      }
      assert.equal(sock.closed, false);
      sock.settimeouts(undefined, undefined, 2_000);
      const line = yield* sock.receive('*l');
      sock.close();
      return line;
    });
    assert.equal(got, 'late');
    await server.close();
  });

  it('times out a send that the peer does not take, and closes the socket', async () => {
    const server = await startTcpServer((s) => s.pause()); // never reads
    const got = await scheduler.go(function* (): Operation<string> {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { timeouts: { send: 100 } });
      try {
        yield* sock.send(Buffer.alloc(64 * 1024 * 1024));
        return 'sent';
      } catch (err) {
        assert.ok(err instanceof SocketTimeoutError);
        assert.equal(sock.closed, true);
        return err.op;
      }
    });
    assert.equal(got, 'send');
    await server.close();
  });

  it('closes, never pools, a socket whose coroutine is cancelled mid-receive', async () => {
    const server = await startTcpServer(() => {}); // accepts, never answers
    const task = scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { pool: 'cancel-test' });
      yield* sock.receive('*l');
    });
    await new Promise((r) => setTimeout(r, 30));
    task.cancel();
    await assert.rejects(task, CancelledError);
    await server.waitClosed(1);
    const stats = pools.stats().find((p) => p.name === 'cancel-test')!;
    assert.equal(stats.open, 0);
    assert.equal(stats.idle, 0);
    await server.close();
  });

  it('closes a socket its coroutine forgot to close or keep alive', async () => {
    const server = await startTcpServer(echo);
    await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      yield* sock.send('x');
    });
    await server.waitClosed(1);
    await server.close();
  });

  it('refuses setkeepalive with unread bytes: closed instead, DubiousStateError', async () => {
    const server = await startTcpServer((s) => s.write('unsolicited'));
    await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { pool: 'dubious' });
      yield* sleep(30);
      assert.throws(
        () => sock.setkeepalive(),
        (err: unknown) => err instanceof DubiousStateError && /unread/.test(err.message),
      );
      assert.equal(sock.closed, true);
    });
    await server.waitClosed(1);
    assert.equal(pools.stats().find((p) => p.name === 'dubious')!.idle, 0);
    await server.close();
  });

  it('belongs to the coroutine that connected; another coroutine cannot use it', async () => {
    const server = await startTcpServer(echo);
    let shared: tcp.TcpSocket | undefined;
    // the owner holds the socket until the intruder has tried: no guess at how long a connect takes
    let connected!: () => void;
    const ready = new Promise<void>((resolve) => (connected = resolve));
    let release!: () => void;
    const intruderTried = new Promise<void>((resolve) => (release = resolve));
    const owner = scheduler.go(function* () {
      shared = yield* tcp.connect('127.0.0.1', server.port);
      connected();
      yield intruderTried;
      shared.close();
    });
    await ready;
    try {
      await assert.rejects(
        scheduler.go(function* intruder() {
          yield* shared!.send('x');
        }),
        /belongs to coroutine 'anonymous', not 'intruder'/,
      );
    } finally {
      release();
    }
    await owner;
    // a child of the owner may use it
    await scheduler.go(function* () {
      const s = yield* tcp.connect('127.0.0.1', server.port);
      const child = yield* spawn(function* () {
        yield* s.send('from child\n');
        return yield* s.receive('*l');
      });
      assert.equal(yield* child, 'from child');
      s.close();
    });
    await server.close();
  });

  it('connects over a unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-unix-'));
    const path = join(dir, 's.sock');
    const server = createServer(echo);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const line = await scheduler.go(function* (): Operation<string> {
        const sock = yield* tcp.connect(`unix:${path}`);
        yield* sock.send('over unix\n');
        const l = yield* sock.receive('*l');
        sock.setkeepalive();
        return l;
      });
      assert.equal(line, 'over unix');
    } finally {
      await pools.drain();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validates its arguments with messages that name them', () => {
    assert.throws(() => tcp.connect('127.0.0.1', 0), /port must be a whole number from 1 to 65535/);
    assert.throws(() => tcp.connect('127.0.0.1', 80, { timeouts: { read: -1 } }), /timeouts\.read must be/);
    assert.throws(() => tcp.connect('unix:'), /needs a socket path/);
  });
});
