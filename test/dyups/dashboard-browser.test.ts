import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import { startServer } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { deadPort } from '../helpers/tcp-server.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Skipped only on a machine without Chromium outside CI; CI installs it (.ci/run) and must run this. */
const skip =
  !existsSync(CHROMIUM) && !process.env.CI
    ? `no browser at ${CHROMIUM} (apt-get install chromium to run it; CI always runs it)`
    : false;

/** An upstream that answers with its own name. */
async function startUpstream(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** A GET through the dyups proxy for this Host: the upstream's answer. */
function viaProxy(proxyPort: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path: '/', headers: { host } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The text of the row of one server in one group's table. */
function rowText(page: Page, group: string, address: string): Promise<string> {
  return page.locator(`section[data-group="${group}"] tr[data-address="${address}"]`).innerText();
}

describe('the dashboard in a real browser (headless Chromium)', { skip }, () => {
  it('shows a group added over the API live, drains a server with its button, and logs no error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-dashboard-'));
    const upstreams = await Promise.all([startUpstream('one'), startUpstream('two')]);
    const [adminPort, proxyPort] = [await deadPort(), await deadPort()];
    const server = await startServer(['--admin-port', String(adminPort), '--proxy-port', String(proxyPort)]);
    const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    // no timeouts of playwright's own: the test runner's --test-timeout bounds the test (a busy machine is slow, not wrong)
    context.setDefaultTimeout(0);
    const problems: string[] = [];
    try {
      assert.ok(await waitFor(() => /dyups admin on/.test(server.output()), 20_000), server.output());
      const admin = `http://127.0.0.1:${adminPort}`;
      const page = context.pages()[0] ?? (await context.newPage());
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (err) => problems.push(err.message));
      page.on('requestfailed', (req) => {
        // the event stream is cut when the page closes: not a fault of the page
        if (!req.url().endsWith('/dashboard/events')) problems.push(`${req.url()}: ${req.failure()?.errorText}`);
      });

      await page.goto(`${admin}/dashboard`);
      await page.locator('#connection[data-state="live"]').waitFor();
      assert.equal(await page.locator('#groups').innerText(), 'no upstream groups');

      const [one, two] = upstreams.map((u) => `127.0.0.1:${u.port}`) as [string, string];
      const created = await fetch(`${admin}/upstream/app.local`, {
        method: 'POST',
        body: `server ${one}; server ${two} weight=2;`,
      });
      assert.equal(await created.text(), 'success');
      await page.locator(`section[data-group="app.local"] tr[data-address="${two}"]`).waitFor();
      for (let i = 0; i < 6; i++) assert.match(await viaProxy(proxyPort, 'app.local'), /^200 (one|two)$/);
      // the requests arrive with the next snapshot (each second)
      await page
        .locator(`section[data-group="app.local"] tr[data-address="${two}"] td:nth-child(6)`)
        .filter({ hasText: /^4$/ })
        .waitFor();

      assert.equal(await page.locator('h1').innerText(), 'cosocket dyups');
      assert.equal(await page.locator('section[data-group="app.local"] h3').innerText(), 'app.local round robin');
      assert.deepEqual(await page.locator('section[data-group="app.local"] thead th').allInnerTexts(), [
        'server',
        'weight',
        'state',
        'active',
        'req/s',
        'requests',
        'failures',
        'failures/s',
        '',
      ]);
      assert.match(await rowText(page, 'app.local', one), new RegExp(`^${one}\\s+1\\s+up\\s+0\\s+\\S+\\s+2\\s+0\\s`));
      assert.match(await rowText(page, 'app.local', two), new RegExp(`^${two}\\s+2\\s+up\\s+0\\s+\\S+\\s+4\\s+0\\s`));
      assert.match(await page.locator('#scheduler').innerText(), /live coroutines\s+\d+/);
      assert.match(await page.locator('#pools').innerText(), new RegExp(`dyups:${two}\\s+tcp`));

      await page.getByRole('button', { name: `drain ${one}`, exact: true }).click();
      // the row turns to draining, or the page shows why the admin refused (then the assertion below says so)
      await page.locator(`tr[data-address="${one}"][data-state="draining"], #message[data-error]`).first().waitFor();
      assert.match(await page.locator('#message').innerText(), new RegExp(`app.local ${one}: draining \\(success\\)`));
      assert.equal(await page.getByRole('button', { name: `drain ${one}`, exact: true }).isDisabled(), true);
      const json = (await (await fetch(`${admin}/upstream/app.local?format=json`)).json()) as {
        servers: Array<{ address: string; drain: boolean; down: boolean }>;
      };
      assert.deepEqual(
        json.servers.map((s) => [s.address, s.drain, s.down]),
        [
          [one, true, false],
          [two, false, false],
        ],
      );
      for (let i = 0; i < 3; i++) assert.equal(await viaProxy(proxyPort, 'app.local'), '200 two');

      const shot = join(dir, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 0);
      // by hand, for README: DASHBOARD_SCREENSHOT=docs/dashboard.png node --test dist/test/dyups/dashboard-browser.test.js
      if (process.env.DASHBOARD_SCREENSHOT) copyFileSync(shot, process.env.DASHBOARD_SCREENSHOT);

      await page.getByRole('button', { name: `up ${one}`, exact: true }).click();
      await page.locator(`tr[data-address="${one}"][data-state="up"]`).waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await server.stop();
      for (const u of upstreams) u.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
