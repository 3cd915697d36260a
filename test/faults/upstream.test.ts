import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import { openFds, servingPid, scale, settle, status, timeBudget, waitForAdmin } from './harness.js';

/**
 * Upstream faults through the dyups proxy of a real `cosocket serve` process: upstreams that die
 * mid-response, never answer, reset, are down and come back, and a dead server under load. Every case
 * checks there is no crash (the process still answers), no hang (bounded by the configured timeouts
 * plus a generous margin for a noisy machine) and a clear status.
 */

const CONNECT_TIMEOUT = 300;
const READ_TIMEOUT = 500;
/** Slack for a shared, noisy 2-core machine: bounds are "timeout + MARGIN", never tight. */
const MARGIN = 2_500;
/** What the client waits at most before it calls a request hung. */
const HANG_LIMIT = 10_000;

// ---------------------------------------------------------------------------------------------
// client

interface Answer {
  /** 0: no response head at all */
  status: number;
  text: string;
  ms: number;
  /** the body arrived whole (content-length met / last chunk seen) */
  complete: boolean;
  /** the client-side error, if any ('hung' when HANG_LIMIT ran out) */
  error: string | null;
  headers: Record<string, string | string[] | undefined>;
}

/** One request to the proxy naming the group in Host, on a fresh connection, never waiting more than limitMs. */
function via(
  port: number,
  group: string,
  options: { method?: string; path?: string; body?: string; limitMs?: number } = {},
): Promise<Answer> {
  const started = performance.now();
  const method = options.method ?? 'GET';
  return new Promise((resolve) => {
    let settled = false;
    const answer: Answer = { status: 0, text: '', ms: 0, complete: false, error: null, headers: {} };
    const finish = (error: string | null = null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      answer.ms = performance.now() - started;
      if (error !== null && answer.error === null) answer.error = error;
      resolve(answer);
    };
    const headers: Record<string, string> = { host: group, connection: 'close' };
    if (options.body !== undefined) {
      headers['content-type'] = 'text/plain';
      headers['content-length'] = String(Buffer.byteLength(options.body));
    }
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path: options.path ?? '/', headers, agent: false },
      (res) => {
        answer.status = res.statusCode ?? 0;
        answer.headers = res.headers;
        res.setEncoding('latin1');
        res.on('data', (d: string) => (answer.text += d));
        res.on('error', (err) => (answer.error = err.message));
        res.on('end', () => {
          answer.complete = res.complete;
          finish();
        });
        res.on('close', () => {
          answer.complete = res.complete;
          finish(res.complete ? null : 'response cut');
        });
      },
    );
    const timer = setTimeout(() => {
      finish('hung');
      req.destroy();
    }, options.limitMs ?? HANG_LIMIT);
    req.on('error', (err) => finish(err.message));
    req.end(options.body);
  });
}

function show(a: Answer): string {
  return `status ${a.status} in ${Math.round(a.ms)} ms, complete ${a.complete}, error ${a.error}, body ${JSON.stringify(a.text.slice(0, 200))}`;
}

// ---------------------------------------------------------------------------------------------
// upstreams

interface HttpUpstream {
  port: number;
  /** "METHOD path" of every request it answered */
  requests: string[];
  close(): Promise<void>;
}

/** A healthy HTTP upstream answering `label` to everything (on `port`, or a free one). */
async function httpUpstream(label: string, port = 0): Promise<HttpUpstream> {
  const requests: string[] = [];
  const server: HttpServer = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end(label));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface TcpUpstream {
  port: number;
  accepted: number;
  closed: number;
  /** the bytes each connection sent, in order of connection */
  received: string[];
  close(): Promise<void>;
}

