import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import { Scheduler, pools } from '../../src/index.js';
import Fastify from 'fastify';
import { buildAdminApp } from '../../src/dyups/admin.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { processStatus, statusRoutes } from '../../src/server/status.js';
import { singleView } from '../../src/server/cluster-gather.js';
import type { StatusBody } from '../../src/server/status.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import type { DyupsProxyServer } from '../../src/dyups/proxy.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { startTcpServer } from '../helpers/tcp-server.js';

/**
 * WebSocket/Upgrade through the dyups proxy: a real `ws` echo server behind it, real `ws` clients in
 * front, and raw sockets where the bytes on the wire matter (pipelined data, a 101's headers).
 */

const LIMIT = 10_000;
const table = new UpstreamTable({ stateFile: null });
const balancers = new Balancers();
table.onChange((name, group) => balancers.set(group, name));

interface EchoServer {
  readonly port: number;
  /** The head of each upgrade request the echo server got. */
  readonly heads: IncomingHttpHeaders[];
  readonly server: WebSocketServer;
  /** Sockets open on the server side now. */
  open(): number;
  close(): Promise<void>;
}

async function startEcho(): Promise<EchoServer> {
  const heads: IncomingHttpHeaders[] = [];
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (ws, request) => {
    heads.push(request.headers);
    ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }));
  });
  return {
    port: (server.address() as { port: number }).port,
    heads,
    server,
    open: () => server.clients.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of server.clients) ws.terminate();
        server.close(() => resolve());
      }),
  };
}

function proxyOn(
  tunnelTimeout?: number,
  scheduler = new Scheduler({ name: 'upgrade-proxy' }),
): Promise<DyupsProxyServer> {
  const proxy = buildProxyServer(table, balancers, {
    scheduler,
    connectTimeout: 1_000,
    readTimeout: 5_000,
    bodyLimit: 64 * 1024,
    ...(tunnelTimeout !== undefined ? { tunnelTimeout } : {}),
  });
  return proxy.listen({ host: '127.0.0.1', port: 0 }).then(() => proxy);
}

function portOf(proxy: DyupsProxyServer): number {
  return (proxy.address() as { port: number }).port;
}

