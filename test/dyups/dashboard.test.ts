import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/dyups/admin.js';
import { Balancers } from '../../src/dyups/balancer.js';
import type { DashboardSnapshot } from '../../src/dyups/dashboard/snapshot.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { Scheduler } from '../../src/runtime/scheduler.js';

/** Reads a Server-Sent Events stream: the next event of a type, parsed. */
class EventReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(type: string): Promise<string | null> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const lines = block.split('\n');
        if (lines.includes(`event: ${type}`))
          return lines
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
        continue;
      }
      const { done, value } = await this.reader.read();
      if (done) return null;
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  async close(): Promise<void> {
    await this.reader.cancel();
  }

  async snapshot(): Promise<DashboardSnapshot> {
    const data = await this.next('snapshot');
    assert.ok(data !== null, 'the stream ended before a snapshot');
    return JSON.parse(data) as DashboardSnapshot;
  }
}

/** The status of a GET sent with this Host header (fetch does not let a test set it). */
function statusWithHost(base: string, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpGet(`${base}${path}`, { headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

async function openEvents(base: string): Promise<{ response: Response; events: EventReader }> {
  const response = await fetch(`${base}/dashboard/events`);
  assert.equal(response.status, 200);
  assert.ok(response.body !== null);
  return { response, events: new EventReader(response.body.getReader()) };
}

describe('dyups dashboard (GET /dashboard, /dashboard/events)', () => {
  const table = new UpstreamTable({ stateFile: null });
  const balancers = new Balancers();
  table.onChange((name, group) => balancers.set(group, name));
  const scheduler = new Scheduler({ name: 'the app' });
  let app: FastifyInstance;
  let base = '';

  before(async () => {
    app = await buildAdminApp(table, {
      token: null,
      allowRemote: false,
      health: (name) => balancers.health(name),
      status: () => ({ scheduler: scheduler.stats(), pools: [] }),
      // only a change can bring a second snapshot within a test
      dashboardInterval: 3_600_000,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await app.close();
  });

  it('serves the page, its script and its style with headers that keep other pages out', async () => {
    const page = await fetch(`${base}/dashboard`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/dashboard\/dashboard\.js"><\/script>/);
    const script = await fetch(`${base}/dashboard/dashboard.js`);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(await script.text(), /new EventSource\('\/dashboard\/events'\)/);
    const style = await fetch(`${base}/dashboard/dashboard.css`);
    assert.equal(style.headers.get('content-type'), 'text/css; charset=utf-8');
  });

  it("refuses what the admin refuses: another site's Origin, a Host that does not name the listener", async () => {
    for (const path of ['/dashboard', '/dashboard/events', '/dashboard/dashboard.js']) {
      const foreign = await fetch(`${base}${path}`, { headers: { origin: 'http://example.com' } });
      assert.equal(foreign.status, 403, path);
      assert.match(await foreign.text(), /Origin 'http:\/\/example\.com' is not this listener's own/);
      const crossSite = await fetch(`${base}${path}`, { headers: { 'sec-fetch-site': 'cross-site' } });
      assert.equal(crossSite.status, 403, path);
      await crossSite.text();
      assert.equal(await statusWithHost(base, path, 'attacker.example'), 421, path);
    }
  });

  it('answers 401 without the token when the admin has one', async () => {
    const secured = await buildAdminApp(new UpstreamTable({ stateFile: null }), {
      token: 's3cret',
      allowRemote: false,
    });
    await secured.listen({ host: '127.0.0.1', port: 0 });
    try {
      const url = `http://127.0.0.1:${(secured.server.address() as { port: number }).port}/dashboard/events`;
      const refused = await fetch(url);
      assert.equal(refused.status, 401);
      await refused.text();
      const allowed = await fetch(url, { headers: { authorization: 'Bearer s3cret' } });
      assert.equal(allowed.status, 200);
      await allowed.body?.cancel();
    } finally {
      await secured.close();
    }
  });

  it('signs a browser in with /dashboard?token= once: a cookie that stands for the token, same-site only', async () => {
    const secured = await buildAdminApp(new UpstreamTable({ stateFile: null }), {
      token: 's3cret',
      allowRemote: false,
    });
    await secured.listen({ host: '127.0.0.1', port: 0 });
    try {
      const at = `http://127.0.0.1:${(secured.server.address() as { port: number }).port}`;
      const wrong = await fetch(`${at}/dashboard?token=guess`, { redirect: 'manual' });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers.get('set-cookie'), null);
      await wrong.text();
      const signIn = await fetch(`${at}/dashboard?token=s3cret`, { redirect: 'manual' });
      assert.equal(signIn.status, 303);
      assert.equal(signIn.headers.get('location'), '/dashboard');
      const setCookie = signIn.headers.get('set-cookie') ?? '';
      assert.match(setCookie, /^cosocket_admin=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
      assert.ok(!setCookie.includes('s3cret'), 'the cookie is not the token');
      await signIn.text();
      const cookie = setCookie.split(';')[0]!;
      // with the cookie: the page, its events and the admin API the buttons call
      const page = await fetch(`${at}/dashboard`, { headers: { cookie } });
      assert.equal(page.status, 200);
      await page.text();
      const events = await fetch(`${at}/dashboard/events`, { headers: { cookie } });
      assert.equal(events.status, 200);
      await events.body?.cancel();
      const added = await fetch(`${at}/upstream/app.local`, {
        method: 'POST',
        body: 'server 127.0.0.1:1;',
        headers: { cookie },
      });
      assert.equal(await added.text(), 'success');
      // the cookie does not get past the Origin check, and one made for another token is refused
      const foreign = await fetch(`${at}/upstream/app.local`, {
        method: 'DELETE',
        headers: { cookie, origin: 'http://example.com' },
      });
      assert.equal(foreign.status, 403);
      await foreign.text();
      const forged = await fetch(`${at}/dashboard/events`, { headers: { cookie: 'cosocket_admin=s3cret' } });
      assert.equal(forged.status, 401);
      await forged.text();
    } finally {
      await secured.close();
    }
  });

  it('streams a snapshot at once, and another on each change of the table', async () => {
    const { response, events } = await openEvents(base);
    try {
      assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const first = await events.snapshot();
      assert.deepEqual(first.groups, []);
      assert.equal(first.status?.scheduler.name, 'the app');
      assert.deepEqual(first.status?.pools, []);

      const created = await fetch(`${base}/upstream/api`, {
        method: 'POST',
        body: 'server 127.0.0.1:1; server 127.0.0.1:2 backup;',
      });
      assert.equal(await created.text(), 'success');
      const second = await events.snapshot();
      assert.equal(second.version, first.version + 1);
      assert.deepEqual(second.groups, [
        {
          name: 'api',
          balancer: 'round_robin',
          servers: [
            {
              address: '127.0.0.1:1',
              weight: 1,
              backup: false,
              down: false,
              drain: false,
              health: {
                available: true,
                active: 0,
                requests: 0,
                failures: 0,
                fails: 0,
                check: null,
                openTunnels: 0,
                tunnels: 0,
              },
            },
            {
              address: '127.0.0.1:2',
              weight: 1,
              backup: true,
              down: false,
              drain: false,
              health: {
                available: true,
                active: 0,
                requests: 0,
                failures: 0,
                fails: 0,
                check: null,
                openTunnels: 0,
                tunnels: 0,
              },
            },
          ],
        },
      ]);

      const drained = await fetch(`${base}/upstream/api/servers/127.0.0.1:1`, {
        method: 'PATCH',
        body: '{"drain": true}',
      });
      assert.equal(await drained.text(), 'success');
      const third = await events.snapshot();
      assert.equal(third.groups[0]!.servers[0]!.drain, true);
      assert.equal(third.groups[0]!.servers[0]!.health?.available, false);
    } finally {
      await events.close();
      assert.equal(await (await fetch(`${base}/upstream/api`, { method: 'DELETE' })).text(), 'success');
    }
  });

  it('ends its streams when the admin closes, so closing does not wait for the browser to leave', async () => {
    const own = await buildAdminApp(new UpstreamTable({ stateFile: null }), {
      token: null,
      allowRemote: false,
      dashboardInterval: 3_600_000,
    });
    await own.listen({ host: '127.0.0.1', port: 0 });
    const { events } = await openEvents(`http://127.0.0.1:${(own.server.address() as { port: number }).port}`);
    const first = await events.snapshot();
    assert.equal(first.status, null, 'no status source: none shown');
    await own.close();
    assert.equal(await events.next('snapshot'), null, 'the stream ended');
  });
});