/** A raw TCP upstream running `onConnection` for each connection; counts connections and what they sent. */
async function tcpUpstream(onConnection: (socket: Socket, index: number) => void): Promise<TcpUpstream> {
  const sockets: Socket[] = [];
  const state: TcpUpstream = {
    port: 0,
    accepted: 0,
    closed: 0,
    received: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: NetServer = createNetServer((socket) => {
    const index = state.accepted++;
    sockets.push(socket);
    state.received.push('');
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => (state.received[index] += d.toString('latin1')));
    socket.on('close', () => state.closed++);
    onConnection(socket, index);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.address() as { port: number }).port;
  return state;
}

/** Runs `then` once the first request head has arrived on the socket. */
function onRequestHead(socket: Socket, then: () => void): void {
  let head = '';
  const onData = (d: Buffer): void => {
    head += d.toString('latin1');
    if (head.includes('\r\n\r\n')) {
      socket.off('data', onData);
      then();
    }
  };
  socket.on('data', onData);
}

/**
 * A port whose SYNs go unanswered, so connecting to it hangs until the connect timeout: a listener in a
 * child process with backlog 1, its accept queue filled, then stopped with SIGSTOP (Linux drops SYNs to a
 * full accept queue). Returns null when the connect does not hang here (then the caller skips).
 */
async function blackhole(): Promise<{ port: number; close(): void } | null> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('net').createServer(()=>{}).listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', () => reject(new Error('blackhole listener exited')));
  });
  child.kill('SIGSTOP');
  const fillers: Socket[] = [];
  const close = (): void => {
    for (const s of fillers) s.destroy();
    child.kill('SIGKILL');
  };
  // fill the accept queue: connects that complete take a slot; the first that hangs proves the hole
  for (let i = 0; i < 8; i++) {
    const socket = netConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 500);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) return { port, close };
  }
  close();
  return null;
}

// ---------------------------------------------------------------------------------------------
// the server under test

let srv: RunningServer;
let adminPort: number;
let proxyPort: number;
let okUpstream: HttpUpstream;
const dir = mkdtempSync(join(tmpdir(), 'cosocket-faults-upstream-'));

async function setGroup(name: string, body: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}`, { method: 'POST', body });
  const text = await res.text();
  assert.equal(text, 'success', `POST /upstream/${name} (${body}) answered ${res.status} ${text}`);
}

interface Health {
  available: boolean;
  active: number;
  fails: number;
  check: 'up' | 'down' | null;
}

async function healthOf(name: string): Promise<Map<string, Health>> {
  const json = (await (await fetch(`http://127.0.0.1:${adminPort}/upstream/${name}?format=json`)).json()) as {
    servers: Array<{ address: string; health: Health }>;
  };
  return new Map(json.servers.map((s) => [s.address, s.health]));
}

/** The process still runs, its own /status answers and the proxy still serves a healthy group. */
async function assertAlive(): Promise<void> {
  assert.equal(srv.child.exitCode, null, `the server exited:\n${srv.output()}`);
  assert.equal(srv.child.signalCode, null, `the server was killed:\n${srv.output()}`);
  const st = await status(srv.port);
  assert.ok(st.scheduler !== undefined, 'GET /status answers');
  const ok = await via(proxyPort, 'ok.local', { limitMs: 5_000 });
  assert.equal(ok.status, 200, `a healthy group still works: ${show(ok)}`);
  assert.equal(ok.text, 'ok');
}

const addr = (port: number): string => `127.0.0.1:${port}`;

timeBudget('faults/upstream.test', { fast: 30_000, full: 300_000 });

