import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../../src/config/server-config.js';
import { startDyups } from '../../src/dyups/listeners.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { waitFor } from '../helpers/net.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { deadPort } from '../helpers/tcp-server.js';

/** Open handles of this process by kind (TCPSocketWrap, TCPServerWrap, Timeout, ...). */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function listen(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })),
  );
}

function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

describe('dyups background work in one scope', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-dyups-background-'));
  let redis: TestRedis;
  let healthy: { server: Server; port: number };
  let silent: { server: Server; port: number };
  const silentSockets = new Set<Socket>();

  before(async () => {
    redis = await startTestRedis();
    healthy = await listen((socket) => socket.on('error', () => {}));
    // reads and never answers: an http probe of it is still in flight when dyups closes
    silent = await listen((socket) => {
      silentSockets.add(socket);
      socket.resume(); // reading, it sees the prober hang up
      socket.on('error', () => {});
      socket.on('close', () => silentSockets.delete(socket));
    });
  });

  after(async () => {
    for (const socket of silentSockets) socket.destroy();
    healthy.server.close();
    silent.server.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('close() stops the health checks (a probe in flight too), the Redis sync and the claim: nothing is left', async () => {
    const state = join(dir, 'state.conf');
    const adminPort = await deadPort();
    const config = await resolveConfig({
      env: {},
      flags: new Map([
        ['admin-port', String(adminPort)],
        ['proxy-port', String(await deadPort())],
        ['state-file', state],
        ['dyups-sync', redis.url],
      ]),
    });
    const redisClientsBefore = await redis.clients();
    const handlesBefore = handles();

    const dyups = (await startDyups(config, new Scheduler({ name: 'http' }), 'single'))!;
    let closed = false;
    try {
      const admin = `http://127.0.0.1:${adminPort}`;
      const post = async (name: string, body: string): Promise<string> =>
        (await fetch(`${admin}/upstream/${name}`, { method: 'POST', body })).text();
      assert.equal(
        await post('app.local', `server 127.0.0.1:${healthy.port}; check interval=100ms rise=1 fall=1 type=tcp;`),
        'success',
      );
      assert.equal(
        await post('slow.local', `server 127.0.0.1:${silent.port}; check interval=100ms timeout=60s type=http;`),
        'success',
      );
      const checkOf = (name: string, port: number): string | null | undefined =>
        dyups.health(name).get(`127.0.0.1:${port}`)?.check;
      assert.ok(await waitFor(() => checkOf('app.local', healthy.port) === 'up', 5_000), 'the check never ran');
      assert.ok(await waitFor(async () => (await connections(silent.server)) === 1, 5_000), 'no probe in flight');
      const background = dyups.background;
      assert.equal(background.size, 2, 'one coroutine per checked server');
      assert.equal(background.scheduler.stats().live, 2);
      assert.ok((await redis.clients()) > redisClientsBefore, 'the Redis sync is connected');
      assert.ok(existsSync(join(dir, '.state.conf.lock')), 'the state file is claimed');

      closed = true;
      await dyups.close();

      assert.equal(background.closed, true);
      assert.equal(background.size, 0);
      const stats = background.scheduler.stats();
      assert.equal(stats.live, 0, 'a background coroutine is still running');
      assert.equal(stats.cancelled, 2, 'both health checks were cancelled');
      assert.equal(stats.failed, 0);
      assert.ok(
        await waitFor(async () => (await connections(silent.server)) === 0, 2_000),
        'the probe in flight kept its socket',
      );
      assert.ok(
        await waitFor(async () => (await redis.clients()) === redisClientsBefore, 2_000),
        'the Redis sync is still connected',
      );
      assert.equal(existsSync(join(dir, '.state.conf.lock')), false, 'the state file is still claimed');
      const settled = await waitFor(() => {
        const now = handles();
        return Object.keys({ ...now, ...handlesBefore }).every(
          (kind) => (now[kind] ?? 0) <= (handlesBefore[kind] ?? 0),
        );
      }, 2_000);
      assert.ok(settled, `handles left open: ${JSON.stringify(handles())} (before: ${JSON.stringify(handlesBefore)})`);
    } finally {
      if (!closed) await dyups.close();
    }
  });

  it('a start that fails half-way releases what it had acquired', async () => {
    const state = join(dir, 'second.conf');
    const busy = await listen(() => {});
    try {
      const config = await resolveConfig({
        env: {},
        flags: new Map([
          ['admin-port', String(await deadPort())],
          ['proxy-port', String(busy.port)], // taken: the start fails after the admin listener and the sync
          ['state-file', state],
          ['dyups-sync', redis.url],
        ]),
      });
      const redisClientsBefore = await redis.clients();
      await assert.rejects(startDyups(config, new Scheduler({ name: 'http' }), 'single'), /EADDRINUSE/);
      assert.equal(existsSync(join(dir, '.second.conf.lock')), false, 'the state file is still claimed');
      assert.ok(
        await waitFor(async () => (await redis.clients()) === redisClientsBefore, 2_000),
        'the Redis sync is still connected',
      );
    } finally {
      busy.server.close();
    }
  });
});