/** A `ws` client through the proxy to the group `group`; resolves once open. */
function openClient(proxy: DyupsProxyServer, group: string, path = '/chat'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(proxy)}${path}`, { headers: { host: group } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

/** The next message on `ws`, as it came (a Buffer) and whether it was binary. */
function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), LIMIT);
    ws.once('message', (data: RawData, binary: boolean) => {
      clearTimeout(timer);
      resolve({ data: data as Buffer, binary });
    });
  });
}

function closed(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not closed')), LIMIT);
    ws.once('close', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Resolves once `check()` holds (polled), or fails naming `what`. */
async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + LIMIT;
  while (!check()) {
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A raw socket to the proxy: writes `request`, collects what comes back. */
function rawClient(
  proxy: DyupsProxyServer,
  request: string | Buffer,
): { socket: Socket; text: () => string; ended: Promise<void> } {
  let text = '';
  const socket = connect(portOf(proxy), '127.0.0.1', () => socket.write(request));
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, text: () => text, ended };
}

describe('dyups proxy: WebSocket and Upgrade', () => {
  let echo: EchoServer;
  let proxy: DyupsProxyServer;

  before(async () => {
    echo = await startEcho();
    table.update('ws.local', `server 127.0.0.1:${echo.port};`);
    proxy = await proxyOn();
  });

  after(async () => {
    proxy.closeAllConnections();
    await proxy.close();
    await echo.close();
    await pools.drain(500);
  });

  it('echoes text and binary frames; the upstream got Upgrade and Connection: upgrade; counted', async () => {
    const upgrades = proxy.tunnels.upgrades;
    const ws = await openClient(proxy, 'ws.local');
    assert.equal(proxy.tunnels.open, 1);
    assert.equal(proxy.tunnels.upgrades, upgrades + 1);
    const head = echo.heads.at(-1)!;
    assert.equal(head.upgrade, 'websocket');
    assert.equal(head.connection, 'upgrade');
    assert.ok(head['sec-websocket-key']);
    ws.send('hello, tunnel');
    const text = await nextMessage(ws);
    assert.equal(text.binary, false);
    assert.equal(text.data.toString(), 'hello, tunnel');
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    ws.send(bytes);
    const binary = await nextMessage(ws);
    assert.equal(binary.binary, true);
    assert.deepEqual(binary.data, bytes);
    ws.close();
    await closed(ws);
    await until('the tunnel closes', () => proxy.tunnels.open === 0);
  });

  it('carries 1 MB messages both ways, intact', async () => {
    const ws = await openClient(proxy, 'ws.local');
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    for (let round = 0; round < 3; round++) {
      ws.send(big);
      const back = await nextMessage(ws);
      assert.equal(back.data.length, big.length);
      assert.ok(back.data.equals(big), `round ${round}: the echo differs`);
    }
    const text = 'x'.repeat(1024 * 1024);
    ws.send(text);
    assert.equal((await nextMessage(ws)).data.toString(), text);
    ws.close();
    await closed(ws);
  });

  it('holds 100 concurrent sockets, each echoing its own messages', async () => {
    const clients = await Promise.all(Array.from({ length: 100 }, () => openClient(proxy, 'ws.local')));
    assert.equal(proxy.tunnels.open, 100);
    await Promise.all(
      clients.map(async (ws, i) => {
        for (let n = 0; n < 5; n++) {
          const message = `client ${i} message ${n}`;
          ws.send(message);
          assert.equal((await nextMessage(ws)).data.toString(), message);
        }
      }),
    );
    for (const ws of clients) ws.close();
    await Promise.all(clients.map(closed));
    await until('every tunnel closes', () => proxy.tunnels.open === 0);
  });

  it('the upstream closing ends the client side too', async () => {
    const ws = await openClient(proxy, 'ws.local');
    ws.send('ping');
    await nextMessage(ws);
    for (const server of echo.server.clients) server.terminate(); // a TCP close, no close frame
    const code = await closed(ws);
    assert.equal(code, 1006); // the connection ended without a close frame: the proxy closed it
    await until('the tunnel closes', () => proxy.tunnels.open === 0);
  });

  it('the client closing ends the upstream side too', async () => {
    const ws = await openClient(proxy, 'ws.local');
    ws.send('ping');
    await nextMessage(ws);
    assert.equal(echo.open(), 1);
    ws.terminate(); // a TCP close, no close frame
    await until('the upstream socket closes', () => echo.open() === 0);
    await until('the tunnel closes', () => proxy.tunnels.open === 0);
  });

  it('a non-101 answer is proxied as a normal response', async () => {
    const upstream = await startTcpServer((socket: Socket) => {
      socket.once('data', () =>
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nnot a socket'),
      );
    });
    try {
      table.update('plain.local', `server 127.0.0.1:${upstream.port};`);
      const upgrades = proxy.tunnels.upgrades;
      const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${portOf(proxy)}/`, { headers: { host: 'plain.local' } });
        ws.on('error', () => {});
        ws.once('open', () => reject(new Error('opened')));
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
      });
      assert.deepEqual(response, { status: 200, body: 'not a socket' });
      assert.equal(proxy.tunnels.upgrades, upgrades);
    } finally {
      table.delete('plain.local');
      await upstream.close();
    }
  });

  it('passes bytes pipelined behind the head and bytes sent with the 101; never pools the upstream connection', async () => {
    // a raw upstream: 101 and a greeting in one write, then echoes what comes
    const heads: string[] = [];
    const upstream = await startTcpServer((socket: Socket) => {
      let head = '';
      const onHead = (d: Buffer): void => {
        head += d.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onHead);
        heads.push(head.slice(0, end));
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw-echo\r\nConnection: Upgrade\r\nX-Tunnel: yes\r\nKeep-Alive: timeout=5\r\n\r\nhello;',
        );
        const rest = head.slice(end + 4);
        if (rest !== '') socket.write(rest);
        socket.on('data', (more: Buffer) => socket.write(more));
      };
      socket.on('data', onHead);
    });
    try {
      table.update('raw.local', `server 127.0.0.1:${upstream.port}; keepalive 8;`);
      const client = rawClient(
        proxy,
        'GET /raw HTTP/1.1\r\nHost: raw.local\r\nUpgrade: raw-echo\r\nConnection: keep-alive, Upgrade\r\n\r\nearly bytes;',
      );
      await until('the greeting and the pipelined bytes come back', () => client.text().endsWith('hello;early bytes;'));
      const [head] = client.text().split('\r\n\r\n');
      const lines = head!.split('\r\n');
      assert.equal(lines[0], 'HTTP/1.1 101 Switching Protocols');
      assert.ok(lines.includes('upgrade: raw-echo'), head);
      assert.ok(lines.includes('Connection: upgrade'), head);
      assert.ok(lines.includes('x-tunnel: yes'), head);
      assert.ok(!lines.some((line) => /^keep-alive:/i.test(line)), head);
      assert.match(heads[0]!, /\r\nupgrade: raw-echo\r\n/);
      assert.match(heads[0]!, /\r\nconnection: upgrade\r\n/);
      client.socket.write('later;');
      await until('later bytes echo', () => client.text().endsWith('later;'));
      client.socket.end();
      await client.ended;
      await upstream.waitClosed(1);
      // the next request needs a new upstream connection: the tunnel's was closed, not pooled
      const second = rawClient(
        proxy,
        'GET /raw HTTP/1.1\r\nHost: raw.local\r\nUpgrade: raw-echo\r\nConnection: Upgrade\r\n\r\n',
      );
      await until('the second greeting', () => second.text().endsWith('hello;'));
      assert.equal(upstream.sockets.length, 2);
      second.socket.destroy();
      await upstream.waitClosed(2);
    } finally {
      table.delete('raw.local');
      await upstream.close();
    }
  });

  it("backpressure both ways: a side that stops reading stops the other side's writes; nothing is lost", async () => {
    const TOTAL = 64 * 1024 * 1024;
    const piece = Buffer.alloc(64 * 1024, 0x61);
    /** Writes TOTAL bytes as fast as `socket` takes them; `written()` says how far it got. */
    function flood(socket: Socket): { written: () => number } {
      let written = 0;
      const more = (): void => {
        while (written < TOTAL) {
          written += piece.length;
          if (!socket.write(piece)) {
            socket.once('drain', more);
            return;
          }
        }
      };
      more();
      return { written: () => written };
    }
    /** Resolves once `written()` stopped moving for 300 ms. */
    async function stalled(written: () => number): Promise<number> {
      let last = -1;
      while (written() !== last) {
        last = written();
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      return last;
    }
    let upstreamSocket: Socket | null = null;
    const upstream = await startTcpServer((socket: Socket) => {
      upstreamSocket = socket;
      socket.once('data', () =>
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: flood\r\nConnection: upgrade\r\n\r\n'),
      );
    });
    try {
      table.update('flood.local', `server 127.0.0.1:${upstream.port};`);
      const client = connect(portOf(proxy), '127.0.0.1');
      client.on('error', () => {});
      let head = '';
      await new Promise<void>((resolve) => {
        client.write('GET / HTTP/1.1\r\nHost: flood.local\r\nUpgrade: flood\r\nConnection: upgrade\r\n\r\n');
        const onData = (d: Buffer): void => {
          head += d.toString('latin1');
          if (!head.endsWith('\r\n\r\n')) return;
          client.off('data', onData);
          resolve();
        };
        client.on('data', onData);
      });
      client.pause();
      // upstream to client, the client not reading: the upstream's writes stop well short of the total
      const down = flood(upstreamSocket!);
      assert.ok((await stalled(down.written)) < TOTAL, 'the upstream wrote everything to a client that reads nothing');
      let received = 0;
      client.on('data', (d: Buffer) => (received += d.length));
      client.resume();
      await until('every byte reaches the client', () => received === TOTAL);
      // client to upstream, the upstream not reading
      upstreamSocket!.pause();
      const up = flood(client);
      assert.ok((await stalled(up.written)) < TOTAL, 'the client wrote everything to an upstream that reads nothing');
      let arrived = 0;
      upstreamSocket!.on('data', (d: Buffer) => (arrived += d.length));
      upstreamSocket!.resume();
      await until('every byte reaches the upstream', () => arrived === TOTAL);
      client.destroy();
      await until('the tunnel closes', () => proxy.tunnels.open === 0);
    } finally {
      table.delete('flood.local');
      await upstream.close();
    }
  });

  it('counts tunnels per server and per group in the admin detail JSON and /status, open and in all', async () => {
    const second = await startEcho();
    const admin = await buildAdminApp(table, {
      token: null,
      allowRemote: false,
      health: (name) => balancers.health(name),
    });
    await admin.listen({ host: '127.0.0.1', port: 0 });
    const adminBase = `http://127.0.0.1:${(admin.server.address() as { port: number }).port}`;
    const app = Fastify();
    const scheduler = new Scheduler({ name: 'status' });
    await app.register(statusRoutes, {
      view: singleView({ status: () => processStatus(scheduler, () => [], Date.now()), metrics: async () => [] }),
      redis: { url: 'redis://127.0.0.1:1', embedded: false },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const statusUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/status`;
    const first = `127.0.0.1:${echo.port}`;
    const other = `127.0.0.1:${second.port}`;
    interface Detail {
      tunnels: { open: number; total: number };
      servers: Array<{ address: string; health: { openTunnels: number; tunnels: number } }>;
    }
    const detail = async (): Promise<{ group: [number, number]; byServer: Record<string, [number, number]> }> => {
      const body = (await (await fetch(`${adminBase}/upstream/count.local?format=json`)).json()) as Detail;
      const byServer: Record<string, [number, number]> = {};
      for (const s of body.servers) byServer[s.address] = [s.health.openTunnels, s.health.tunnels];
      return { group: [body.tunnels.open, body.tunnels.total], byServer };
    };
    const status = async (): Promise<StatusBody['tunnels']> =>
      ((await (await fetch(statusUrl)).json()) as StatusBody).tunnels;
    table.update('count.local', `server ${first}; server ${other};`);
    const clients: WebSocket[] = [];
    try {
      assert.deepEqual(await detail(), { group: [0, 0], byServer: { [first]: [0, 0], [other]: [0, 0] } });
      // round robin: two through each server
      for (let i = 0; i < 4; i++) clients.push(await openClient(proxy, 'count.local'));
      assert.deepEqual(await detail(), { group: [4, 4], byServer: { [first]: [2, 2], [other]: [2, 2] } });
      const open = await status();
      assert.deepEqual(open.groups['count.local'], { open: 4, total: 4 });
      assert.ok(open.open >= 4 && open.upgrades >= 4, JSON.stringify(open));
      assert.ok(!JSON.stringify(open).includes(first), '/status names no server address');
      // one closed by the client, one by its server
      clients[0]!.close();
      await closed(clients[0]!);
      second.server.clients.values().next().value!.terminate();
      await until('two tunnels closed', () => proxy.tunnels.open === 2);
      const after = await detail();
      assert.deepEqual(after.group, [2, 4]);
      assert.equal(after.byServer[first]![0] + after.byServer[other]![0], 2);
      assert.deepEqual((await status()).groups['count.local'], { open: 2, total: 4 });
      for (const ws of clients) ws.close();
      await Promise.all(clients.map(closed));
      await until('every tunnel closed', () => proxy.tunnels.open === 0);
      assert.deepEqual(await detail(), { group: [0, 4], byServer: { [first]: [0, 2], [other]: [0, 2] } });
      assert.deepEqual((await status()).groups['count.local'], { open: 0, total: 4 });
      // a kept server keeps its counts across an update
      table.update('count.local', `server ${first} weight=2; server ${other};`);
      assert.deepEqual((await detail()).byServer[first], [0, 2]);
    } finally {
      for (const ws of clients) ws.terminate();
      table.delete('count.local');
      await admin.close();
      await app.close();
      await second.close();
    }
  });

  it('tries the next server before the 101, as for other requests', async () => {
    table.update('retry.local', `server 127.0.0.1:1; server 127.0.0.1:${echo.port};`);
    try {
      for (let i = 0; i < 3; i++) {
        const ws = await openClient(proxy, 'retry.local');
        ws.send(`round ${i}`);
        assert.equal((await nextMessage(ws)).data.toString(), `round ${i}`);
        ws.close();
        await closed(ws);
      }
    } finally {
      table.delete('retry.local');
    }
  });

  it('a 101 without an Upgrade header is a 502', async () => {
    const upstream = await startTcpServer((socket: Socket) => {
      socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n'));
    });
    try {
      table.update('bad101.local', `server 127.0.0.1:${upstream.port};`);
      const client = rawClient(
        proxy,
        'GET / HTTP/1.1\r\nHost: bad101.local\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n',
      );
      await until('an answer', () => client.text().includes('\r\n\r\n'));
      assert.match(client.text(), /^HTTP\/1\.1 502 /);
      client.socket.destroy();
    } finally {
      table.delete('bad101.local');
      await upstream.close();
    }
  });

  it('refuses an Upgrade on HTTP/1.0 and an Upgrade request with a body (400)', async () => {
    const old = rawClient(
      proxy,
      'GET / HTTP/1.0\r\nHost: ws.local\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
    );
    await old.ended;
    assert.match(old.text(), /^HTTP\/1\.1 400 .*\r\n\r\n400 Bad Request: an Upgrade request on HTTP\/1\.0\n$/s);
    const body = rawClient(
      proxy,
      'POST / HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 2\r\n\r\nhi',
    );
    await body.ended;
    assert.match(body.text(), /^HTTP\/1\.1 400 .*400 Bad Request: an Upgrade request with a body\n$/s);
    const chunked = rawClient(
      proxy,
      'POST / HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\nConnection: upgrade\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    await chunked.ended;
    assert.match(chunked.text(), /^HTTP\/1\.1 400 .*an Upgrade request with a body\n$/s);
  });

  it('an Upgrade header without Connection: upgrade is a plain request (the header dropped as hop-by-hop)', async () => {
    const seen: string[] = [];
    const upstream = await startTcpServer((socket: Socket) => {
      socket.once('data', (d: Buffer) => {
        seen.push(d.toString('latin1'));
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    try {
      table.update('noconn.local', `server 127.0.0.1:${upstream.port};`);
      const client = rawClient(
        proxy,
        'GET / HTTP/1.1\r\nHost: noconn.local\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n',
      );
      await client.ended;
      assert.match(client.text(), /^HTTP\/1\.1 200 OK\r\n.*\r\n\r\nok$/s);
      assert.doesNotMatch(seen[0]!, /upgrade/i);
    } finally {
      table.delete('noconn.local');
      await upstream.close();
    }
  });
});

describe('dyups proxy: tunnel idle timeout and shutdown', () => {
  let echo: EchoServer;

  before(async () => {
    echo = await startEcho();
    table.update('idle.local', `server 127.0.0.1:${echo.port};`);
  });

  after(async () => {
    table.delete('idle.local');
    await echo.close();
    await pools.drain(500);
  });

  it('closes a tunnel with no byte either way for tunnelTimeout; traffic keeps it open', async () => {
    // room for a busy machine's stalls: a tick every 100 ms against a 1.5 s timeout
    const proxy = await proxyOn(1500);
    try {
      const ws = await openClient(proxy, 'idle.local');
      // a message every 100 ms for three seconds: two timeouts' worth, never idle for one
      for (let i = 0; i < 30; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        ws.send(`keep ${i}`);
        assert.equal((await nextMessage(ws)).data.toString(), `keep ${i}`);
      }
      assert.equal(proxy.tunnels.idleClosed, 0);
      const code = await closed(ws);
      assert.equal(code, 1006);
      assert.equal(proxy.tunnels.idleClosed, 1);
      assert.equal(proxy.tunnels.open, 0);
      await until('the upstream socket closes', () => echo.open() === 0);
    } finally {
      proxy.closeAllConnections();
      await proxy.close();
    }
  });

  it('a client sending while the upstream stays quiet is not idle', async () => {
    const quiet = await startTcpServer((socket: Socket) => {
      socket.once('data', () =>
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: sink\r\nConnection: upgrade\r\n\r\n'),
      );
    });
    const proxy = await proxyOn(1500);
    try {
      table.update('quiet.local', `server 127.0.0.1:${quiet.port};`);
      const client = rawClient(
        proxy,
        'GET / HTTP/1.1\r\nHost: quiet.local\r\nUpgrade: sink\r\nConnection: upgrade\r\n\r\n',
      );
      await until('the 101', () => client.text().includes('\r\n\r\n'));
      let received = 0;
      quiet.sockets[0]!.on('data', (d: Buffer) => (received += d.length));
      for (let i = 0; i < 30; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        client.socket.write('tick;');
      }
      await until('every tick arrives', () => received === 150);
      assert.equal(proxy.tunnels.idleClosed, 0);
      await client.ended; // then quiet on both sides: closed
      assert.equal(proxy.tunnels.idleClosed, 1);
    } finally {
      table.delete('quiet.local');
      proxy.closeAllConnections();
      await proxy.close();
      await quiet.close();
    }
  });

  it('cancelling the coroutines (scheduler.cancelAll) ends open tunnels on both sides', async () => {
    const scheduler = new Scheduler({ name: 'upgrade-cancel' });
    const proxy = await proxyOn(undefined, scheduler);
    try {
      const clients = await Promise.all(Array.from({ length: 3 }, () => openClient(proxy, 'idle.local')));
      assert.equal(echo.open(), 3);
      scheduler.cancelAll();
      await Promise.all(clients.map(closed));
      await until('the upstream sockets close', () => echo.open() === 0);
      assert.equal(proxy.tunnels.open, 0);
      assert.equal(scheduler.stats().live, 0);
    } finally {
      proxy.closeAllConnections();
      await proxy.close();
    }
  });

  it('shutdown: close() waits for open tunnels, closeAllConnections() ends them on both sides', async () => {
    const proxy = await proxyOn();
    const clients = await Promise.all(Array.from({ length: 5 }, () => openClient(proxy, 'idle.local')));
    assert.equal(proxy.tunnels.open, 5);
    let closedAll = false;
    const closing = proxy.close().then(() => (closedAll = true));
    // new connections are refused, the tunnels still carry messages
    clients[0]!.send('still here');
    assert.equal((await nextMessage(clients[0]!)).data.toString(), 'still here');
    assert.equal(closedAll, false);
    proxy.closeAllConnections();
    await Promise.all(clients.map(closed));
    await closing;
    assert.equal(proxy.tunnels.open, 0);
    await until('the upstream sockets close', () => echo.open() === 0);
  });
});