describe('faults: upstream servers failing under the dyups proxy', { timeout: 120_000 }, () => {
  before(async () => {
    adminPort = await deadPort();
    proxyPort = await deadPort();
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({ dyups: { connectTimeout: `${CONNECT_TIMEOUT}ms`, readTimeout: `${READ_TIMEOUT}ms` } }),
    );
    srv = await startServer(['--config', config, '--admin-port', String(adminPort), '--proxy-port', String(proxyPort)]);
    // the dyups listeners start just after the "listening" line the helper waits for
    await waitForAdmin(adminPort, () => srv.output(), 10_000);
    okUpstream = await httpUpstream('ok');
    // max_fails=0: the control group never goes unavailable because of a blip
    await setGroup('ok.local', `server ${addr(okUpstream.port)} max_fails=0;`);
    await assertAlive();
  });

  after(async () => {
    try {
      if (srv !== undefined && srv.child.exitCode === null) {
        const code = await srv.stop('SIGTERM');
        assert.equal(code, 0, `the server did not exit cleanly:\n${srv.output()}`);
      }
    } finally {
      await okUpstream?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('an upstream killed mid-response', () => {
    it('a body cut short (content-length larger than sent) reaches the client cut, or as 502: never whole, never a hang', async () => {
      // small: 100 of 1000 bytes; large: 256 KiB of 1 MiB (the head has surely gone to the client by then)
      const cut = await tcpUpstream((socket, index) => {
        onRequestHead(socket, () => {
          const [sent, declared] = index % 2 === 0 ? [100, 1000] : [256 * 1024, 1024 * 1024];
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${declared}\r\n\r\n`);
          socket.write('x'.repeat(sent), () => setTimeout(() => socket.destroy(), 30));
        });
      });
      try {
        await setGroup('cut.local', `server ${addr(cut.port)};`);
        for (let i = 0; i < 6; i++) {
          const a = await via(proxyPort, 'cut.local');
          assert.notEqual(a.error, 'hung', `request ${i} hung: ${show(a)}`);
          assert.ok(a.ms < READ_TIMEOUT + MARGIN, `request ${i} took too long: ${show(a)}`);
          if (a.status === 502) {
            assert.match(a.text, /502 Bad Gateway/, show(a));
          } else {
            assert.equal(a.status, 200, show(a));
            assert.equal(a.complete, false, `a cut body must not look complete: ${show(a)}`);
            assert.ok(a.text.length < 1024 * 1024, show(a));
          }
        }
        await assertAlive();
      } finally {
        await cut.close();
      }
    });

    it('a chunked body cut before its last chunk reaches the client cut (not as a clean end), or as 502', async () => {
      const cut = await tcpUpstream((socket) => {
        onRequestHead(socket, () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
          socket.write('5\r\nhello\r\n');
          setTimeout(
            () =>
              socket.write(`${(64 * 1024).toString(16)}\r\n${'y'.repeat(64 * 1024)}\r\n`, () =>
                setTimeout(() => socket.destroy(), 30),
              ),
            30,
          );
        });
      });
      try {
        await setGroup('cut-chunked.local', `server ${addr(cut.port)};`);
        for (let i = 0; i < 4; i++) {
          const a = await via(proxyPort, 'cut-chunked.local');
          assert.notEqual(a.error, 'hung', `request ${i} hung: ${show(a)}`);
          assert.ok(a.ms < READ_TIMEOUT + MARGIN, `request ${i} took too long: ${show(a)}`);
          if (a.status !== 502) {
            assert.equal(a.status, 200, show(a));
            assert.equal(a.complete, false, `a cut chunked body must not end cleanly: ${show(a)}`);
          }
        }
        await assertAlive();
      } finally {
        await cut.close();
      }
    });

    it('an upstream that dies inside the response head gives 502, the reason in the log', async () => {
      const cut = await tcpUpstream((socket) => {
        onRequestHead(socket, () => socket.write('HTTP/1.1 200 OK\r\nContent-Le', () => socket.destroy()));
      });
      try {
        await setGroup('cut-head.local', `server ${addr(cut.port)};`);
        const a = await via(proxyPort, 'cut-head.local');
        assert.equal(a.status, 502, show(a));
        assert.match(a.text, /<title>502 Bad Gateway<\/title>/, show(a));
        assert.match(srv.output(), /upstream 'cut-head\.local': /);
        assert.ok(a.ms < READ_TIMEOUT + MARGIN, show(a));
        await assertAlive();
      } finally {
        await cut.close();
      }
    });

    it('a GET to a group with a cutting and a healthy server: each answer is a whole "ok" or a cut one, and the healthy group keeps working', async () => {
      const cut = await tcpUpstream((socket) => {
        onRequestHead(socket, () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial', () =>
            setTimeout(() => socket.destroy(), 20),
          );
        });
      });
      try {
        await setGroup(
          'cut-mixed.local',
          `server ${addr(cut.port)} max_fails=1 fail_timeout=1s; server ${addr(okUpstream.port)};`,
        );
        for (let i = 0; i < 6; i++) {
          const a = await via(proxyPort, 'cut-mixed.local');
          assert.notEqual(a.error, 'hung', show(a));
          assert.ok(a.ms < READ_TIMEOUT + MARGIN, show(a));
          const whole = a.status === 200 && a.complete && a.text === 'ok';
          const cutShort = a.status === 200 && !a.complete;
          assert.ok(whole || cutShort || a.status === 502, `request ${i}: ${show(a)}`);
        }
        await assertAlive();
      } finally {
        await cut.close();
      }
    });
  });

  describe('an upstream that accepts and never answers', () => {
    it('GET answers 504 within readTimeout + margin, and the proxy lets go of the silent connections', async () => {
      const silent = await tcpUpstream(() => {});
      const fdsBefore = openFds(servingPid(srv.child.pid!));
      try {
        // max_fails=0: every request reaches the silent server (see the single-server case below for the default)
        await setGroup('silent.local', `server ${addr(silent.port)} max_fails=0;`);
        for (let i = 0; i < 3; i++) {
          const a = await via(proxyPort, 'silent.local');
          assert.equal(a.status, 504, show(a));
          assert.match(a.text, /<title>504 Gateway Timeout<\/title>/, show(a));
          assert.match(srv.output(), /upstream 'silent\.local': .*timeout/);
          assert.ok(a.ms >= READ_TIMEOUT - 50, `answered before the read timeout: ${show(a)}`);
          assert.ok(a.ms < READ_TIMEOUT + MARGIN, `not within readTimeout + margin: ${show(a)}`);
        }
        assert.ok(silent.accepted >= 1, 'the silent upstream saw the requests');
        const released = await settle(
          () => silent.closed,
          (n) => n === silent.accepted,
          3_000,
        );
        assert.ok(
          released.ok,
          `the proxy kept ${silent.accepted - released.value} of ${silent.accepted} timed-out upstream connections open`,
        );
        const fds = await settle(
          () => openFds(servingPid(srv.child.pid!)),
          (n) => n <= fdsBefore + 2,
          3_000,
        );
        assert.ok(fds.ok, `file descriptors grew from ${fdsBefore} to ${fds.value}`);
        await assertAlive();
      } finally {
        await silent.close();
      }
    });

    it('the only server of a group is never marked unavailable (nginx ignores max_fails/fail_timeout then): every GET waits for it and answers 504', async () => {
      const silent = await tcpUpstream(() => {});
      try {
        await setGroup('silent-single.local', `server ${addr(silent.port)};`);
        const answers: Answer[] = [];
        for (let i = 0; i < 3; i++) answers.push(await via(proxyPort, 'silent-single.local'));
        await assertAlive();
        for (const a of answers) assert.ok(a.ms < READ_TIMEOUT + MARGIN, show(a));
        assert.deepEqual(
          answers.map((a) => a.status),
          [504, 504, 504],
          answers.map(show).join('\n'),
        );
        assert.equal(silent.accepted, 3);
      } finally {
        await silent.close();
      }
    });

    it('GET is retried on a healthy second server and answers 200; the silent one is marked failed', async () => {
      const silent = await tcpUpstream(() => {});
      const healthy = await httpUpstream('healthy');
      try {
        await setGroup(
          'silent-retry.local',
          `server ${addr(silent.port)} max_fails=1 fail_timeout=10s; server ${addr(healthy.port)};`,
        );
        for (let i = 0; i < 4; i++) {
          const a = await via(proxyPort, 'silent-retry.local');
          assert.equal(a.status, 200, show(a));
          assert.equal(a.text, 'healthy');
          assert.ok(a.ms < READ_TIMEOUT + MARGIN, show(a));
        }
        assert.equal(silent.accepted, 1, 'after its one failure the silent server is skipped for fail_timeout');
        const health = await healthOf('silent-retry.local');
        assert.equal(health.get(addr(silent.port))?.available, false, JSON.stringify([...health]));
        assert.ok((health.get(addr(silent.port))?.fails ?? 0) >= 1, JSON.stringify([...health]));
        await assertAlive();
      } finally {
        await silent.close();
        await healthy.close();
      }
    });

    it('POST is never retried: 504, and the healthy server of the group receives no POST', async () => {
      const silent = await tcpUpstream(() => {});
      const healthy = await httpUpstream('healthy');
      try {
        // a fresh group: smooth round robin with equal weights picks the first server first
        await setGroup('silent-post.local', `server ${addr(silent.port)}; server ${addr(healthy.port)};`);
        const a = await via(proxyPort, 'silent-post.local', { method: 'POST', body: 'order=1' });
        assert.equal(a.status, 504, show(a));
        assert.match(a.text, /<title>504 Gateway Timeout<\/title>/, show(a));
        assert.ok(a.ms < READ_TIMEOUT + MARGIN, show(a));
        assert.match(
          silent.received.join(''),
          /^POST \/ HTTP\/1\.1\r\n[\s\S]*order=1$/,
          'the silent server got the POST',
        );
        assert.deepEqual(
          healthy.requests.filter((r) => r.startsWith('POST')),
          [],
          'a POST must not be retried on another server',
        );

        await setGroup('silent-post-only.local', `server ${addr(silent.port)};`);
        const b = await via(proxyPort, 'silent-post-only.local', { method: 'POST', body: 'order=2' });
        assert.equal(b.status, 504, show(b));
        assert.ok(b.ms < READ_TIMEOUT + MARGIN, show(b));
        assert.deepEqual(
          healthy.requests.filter((r) => r.startsWith('POST')),
          [],
        );
        await assertAlive();
      } finally {
        await silent.close();
        await healthy.close();
      }
    });
  });

  describe('an upstream that resets its connections', () => {
    it('alone in its group: 502, the reset named in the log', async () => {
      const reset = await tcpUpstream((socket) => socket.resetAndDestroy());
      try {
        // max_fails=0: every request reaches the resetting server
        await setGroup('reset.local', `server ${addr(reset.port)} max_fails=0;`);
        for (let i = 0; i < 3; i++) {
          const a = await via(proxyPort, 'reset.local');
          assert.equal(a.status, 502, show(a));
          assert.match(a.text, /<title>502 Bad Gateway<\/title>/, show(a));
          assert.match(srv.output(), /upstream 'reset\.local': .*(reset|closed)/);
          assert.ok(a.ms < CONNECT_TIMEOUT + READ_TIMEOUT + MARGIN, show(a));
        }
        await assertAlive();
      } finally {
        await reset.close();
      }
    });

    it('with a healthy second server: GETs get 200 (the request never reached an application) and the resetting server is marked failed', async () => {
      const reset = await tcpUpstream((socket) => socket.resetAndDestroy());
      const healthy = await httpUpstream('healthy');
      try {
        await setGroup(
          'reset-mixed.local',
          `server ${addr(reset.port)} max_fails=1 fail_timeout=10s; server ${addr(healthy.port)};`,
        );
        const answers: Answer[] = [];
        for (let i = 0; i < 6; i++) answers.push(await via(proxyPort, 'reset-mixed.local'));
        for (const a of answers) assert.ok(a.ms < CONNECT_TIMEOUT + READ_TIMEOUT + MARGIN, show(a));
        await assertAlive();
        const health = await healthOf('reset-mixed.local');
        const bad = health.get(addr(reset.port));
        assert.deepEqual(
          answers.map((a) => `${a.status} ${a.text}`),
          Array.from({ length: 6 }, () => '200 healthy'),
          `answers: ${answers.map(show).join('\n')}; reset server health ${JSON.stringify(bad)}`,
        );
        assert.ok(bad !== undefined && bad.fails > 0 && !bad.available, `reset server health: ${JSON.stringify(bad)}`);
      } finally {
        await reset.close();
        await healthy.close();
      }
    });
  });

  describe('an upstream that resets a reused keepalive connection', () => {
    it('a GET that meets a reset on a pooled connection is retried on a fresh one (nginx gives a cached connection an extra try): 200', async () => {
      // each connection answers its first request (keep-alive) and resets on the second, like a server
      // whose idle timeout fires just as the proxy reuses the connection
      const upstream = await tcpUpstream((socket) => {
        let head = '';
        let served = 0;
        socket.on('data', (d: Buffer) => {
          head += d.toString('latin1');
          while (head.includes('\r\n\r\n')) {
            head = head.slice(head.indexOf('\r\n\r\n') + 4);
            if (served++ === 0)
              socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nfresh');
            else socket.resetAndDestroy();
          }
        });
      });
      try {
        await setGroup('reset-reused.local', `server ${addr(upstream.port)} max_fails=0;`);
        const answers: Answer[] = [];
        for (let i = 0; i < 4; i++) answers.push(await via(proxyPort, 'reset-reused.local'));
        await assertAlive();
        for (const a of answers) assert.ok(a.ms < CONNECT_TIMEOUT + READ_TIMEOUT + MARGIN, show(a));
        assert.deepEqual(
          answers.map((a) => `${a.status} ${a.text}`),
          Array.from({ length: 4 }, () => '200 fresh'),
          `${answers.map(show).join('\n')}\n(${upstream.accepted} upstream connections)`,
        );
      } finally {
        await upstream.close();
      }
    });
  });

  describe('an upstream that closes idle keepalive connections', () => {
    it('the next GET after the upstream closed the pooled connection (FIN while idle) still answers 200', async () => {
      // a keep-alive answer, then the connection is closed 50 ms later, as by a short idle timeout
      const upstream = await tcpUpstream((socket) => {
        onRequestHead(socket, () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nidle');
          setTimeout(() => socket.end(), 50);
        });
      });
      try {
        await setGroup('idle-close.local', `server ${addr(upstream.port)} max_fails=0;`);
        for (let i = 0; i < 4; i++) {
          const a = await via(proxyPort, 'idle-close.local');
          assert.equal(`${a.status} ${a.text}`, '200 idle', show(a));
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal(upstream.accepted, 4, 'a closed pooled connection is not reused');
        await assertAlive();
      } finally {
        await upstream.close();
      }
    });
  });

  describe('the balancer marks a dead server down and back up', () => {
    it('passive (max_fails=1 fail_timeout=1s): all requests go to A while B is dead; B serves again once it is back and fail_timeout passed', async () => {
      const a = await httpUpstream('A');
      const bPort = await deadPort();
      let b: HttpUpstream | null = null;
      try {
        await setGroup(
          'flap.local',
          `server ${addr(a.port)} max_fails=1 fail_timeout=1s; server ${addr(bPort)} max_fails=1 fail_timeout=1s;`,
        );
        const answers: Answer[] = [];
        for (let i = 0; i < 6; i++) answers.push(await via(proxyPort, 'flap.local'));
        assert.deepEqual(
          answers.map((x) => `${x.status} ${x.text}`),
          Array.from({ length: 6 }, () => '200 A'),
          answers.map(show).join('\n'),
        );
        for (const x of answers) assert.ok(x.ms < CONNECT_TIMEOUT + MARGIN, show(x));
        let health = await healthOf('flap.local');
        assert.equal(health.get(addr(bPort))?.available, false, JSON.stringify([...health]));
        assert.ok((health.get(addr(bPort))?.fails ?? 0) >= 1);
        assert.equal(health.get(addr(a.port))?.available, true);

        b = await httpUpstream('B', bPort);
        await new Promise((r) => setTimeout(r, 1_300)); // > fail_timeout
        health = await healthOf('flap.local');
        assert.equal(
          health.get(addr(bPort))?.available,
          true,
          `B is available again after fail_timeout: ${JSON.stringify([...health])}`,
        );
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const x = await via(proxyPort, 'flap.local');
          assert.equal(x.status, 200, show(x));
          seen.add(x.text);
        }
        assert.deepEqual([...seen].sort(), ['A', 'B'], 'requests reach both servers again');
        assert.ok(b.requests.length >= 2, `B answered ${b.requests.length} requests`);
        health = await healthOf('flap.local');
        assert.equal(health.get(addr(bPort))?.fails, 0, 'a success clears the failures');
        await assertAlive();
      } finally {
        await a.close();
        await b?.close();
      }
    });

    it('active check (type=http): B is checked down while dead, requests skip it, and it is checked up and serves when it comes back', async () => {
      const a = await httpUpstream('A');
      const bPort = await deadPort();
      let b: HttpUpstream | null = null;
      try {
        // max_fails=0: only the active check decides
        await setGroup(
          'flap-check.local',
          `server ${addr(a.port)} max_fails=0; server ${addr(bPort)} max_fails=0; check interval=100ms rise=1 fall=1 timeout=300ms type=http;`,
        );
        const down = await settle(
          () => healthOf('flap-check.local'),
          (h) => h.get(addr(bPort))?.check === 'down' && h.get(addr(a.port))?.check === 'up',
          5_000,
        );
        assert.ok(down.ok, `B never checked down: ${JSON.stringify([...down.value])}`);
        assert.equal(down.value.get(addr(bPort))?.available, false);
        for (let i = 0; i < 6; i++) {
          const x = await via(proxyPort, 'flap-check.local');
          assert.equal(`${x.status} ${x.text}`, '200 A', show(x));
        }

        b = await httpUpstream('B', bPort);
        const up = await settle(
          () => healthOf('flap-check.local'),
          (h) => h.get(addr(bPort))?.check === 'up',
          5_000,
        );
        assert.ok(up.ok, `B never checked up: ${JSON.stringify([...up.value])}`);
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const x = await via(proxyPort, 'flap-check.local');
          assert.equal(x.status, 200, show(x));
          seen.add(x.text);
        }
        assert.deepEqual([...seen].sort(), ['A', 'B']);
        await assertAlive();
      } finally {
        await a.close();
        await b?.close();
        // stop the checks of this group
        await fetch(`http://127.0.0.1:${adminPort}/upstream/flap-check.local`, { method: 'DELETE' }).then((r) =>
          r.text(),
        );
      }
    });
  });

  describe('bounded load while one of two servers is dead', () => {
    async function load(group: string, total: number, concurrency: number): Promise<Answer[]> {
      const answers: Answer[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < total) {
            next++;
            answers.push(await via(proxyPort, group));
          }
        }),
      );
      return answers;
    }

    function summary(answers: Answer[]): string {
      const byStatus = new Map<string, number>();
      for (const a of answers)
        byStatus.set(
          `${a.status}${a.error ? ` (${a.error})` : ''}`,
          (byStatus.get(`${a.status}${a.error ? ` (${a.error})` : ''}`) ?? 0) + 1,
        );
      const slowest = Math.max(...answers.map((a) => a.ms));
      return `${JSON.stringify([...byStatus])}, slowest ${Math.round(slowest)} ms`;
    }

    it(`refused connections: ${scale(50, 500)} GETs, 10 at a time, all 200 through retries, none slower than connectTimeout + margin`, async (t) => {
      const a = await httpUpstream('A');
      const dead = await deadPort();
      try {
        await setGroup(
          'load-dead.local',
          `server ${addr(a.port)} max_fails=1 fail_timeout=1s; server ${addr(dead)} max_fails=1 fail_timeout=1s;`,
        );
        const answers = await load('load-dead.local', scale(50, 500), 10);
        t.diagnostic(summary(answers));
        assert.equal(answers.length, scale(50, 500));
        assert.ok(
          answers.every((x) => x.status === 200 && x.text === 'A'),
          summary(answers),
        );
        assert.ok(
          answers.every((x) => x.ms < CONNECT_TIMEOUT + MARGIN),
          summary(answers),
        );
        await assertAlive();
      } finally {
        await a.close();
      }
    });

    it(`connects that hang (SYNs dropped): ${scale(50, 500)} GETs, 10 at a time, all 200 through retries, none slower than connectTimeout + margin`, async (t) => {
      const hole = await blackhole();
      if (hole === null) {
        t.skip('connecting to a full accept queue does not hang on this machine');
        return;
      }
      const a = await httpUpstream('A');
      try {
        await setGroup(
          'load-hole.local',
          `server ${addr(a.port)} max_fails=1 fail_timeout=1s; server ${addr(hole.port)} max_fails=1 fail_timeout=1s;`,
        );
        const started = performance.now();
        const answers = await load('load-hole.local', scale(50, 500), 10);
        const elapsed = performance.now() - started;
        t.diagnostic(
          `${summary(answers)}; ${answers.filter((x) => x.ms >= CONNECT_TIMEOUT).length} waited a connect timeout`,
        );
        assert.ok(
          answers.every((x) => x.status === 200 && x.text === 'A'),
          summary(answers),
        );
        assert.ok(
          answers.every((x) => x.ms < CONNECT_TIMEOUT + MARGIN),
          summary(answers),
        );
        // the hole is tried again each fail_timeout: at most a few connect timeouts in all, not one per request
        assert.ok(
          answers.filter((x) => x.ms >= CONNECT_TIMEOUT).length <= 10 * Math.ceil(elapsed / 1_000 + 1),
          summary(answers),
        );
        const health = await healthOf('load-hole.local');
        assert.ok(
          (health.get(addr(hole.port))?.fails ?? 0) >= 1 || health.get(addr(hole.port))?.available === true,
          JSON.stringify([...health]),
        );
        await assertAlive();
      } finally {
        hole.close();
        await a.close();
      }
    });
  });
});
