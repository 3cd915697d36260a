import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startServer } from '../helpers/cli.js';
import type { RunningServer } from '../helpers/cli.js';
import { deadPort } from '../helpers/tcp-server.js';
import { settle } from './harness.js';

/**
 * Issue 12 against a real `cosocket serve`: balancer state an admin POST (or a state file) can make
 * too big to build. Requests are written over raw sockets, as the attack was; a request that gets no
 * answer within LIMIT counts as unanswered (the limit only bounds a failure, it is not a speed check).
 */

const LIMIT = 30_000;

interface RawAnswer {
  /** 0: no status line (the connection closed or the limit ran out first) */
  status: number;
  raw: string;
}

/** Writes `bytes` on a fresh connection and reads until the server closes it (requests say Connection: close). */
function raw(port: number, bytes: string): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      resolve({ status: match === null ? 0 : Number(match[1]), raw: text });
    };
    const timer = setTimeout(finish, LIMIT);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', finish);
    socket.on('error', () => {});
    socket.write(bytes, 'latin1');
  });
}

function adminPost(port: number, name: string, body: string): Promise<RawAnswer> {
  return raw(
    port,
    `POST /upstream/${name} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function proxied(port: number, group: string, path = '/'): Promise<RawAnswer> {
  return raw(port, `GET ${path} HTTP/1.1\r\nHost: ${group}\r\nConnection: close\r\n\r\n`);
}

async function labelUpstream(label: string): Promise<{ port: number; close(): Promise<void> }> {
  const server: HttpServer = createHttpServer((_req, res) => res.end(label));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Serving {
  srv: RunningServer;
  adminPort: number;
  proxyPort: number;
}

async function serve(stateFile: string): Promise<Serving> {
  const adminPort = await deadPort();
  const proxyPort = await deadPort();
  const srv = await startServer([
    '--admin-port',
    String(adminPort),
    '--proxy-port',
    String(proxyPort),
    '--state-file',
    stateFile,
  ]);
  const up = await settle(
    async () =>
      (await raw(adminPort, `GET /list HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: close\r\n\r\n`)).status,
    (s) => s === 200 || s === 204,
    LIMIT,
  );
  if (!up.ok) {
    const output = srv.output();
    await srv.stop('SIGKILL');
    assert.fail(`the admin port never answered:\n${output}`);
  }
  return { srv, adminPort, proxyPort };
}

async function stop(serving: Serving | undefined): Promise<void> {
  if (serving !== undefined && serving.srv.child.exitCode === null) await serving.srv.stop('SIGKILL');
}

describe('security: balancer state an admin POST cannot blow up (issue 12, finding 2)', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-sec-balancer-'));
  const stateFile = join(dir, 'upstreams.conf');
  let serving: Serving | undefined;
  let control: Awaited<ReturnType<typeof labelUpstream>>;

  before(async () => {
    control = await labelUpstream('control');
    serving = await serve(stateFile);
    assert.equal(
      (await adminPost(serving.adminPort, 'control.local', `server 127.0.0.1:${control.port};`)).status,
      200,
    );
  });

  after(async () => {
    await stop(serving);
    await control?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the 66-byte weight=1000000 POST is a 400 while another listener keeps answering, and a restart still works', async () => {
    const { adminPort, proxyPort } = serving!;
    const attack = 'hash $request_uri consistent; server 127.0.0.1:19102 weight=1000000;';
    const [rejected, meanwhile] = await Promise.all([
      adminPost(adminPort, 'boom', attack),
      proxied(proxyPort, 'control.local'),
    ]);
    assert.equal(rejected.status, 400, `the attack POST: ${rejected.raw.slice(0, 300)}`);
    assert.equal(meanwhile.status, 200, `the proxy listener during the POST: ${meanwhile.raw.slice(0, 300)}`);
    assert.equal(
      (await raw(adminPort, 'GET /upstream/boom HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status,
      404,
      'nothing was applied',
    );

    await stop(serving);
    serving = await serve(stateFile);
    assert.equal(
      (await proxied(serving.proxyPort, 'control.local')).status,
      200,
      'the restarted server serves the persisted groups',
    );
  });

  it('weights above the cap and rings above the point cap are refused before anything is persisted', async () => {
    const { adminPort } = serving!;
    for (const body of [
      'server 127.0.0.1:19102 weight=101;',
      `hash $request_uri consistent; ${Array.from({ length: 26 }, (_, i) => `server 127.0.0.1:${20000 + i} weight=100;`).join(' ')}`,
      `hash $request_uri consistent; ${Array.from({ length: 1_800 }, (_, i) => `server 127.0.0.1:${20000 + i} weight=99;`).join(' ')}`,
    ]) {
      const answer = await adminPost(adminPort, 'too-big', body);
      assert.equal(answer.status, 400, `${body.slice(0, 80)}...: ${answer.raw.slice(0, 300)}`);
    }
    assert.equal(
      (
        await raw(
          adminPort,
          'POST /upstream/control.local/servers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 35\r\nConnection: close\r\n\r\nserver 127.0.0.1:19103 weight=5000;',
        )
      ).status,
      400,
    );
    const patch = '{"weight": 1000000}';
    const patched = await raw(
      adminPort,
      `PATCH /upstream/control.local/servers/127.0.0.1:${control.port} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${patch.length}\r\nConnection: close\r\n\r\n${patch}`,
    );
    assert.equal(patched.status, 400, patched.raw.slice(0, 300));
  });

  it('a group at the cap builds, serves, and another listener answers while it builds', async () => {
    const { adminPort, proxyPort } = serving!;
    // 2,560 weight units: 25 servers of weight 100 and the control server with weight 60
    const servers = Array.from({ length: 25 }, (_, i) => `server 127.0.0.1:${20000 + i} weight=100 down;`);
    const body = `hash $request_uri consistent; ${servers.join(' ')} server 127.0.0.1:${control.port} weight=60;`;
    const [accepted, meanwhile] = await Promise.all([
      adminPost(adminPort, 'at-cap', body),
      proxied(proxyPort, 'control.local'),
    ]);
    assert.equal(accepted.status, 200, accepted.raw.slice(0, 300));
    assert.equal(meanwhile.status, 200, meanwhile.raw.slice(0, 300));
    const through = await proxied(proxyPort, 'at-cap', '/some/uri');
    assert.equal(through.status, 200, through.raw.slice(0, 300));
    assert.match(through.raw, /\r\n\r\ncontrol$/);
  });

  it('a state file holding an over-limit group is refused at start with exit 2, not a crash', async () => {
    const planted = join(dir, 'planted.conf');
    writeFileSync(
      planted,
      'upstream boom {\n    hash $request_uri consistent;\n    server 127.0.0.1:19102 weight=1000000;\n}\n',
    );
    const adminPort = await deadPort();
    const proxyPort = await deadPort();
    const result = await runCli(
      [
        'serve',
        '--port',
        '0',
        '--admin-port',
        String(adminPort),
        '--proxy-port',
        String(proxyPort),
        '--state-file',
        planted,
      ],
      process.env,
      LIMIT,
    );
    assert.equal(result.code, 2, `exit code; output:\n${JSON.stringify(result).slice(0, 500)}`);
  });
});

describe('security: health-check probes are paced globally (issue 12, finding 11)', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cosocket-sec-probes-'));
  let serving: Serving | undefined;

  after(async () => {
    await stop(serving);
    rmSync(dir, { recursive: true, force: true });
  });

  it('1,000 servers with check interval=100 send far fewer than 10,000 probes a second', async () => {
    /** the cap the server paces to (MAX_PROBES_PER_SECOND in src/dyups/health-check.ts) */
    const cap = 200;
    const wanted = 400;
    let probes = 0;
    let reached: () => void = () => {};
    const enough = new Promise<void>((resolve) => (reached = resolve));
    const target = createNetServer((socket) => {
      socket.destroy();
      if (++probes === wanted) reached();
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
    try {
      serving = await serve(join(dir, 'upstreams.conf'));
      const port = (target.address() as { port: number }).port;
      const servers = Array.from({ length: 1_000 }, (_, i) => `server 127.0.0.1:${20000 + i};`).join(' ');
      const started = Date.now();
      const answer = await adminPost(
        serving.adminPort,
        'probed',
        `check interval=100 type=tcp port=${port}; ${servers}`,
      );
      assert.equal(answer.status, 200, answer.raw.slice(0, 300));
      await Promise.race([enough, new Promise((resolve) => setTimeout(resolve, LIMIT))]);
      const seen = probes;
      const seconds = (Date.now() - started) / 1_000;
      assert.ok(seen >= wanted, `only ${seen} probes arrived`);
      // uncapped, the first round alone is 1,000 probes at once and 10,000 a second follow
      assert.ok(seen <= 2 * cap * seconds + 20, `${seen} probes in ${seconds} s: more than twice the cap of ${cap}/s`);
    } finally {
      await new Promise<void>((resolve) => target.close(() => resolve()));
    }
  });
});

describe(
  'security: keepalive pools of addresses no group uses are freed (issue 12, finding 11)',
  { timeout: 120_000 },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosocket-sec-pools-'));
    let serving: Serving | undefined;

    after(async () => {
      await stop(serving);
      rmSync(dir, { recursive: true, force: true });
    });

    it('deleting groups frees their addresses\u2019 pools; an address another group still uses keeps its pool', async () => {
      const server: HttpServer = createHttpServer((_req, res) => res.end('up'));
      await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', () => resolve()));
      const port = (server.address() as { port: number }).port;
      try {
        serving = await serve(join(dir, 'upstreams.conf'));
        const { adminPort, proxyPort } = serving;
        const appPort = serving.srv.port;
        const count = 40;
        const address = (i: number): string => `127.0.0.${10 + i}:${port}`;
        for (let i = 0; i < count; i++)
          assert.equal((await adminPost(adminPort, `g${i}`, `server ${address(i)};`)).status, 200);
        assert.equal((await adminPost(adminPort, 'keep', `server ${address(0)};`)).status, 200);
        for (let i = 0; i < count; i++) assert.equal((await proxied(proxyPort, `g${i}`)).status, 200);
        const upstreamPools = async (): Promise<number> => {
          const answer = await raw(appPort, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
          const body = answer.raw.slice(answer.raw.indexOf('\r\n\r\n') + 4);
          const json = /^[0-9a-f]+\r\n/.test(body)
            ? body
                .replace(/\r\n[0-9a-f]+\r\n/g, '')
                .replace(/^[0-9a-f]+\r\n/, '')
                .replace(/\r\n0\r\n\r\n$/, '')
            : body;
          const parsed = JSON.parse(json) as { pools: Array<{ name: string; addresses?: number }> };
          return parsed.pools.find((p) => p.name === 'dyups')?.addresses ?? 0;
        };
        assert.equal(await upstreamPools(), count, 'one pool per address while the groups exist');

        for (let i = 0; i < count; i++) {
          const answer = await raw(
            adminPort,
            `DELETE /upstream/g${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
          );
          assert.equal(answer.status, 200, answer.raw.slice(0, 200));
        }
        const freed = await settle(upstreamPools, (pools) => pools === 1, LIMIT);
        assert.equal(freed.value, 1, 'only the pool of the address group keep still uses is left');
        assert.equal((await proxied(proxyPort, 'keep')).status, 200);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  },
);
