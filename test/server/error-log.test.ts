import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { startServer } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { deadPort } from '../helpers/tcp-server.js';

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `n` requests, 10 at a time; every status. */
async function load(n: number, one: () => Promise<number>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += 10) statuses.push(...(await Promise.all(Array.from({ length: 10 }, one))));
  return statuses;
}

/**
 * The errors the lines about `target` stand for: 1 per error line plus the counts of the suppressed ones
 * ("(and N more like it ...)" on a line, "N more error(s) for TARGET suppressed" on its own).
 */
function accounted(lines: readonly string[]): number {
  let total = 0;
  for (const line of lines) {
    const alone = /(\d+) more error\(s\) for .* suppressed/.exec(line);
    if (alone !== null) {
      total += Number(alone[1]);
      continue;
    }
    total += 1 + Number(/\(and (\d+) more like it for /.exec(line)?.[1] ?? 0);
  }
  return total;
}

describe('rate-limited error logs', () => {
  it('200 requests during a Redis outage give a few lines naming the Redis target and the counts', async () => {
    const redisPort = await deadPort();
    const server = await startServer(['--redis', `redis://127.0.0.1:${redisPort}`]);
    try {
      const started = performance.now();
      const statuses = await load(200, () => get(server.port, '/test'));
      const seconds = (performance.now() - started) / 1000;
      assert.deepEqual(new Set(statuses), new Set([502]));
      const lines = (): string[] =>
        server
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{') && l.includes(`127.0.0.1:${redisPort}`));
      // the last window's count goes out when the window ends
      assert.ok(await waitFor(() => accounted(lines()) === 200, 10_000), `lines: ${lines().join('\n')}`);
      const all = lines();
      assert.ok(
        all.length <= 2 * Math.ceil(seconds + 1) + 2,
        `${all.length} lines in ${seconds} s:\n${all.join('\n')}`,
      );
      assert.ok(
        all.every((l) => !l.includes('"stack"')),
        'a line carries a stack',
      );
      for (const line of all) {
        const entry = JSON.parse(line) as { target?: string; msg: string };
        assert.equal(entry.target, `127.0.0.1:${redisPort}/0`);
      }
    } finally {
      await server.stop();
    }
  });

  it('200 requests to a dead upstream give a few proxy error lines naming the group and the counts', async () => {
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const server = await startServer(['--admin-port', String(adminPort), '--proxy-port', String(proxyPort)]);
    try {
      const add = await fetch(`http://127.0.0.1:${adminPort}/upstream/dead`, {
        method: 'POST',
        body: `server 127.0.0.1:${await deadPort()};`,
      });
      assert.equal(add.status, 200);
      const started = performance.now();
      const statuses = await load(200, () => get(proxyPort, '/', { host: 'dead' }));
      const seconds = (performance.now() - started) / 1000;
      assert.deepEqual(new Set(statuses), new Set([502]));
      const lines = (): string[] =>
        server
          .output()
          .split('\n')
          .filter((l) => l.includes("upstream 'dead'"));
      assert.ok(await waitFor(() => accounted(lines()) === 200, 10_000), `lines: ${lines().join('\n')}`);
      const all = lines();
      assert.ok(all.length <= Math.ceil(seconds + 1) + 2, `${all.length} lines in ${seconds} s:\n${all.join('\n')}`);
    } finally {
      await server.stop();
    }
  });
});
