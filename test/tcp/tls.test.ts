import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CancelledError,
  InvalidArgumentError,
  Scheduler,
  SocketTimeoutError,
  TlsHandshakeError,
  TlsVerifyError,
  pools,
  sleep,
  tcp,
} from '../../src/index.js';
import type { Operation } from '../../src/index.js';
import { startTcpServer } from '../helpers/tcp-server.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestCertificate, TestPki } from '../helpers/tls-certs.js';
import { startTlsServer, tlsEcho } from '../helpers/tls-server.js';

const scheduler = new Scheduler({ name: 'tls-tests' });

describe('tcp cosocket over TLS', () => {
  let pki: TestPki;
  let localhost: TestCertificate;
  before(() => {
    pki = makeTestPki();
    localhost = pki.issue(['localhost', '127.0.0.1']);
  });
  after(async () => {
    await pools.drain();
    pki.remove();
  });

  function* roundTrip(sock: tcp.TcpSocket, text: string): Operation<string> {
    yield* sock.send(`${text}\n`);
    return yield* sock.receive('*l');
  }

  it('handshakes, verifies against the given CA, and talks through the TLS socket', async () => {
    const server = await startTlsServer(localhost, tlsEcho, { alpn: ['h2', 'http/1.1'] });
    const got = await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      assert.equal(sock.getsslsession(), null);
      const session = yield* sock.sslhandshake({ servername: 'localhost', ca: pki.ca.cert, alpn: ['http/1.1'] });
      const echoed = yield* roundTrip(sock, 'hello over tls');
      const big = Buffer.alloc(300_000, 'x');
      yield* sock.send([big, '\n']);
      const back = yield* sock.receive(big.length + 1);
      sock.close();
      return { session, echoed, same: sock.getsslsession(), bigBack: back.length };
    });
    assert.equal(got.echoed, 'hello over tls');
    assert.equal(got.bigBack, 300_001);
    assert.equal(got.session.alpn, 'http/1.1');
    assert.equal(got.session.servername, 'localhost');
    assert.equal(got.session.reused, false);
    assert.match(got.session.protocol ?? '', /^TLSv1\.[23]$/);
    assert.deepEqual(server.servernames, ['localhost']);
    await server.close();
  });

  it('verifies by default: an untrusted, self-signed or wrongly named certificate fails clearly', async () => {
    const selfSigned = pki.selfSigned(['localhost']);
    const trustedOther = pki.issue(['other.test']);
    const cases: Array<[TestCertificate, { ca?: string; servername?: string }, string]> = [
      [localhost, { servername: 'localhost' }, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'], // our CA is not in Node's store
      [selfSigned, { servername: 'localhost', ca: pki.ca.cert }, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
      [trustedOther, { servername: 'localhost', ca: pki.ca.cert }, 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ];
    for (const [certificate, options, reason] of cases) {
      const server = await startTlsServer(certificate, tlsEcho);
      const err = await scheduler.go(function* () {
        const sock = yield* tcp.connect('127.0.0.1', server.port);
        try {
          yield* sock.sslhandshake(options);
          return null;
        } catch (e) {
          assert.equal(sock.closed, true, 'a failed handshake closes the socket');
          return e;
        }
      });
      assert.ok(err instanceof TlsVerifyError, `${reason}: got ${String(err)}`);
      assert.equal(err.code, 'COSOCKET_ERR_TLS_VERIFY');
      assert.equal(err.reason, reason);
      assert.equal(err.servername, 'localhost');
      assert.match(
        err.message,
        new RegExp(
          `^sslhandshake 127\\.0\\.0\\.1:${server.port}: certificate verify failed for 'localhost': ${reason}`,
        ),
      );
      await server.close();
    }
  });

  it('verify: false accepts a self-signed certificate', async () => {
    const server = await startTlsServer(pki.selfSigned(['localhost']), tlsEcho);
    const echoed = await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      yield* sock.sslhandshake({ verify: false });
      const line = yield* roundTrip(sock, 'unverified');
      sock.close();
      return line;
    });
    assert.equal(echoed, 'unverified');
    await server.close();
  });

  it('sends SNI: the server picks the certificate by name and each verifies', async () => {
    const a = pki.issue(['a.test']);
    const b = pki.issue(['b.test']);
    const server = await startTlsServer(localhost, tlsEcho, { byName: { 'a.test': a, 'b.test': b } });
    await scheduler.go(function* () {
      for (const servername of ['a.test', 'b.test']) {
        const sock = yield* tcp.connect('127.0.0.1', server.port);
        yield* sock.sslhandshake({ servername, ca: pki.ca.cert });
        assert.equal(yield* roundTrip(sock, servername), servername);
        sock.close();
      }
      const sock = yield* tcp.connect('127.0.0.1', server.port);
      yield* sock.sslhandshake({ servername: 'b.test', ca: pki.ca.cert });
      yield* roundTrip(sock, 'b again');
      sock.close();
    });
    assert.deepEqual(server.servernames, ['a.test', 'b.test', 'b.test']);
    await server.close();
  });

  it('a handshake given an earlier session resumes it, and says so', async () => {
    const server = await startTlsServer(localhost, tlsEcho);
    const reused = await scheduler.go(function* () {
      const tls = { servername: 'localhost', ca: pki.ca.cert };
      const first = yield* tcp.connect('127.0.0.1', server.port, { pool: 'resume-1' });
      const session = yield* first.sslhandshake(tls);
      yield* roundTrip(first, 'ticket please'); // TLS 1.3 tickets come after the handshake
      first.close();
      const second = yield* tcp.connect('127.0.0.1', server.port, { pool: 'resume-2' });
      const again = yield* second.sslhandshake({ ...tls, session });
      yield* roundTrip(second, 'resumed');
      second.close();
      return [session.reused, again.reused];
    });
    assert.deepEqual(reused, [false, true]);
    assert.equal(server.resumed, 1);
    await server.close();
  });

  it('connect with tls: new connections of the pool resume its last session', async () => {
    const server = await startTlsServer(localhost, tlsEcho);
    const tls = { servername: 'localhost', ca: pki.ca.cert };
    await scheduler.go(function* () {
      for (let i = 0; i < 3; i++) {
        const sock = yield* tcp.connect('127.0.0.1', server.port, { tls });
        assert.equal(sock.getsslsession()!.reused, i > 0);
        yield* roundTrip(sock, `n${i}`);
        sock.close(); // closed, not pooled: each connect is a new connection
      }
    });
    assert.equal(server.handshakes, 3);
    assert.equal(server.resumed, 2);
    await server.close();
  });

  it('keeps TLS connections in pools of their own: two servernames never share one', async () => {
    const server = await startTlsServer(localhost, tlsEcho, {
      byName: { 'a.test': pki.issue(['a.test']), 'b.test': pki.issue(['b.test']) },
    });
    const a = { servername: 'a.test', ca: pki.ca.cert };
    const b = { servername: 'b.test', ca: pki.ca.cert };
    const seen = await scheduler.go(function* () {
      const out: Array<[string, number]> = [];
      for (const tls of [a, b, a, b, a]) {
        const sock = yield* tcp.connect('127.0.0.1', server.port, { tls });
        out.push([sock.getsslsession()!.servername!, sock.getreusedtimes()]);
        yield* roundTrip(sock, 'x');
        sock.setkeepalive();
      }
      // a plain connect to the same host and port never gets a TLS connection
      const plain = yield* tcp.connect('127.0.0.1', server.port);
      out.push(['plain', plain.getreusedtimes()]);
      assert.equal(plain.getsslsession(), null);
      plain.close();
      return out;
    });
    assert.deepEqual(seen, [
      ['a.test', 0],
      ['b.test', 0],
      ['a.test', 1],
      ['b.test', 1],
      ['a.test', 2],
      ['plain', 0],
    ]);
    assert.equal(server.handshakes, 2); // one per servername
    await server.close();
  });

  it('setkeepalive after sslhandshake puts the connection in the pool of its TLS settings', async () => {
    const server = await startTlsServer(localhost, tlsEcho);
    const tls = { servername: 'localhost', ca: pki.ca.cert };
    const got = await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', server.port, { pool: 'upgrade-pool' });
      yield* sock.sslhandshake(tls);
      yield* roundTrip(sock, 'one');
      sock.setkeepalive();
      // the same settings: the connection made TLS above, no new handshake
      const again = yield* tcp.connect('127.0.0.1', server.port, { pool: 'upgrade-pool', tls });
      const reusedTimes = again.getreusedtimes();
      const session = yield* again.sslhandshake(tls); // already TLS with these settings: returns its session
      const line = yield* roundTrip(again, 'two');
      // other settings on a TLS connection: refused
      let refused: unknown = null;
      try {
        yield* again.sslhandshake({ servername: 'other.test', ca: pki.ca.cert });
      } catch (e) {
        refused = e;
      }
      again.setkeepalive();
      const plain = yield* tcp.connect('127.0.0.1', server.port, { pool: 'upgrade-pool' });
      const plainReused = plain.getreusedtimes();
      plain.close();
      return { reusedTimes, sessionIsTheFirst: session.reused === false, line, refused, plainReused };
    });
    assert.equal(got.reusedTimes, 1);
    assert.equal(got.line, 'two');
    assert.ok(got.refused instanceof InvalidArgumentError);
    assert.equal(got.plainReused, 0, 'the plain pool got a new connection: the TLS one left it');
    assert.equal(server.handshakes, 1);
    const stats = pools.stats().filter((p) => p.name.startsWith('upgrade-pool'));
    assert.deepEqual(stats.map((p) => [p.name.includes('|tls:'), p.idle]).sort(), [
      [false, 0],
      [true, 1],
    ]);
    await server.close();
  });

  it('cancelling a coroutine in the middle of a handshake closes the socket', async () => {
    const silent = await startTcpServer((s) => s.resume()); // reads the ClientHello, never answers
    const task = scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', silent.port, { pool: 'tls-cancel' });
      yield* sock.sslhandshake({ servername: 'localhost' });
    });
    await new Promise((r) => setTimeout(r, 50));
    task.cancel();
    await assert.rejects(task, CancelledError);
    await silent.waitClosed(1);
    const stats = pools.stats().find((p) => p.name === 'tls-cancel')!;
    assert.equal(stats.open, 0);
    await silent.close();
  });

  it('a handshake takes at most the connect timeout; a peer speaking no TLS fails the handshake', async () => {
    const silent = await startTcpServer(() => {});
    const timedOut = await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', silent.port, { timeouts: { connect: 100 } });
      try {
        yield* sock.sslhandshake({ servername: 'localhost' });
      } catch (e) {
        return [e, sock.closed];
      }
      return null;
    });
    const timeoutError: unknown = timedOut?.[0];
    assert.ok(timeoutError instanceof SocketTimeoutError);
    assert.equal(timeoutError.op, 'sslhandshake');
    assert.equal(timedOut?.[1], true);
    const http = await startTcpServer((s) => s.on('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    const failed = await scheduler.go(function* () {
      const sock = yield* tcp.connect('127.0.0.1', http.port);
      try {
        yield* sock.sslhandshake({ servername: 'localhost' });
      } catch (e) {
        return e;
      }
      return null;
    });
    assert.ok(failed instanceof TlsHandshakeError, String(failed));
    assert.match(failed.message, new RegExp(`^sslhandshake 127\\.0\\.0\\.1:${http.port}: TLS handshake failed`));
    await silent.close();
    await http.close();
  });

  it('connect with tls fails with the verification error and checks its options', async () => {
    const server = await startTlsServer(localhost, tlsEcho);
    const err = await scheduler
      .go(function* () {
        yield* tcp.connect('127.0.0.1', server.port, { tls: { servername: 'localhost' } });
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof TlsVerifyError, String(err));
    await scheduler.go(function* () {
      yield* sleep(0);
      assert.throws(
        () => tcp.connect('127.0.0.1', server.port, { tls: { verify: 'yes' as unknown as boolean } }),
        /verify must be true or false/,
      );
      assert.throws(
        () => tcp.connect('127.0.0.1', server.port, { tls: { cert: localhost.cert } }),
        /cert and key go together/,
      );
      assert.throws(() => tcp.connect('127.0.0.1', server.port, { tls: { ca: 'not a pem' } }), /ca is not PEM/);
    });
    await server.close();
  });
});
