import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/dyups/admin.js';
import { formatDetail } from '../../src/dyups/format.js';
import { RedisSync } from '../../src/dyups/redis-sync.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { parseUpstream } from '../../src/dyups/parse.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/net.js';

/** One proxy instance as `serve --dyups-sync` builds it: its own table, its Redis sync, its admin interface. */
interface Instance {
  table: UpstreamTable;
  sync: RedisSync;
  admin: FastifyInstance;
  base: string;
  close(): Promise<void>;
}

async function startInstance(
  url: string,
  prefix: string,
  table = new UpstreamTable({ stateFile: null }),
): Promise<Instance> {
  const sync = new RedisSync(table, { url, prefix });
  await sync.start();
  const admin = await buildAdminApp(table, {
    token: null,
    allowRemote: false,
    change: (change) => sync.change(change),
  });
  await admin.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(admin.server.address() as { port: number }).port}`;
  return {
    table,
    sync,
    admin,
    base,
    close: async () => {
      await admin.close();
      await sync.close();
    },
  };
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${path}`, { method, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, text: await res.text() };
}

const detail = (instance: Instance): string => formatDetail(instance.table.all());

describe('dyups sync across instances through Redis', () => {
  let redis: TestRedis;
  let dir: string;
  before(async () => {
    redis = await startTestRedis();
    dir = mkdtempSync(join(tmpdir(), 'cosocket-dyups-sync-'));
  });
  after(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a change made on one instance is live on the other, with its version', async () => {
    const a = await startInstance(redis.url, 't1');
    const b = await startInstance(redis.url, 't1');
    try {
      assert.deepEqual(
        await call(a.base, 'POST', '/upstream/app', 'server 127.0.0.1:8081; server 127.0.0.1:8082 weight=2;'),
        { status: 200, text: 'success' },
      );
      assert.ok(await waitFor(() => b.table.get('app') !== undefined, 2_000), 'instance b never saw the new upstream');
      assert.equal(detail(b), detail(a));
      assert.equal(b.table.version, a.table.version);
      assert.deepEqual(await call(b.base, 'PATCH', '/upstream/app/servers/127.0.0.1:8081', '{"down": true}'), {
        status: 200,
        text: 'success',
      });
      assert.ok(
        await waitFor(() => a.table.get('app')?.servers[0]?.down === true, 2_000),
        'instance a never saw the change made on b',
      );
      assert.deepEqual(await call(b.base, 'DELETE', '/upstream/app'), { status: 200, text: 'success' });
      assert.ok(await waitFor(() => a.table.get('app') === undefined, 2_000), 'instance a never saw the delete');
      // what Redis holds is what both serve
      assert.deepEqual(await redis.admin.hkeys('t1:groups'), []);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('concurrent changes on two instances end with both holding the same table', async () => {
    const a = await startInstance(redis.url, 't2');
    const b = await startInstance(redis.url, 't2');
    try {
      await call(a.base, 'POST', '/upstream/shared', 'server 10.0.0.1:80;');
      await waitFor(() => b.table.get('shared') !== undefined, 2_000);
      const requests: Array<Promise<{ status: number; text: string }>> = [];
      for (let i = 0; i < 20; i++) {
        requests.push(call(a.base, 'POST', '/upstream/shared/servers', `server 10.0.1.${i}:80;`));
        requests.push(call(b.base, 'POST', '/upstream/shared/servers', `server 10.0.2.${i}:80;`));
      }
      const answers = await Promise.all(requests);
      const accepted = answers.filter((r) => r.status === 200).length;
      assert.ok(accepted >= 20, `only ${accepted} of 40 racing changes were accepted`);
      for (const answer of answers)
        assert.ok(answer.status === 200 || answer.status === 409, `unexpected answer ${answer.status} ${answer.text}`);
      await waitFor(() => a.table.version === b.table.version, 2_000);
      assert.equal(detail(a), detail(b), 'the instances disagree');
      // every accepted add-server is in the table: none was overwritten by a racing change
      assert.equal(a.table.get('shared')!.servers.length, 1 + accepted);
      assert.equal(Number(await redis.admin.get('t2:version')), a.table.version);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a new instance loads the shared table; an empty Redis is seeded from the first instance state file', async () => {
    const stateFile = join(dir, 'seed.conf');
    const seeded = new UpstreamTable({ stateFile }, [parseUpstream('seed', 'server 127.0.0.1:9001;')]);
    const a = await startInstance(redis.url, 't3', seeded);
    const b = await startInstance(redis.url, 't3');
    try {
      assert.equal(b.table.get('seed')?.servers[0]?.address, '127.0.0.1:9001');
      await call(b.base, 'POST', '/upstream/late', 'server 127.0.0.1:9002;');
      assert.ok(await waitFor(() => a.table.get('late') !== undefined, 2_000));
      // a's remote change reached its state file too, so a restart without Redis keeps it
      assert.match(readFileSync(stateFile, 'utf8'), /upstream late \{/);
      const c = await startInstance(
        redis.url,
        't3',
        new UpstreamTable({ stateFile: null }, [parseUpstream('stale', 'server 127.0.0.1:9;')]),
      );
      try {
        assert.deepEqual(
          c.table
            .all()
            .map((g) => g.name)
            .sort(),
          ['late', 'seed'],
          'Redis wins over a local table once it holds one',
        );
      } finally {
        await c.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a bad body is refused before Redis sees it', async () => {
    const a = await startInstance(redis.url, 't4');
    try {
      const bad = await call(a.base, 'POST', '/upstream/app', 'server 127.0.0.1:8081 weight=0;');
      assert.equal(bad.status, 400);
      assert.equal(await redis.admin.get('t4:version'), null);
    } finally {
      await a.close();
    }
  });

  it('with Redis down a change is refused with 503 and changes nothing; after Redis is back instances catch up', async () => {
    const own = await startTestRedis();
    const a = await startInstance(own.url, 't5');
    const b = await startInstance(own.url, 't5');
    const port = own.server.port;
    try {
      await call(a.base, 'POST', '/upstream/app', 'server 127.0.0.1:8081;');
      await waitFor(() => b.table.get('app') !== undefined, 2_000);
      const before = detail(a);
      await own.stop();
      const refused = await call(a.base, 'POST', '/upstream/app', 'server 127.0.0.1:9999;');
      assert.equal(refused.status, 503, refused.text);
      assert.match(refused.text, /Redis/);
      assert.equal(detail(a), before, 'a refused change must leave the live table as it was');
      // Redis comes back empty on the same port (a restart without persistence): the next change works
      const again = await startTestRedisOn(port);
      try {
        const ok = await waitFor(
          async () => (await call(a.base, 'POST', '/upstream/other', 'server 127.0.0.1:7;')).status === 200,
          10_000,
          200,
        );
        assert.ok(ok, 'changes never worked again after Redis came back');
        assert.ok(
          await waitFor(() => b.table.get('other') !== undefined, 5_000),
          'b never caught up after the reconnect',
        );
        // the emptied Redis was seeded again from the live table: nothing configured before was lost
        assert.ok(
          b.table.get('app') !== undefined && a.table.get('app') !== undefined,
          'the restart of Redis lost an upstream',
        );
        assert.equal(detail(a), detail(b));
      } finally {
        await again.stop();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('stops the start when the Redis hash holds two names that differ only by case, naming both', async () => {
    await redis.admin.hset(
      't9:groups',
      'App.Example.COM',
      'server 127.0.0.1:1;',
      'app.example.com',
      'server 127.0.0.1:2;',
    );
    await redis.admin.set('t9:version', '2');
    const sync = new RedisSync(new UpstreamTable({ stateFile: null }), { url: redis.url, prefix: 't9' });
    try {
      await assert.rejects(
        sync.start(),
        /upstreams '(App\.Example\.COM|app\.example\.com)' and '(App\.Example\.COM|app\.example\.com)' differ only by case/,
      );
    } finally {
      await sync.close();
    }
  });
});

async function startTestRedisOn(port: number): Promise<{ stop(): Promise<void> }> {
  const { startEmbeddedRedis } = await import('../../src/server/embedded-redis.js');
  return startEmbeddedRedis({ port });
}
