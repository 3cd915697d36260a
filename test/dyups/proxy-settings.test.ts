import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Scheduler, pools } from '../../src/index.js';
import { Balancers } from '../../src/dyups/balancer.js';
import { formatDetail, toJson, toNginx } from '../../src/dyups/format.js';
import type { FrontServer } from '../../src/dyups/front/index.js';
import { parseUpstream } from '../../src/dyups/parse.js';
import { buildProxyServer } from '../../src/dyups/proxy.js';
import { StateFileError, loadState } from '../../src/dyups/state-file.js';
import { UpstreamTable } from '../../src/dyups/table.js';
import { deadPort } from '../helpers/tcp-server.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
let proxy: FrontServer;
let proxyPort = 0;
const table = new UpstreamTable({ stateFile: null });
const balancers = new Balancers();
table.onChange((name, group) => balancers.set(group, name));
const logged: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'cosocket-dyups-settings-'));

/** A real upstream server; its port. */
async function upstream(handler: Handler): Promise<number> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as { port: number }).port;
}

/** Echoes what it received: the head as JSON, and its name. */
function echo(name: string): Handler {
  return (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.setHeader('x-secret', 'internal');
      res.setHeader('x-public', 'yes');
      res.end(JSON.stringify({ name, method: req.method, headers: req.headers, body }));
    });
  };
}

interface Answer {
  status: number;
  text: string;
  headers: IncomingMessage['headers'];
}

function send(
  host: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; path?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: proxyPort,
        method: options.method ?? 'GET',
        path: options.path ?? '/p?q=1',
        headers: { host, ...options.headers },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function seen(answer: Answer): { name: string; method: string; headers: Record<string, string>; body: string } {
  assert.equal(answer.status, 200, answer.text);
  return JSON.parse(answer.text) as { name: string; method: string; headers: Record<string, string>; body: string };
}

function ok(result: { status: number; message: string }): void {
  assert.deepEqual(result, { status: 200, message: 'success' });
}

describe('dyups: nginx-faithful proxying and per-group proxy settings', () => {
  before(async () => {
    proxy = buildProxyServer(table, balancers, {
      scheduler: new Scheduler({ name: 'proxy' }),
      connectTimeout: 1_000,
      readTimeout: 60_000,
      bodyLimit: 1024 * 1024,
      errorLog: (line) => logged.push(line),
    });
    await proxy.listen({ host: '127.0.0.1', port: 0 });
    proxyPort = (proxy.address() as { port: number }).port;
  });
  after(async () => {
    await proxy.close();
    await pools.drain(500);
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends the group's name as Host ($proxy_host), or the client's Host as sent with proxy_set_header Host $http_host", async () => {
    const port = await upstream(echo('a'));
    ok(table.update('vhost.local', `server 127.0.0.1:${port};`));
    assert.equal(seen(await send('vhost.local:8080')).headers.host, 'vhost.local');
    ok(table.update('vhost.local', `server 127.0.0.1:${port}; proxy_set_header Host $http_host;`));
    assert.equal(seen(await send('VHost.Local:8080')).headers.host, 'VHost.Local:8080');
  });

  it('sends no Host line, as nginx does, when proxy_set_header Host comes out empty (not the server address)', async () => {
    // an upstream that takes HTTP/1.1 without Host, to show what arrived
    const server = createServer({ requireHostHeader: false }, echo('novhost'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const port = (server.address() as { port: number }).port;
    ok(table.update('novhost.local', `server 127.0.0.1:${port}; proxy_set_header Host $http_x_vhost;`));
    assert.equal(
      seen(await send('novhost.local', { headers: { 'x-vhost': 'site.example' } })).headers.host,
      'site.example',
    );
    const without = seen(await send('novhost.local'));
    assert.ok(!('host' in without.headers), `Host sent: ${String(without.headers.host)}`);
    const upgraded = await send('novhost.local', { headers: { connection: 'upgrade', upgrade: 'websocket' } });
    assert.ok(!('host' in seen(upgraded).headers), 'Host sent with an Upgrade request');
  });

  it('matches group names case-insensitively: POST Mixed.Case, then proxy mixed.case', async () => {
    const port = await upstream(echo('mixed'));
    ok(table.update('Mixed.Case', `server 127.0.0.1:${port};`));
    assert.equal(table.all().filter((g) => g.name.startsWith('mixed')).length, 1);
    assert.equal(seen(await send('mixed.case')).name, 'mixed');
    assert.equal(seen(await send('MIXED.CASE')).name, 'mixed');
    assert.equal(table.get('MiXeD.cAsE')!.name, 'mixed.case');
  });

  it("takes '_' in group names and server host names, as nginx does", async () => {
    const port = await upstream(echo('pool'));
    ok(table.update('backend_pool', `server 127.0.0.1:${port};`));
    assert.equal(seen(await send('backend_pool')).name, 'pool');
    assert.equal(parseUpstream('x', 'server my_backend:8080;').servers[0]!.address, 'my_backend:8080');
  });

  it("takes an 'upstream NAME { ... }' body only for the group NAME, else 400 at NAME's position", () => {
    ok(table.update('wrapped', 'upstream Wrapped { server 127.0.0.1:1; }'));
    const refused = table.update('bad7', 'upstream x {\n  server 127.0.0.1:1;\n}');
    assert.equal(refused.status, 400);
    assert.match(refused.message, /names upstream 'x' but is sent for 'bad7' at 'x' \(line 1, column 10, offset 9\)/);
    assert.equal(table.get('bad7'), undefined);
  });

  it('stops at a state file holding two names that differ only by case, naming both', () => {
    const file = join(dir, 'case.conf');
    writeFileSync(file, 'upstream App.Example.COM {\n  server a:1;\n}\nupstream app.example.com {\n  server b:1;\n}\n');
    assert.throws(
      () => loadState(file),
      (err: unknown) =>
        err instanceof StateFileError &&
        /line 4: upstream 'app\.example\.com' and 'App\.Example\.COM' \(line 1\) differ only by case/.test(err.message),
    );
  });

  it('proxy_next_upstream http_502 tries the next server; without it the 502 is passed on', async () => {
    const failing = await upstream((_req, res) => {
      res.statusCode = 502;
      res.end('upstream says 502');
    });
    const healthy = await upstream(echo('healthy'));
    const servers = `server 127.0.0.1:${failing}; server 127.0.0.1:${healthy};`;
    ok(table.update('status.local', `${servers} proxy_next_upstream error timeout http_502;`));
    for (let i = 0; i < 4; i++) assert.equal(seen(await send('status.local')).name, 'healthy');
    ok(table.update('plain.local', `server 127.0.0.1:${failing} max_fails=0;`));
    const passed = await send('plain.local');
    assert.deepEqual([passed.status, passed.text], [502, 'upstream says 502']);
    // the only server answering 502 with http_502 on: its answer goes out, there is no other
    ok(table.update('alone.local', `server 127.0.0.1:${failing}; proxy_next_upstream http_502;`));
    assert.deepEqual(
      [(await send('alone.local')).status, (await send('alone.local')).text],
      [502, 'upstream says 502'],
    );
  });

  it('proxy_next_upstream off, _tries 1 and non_idempotent decide whether a refused server is followed by the next', async () => {
    const dead = await deadPort();
    const live = await upstream(echo('live'));
    // the dead server first: smooth round robin with equal weights picks the first server first
    const pair = `server 127.0.0.1:${dead} max_fails=0; server 127.0.0.1:${live};`;
    ok(table.update('retry.local', pair));
    assert.equal(seen(await send('retry.local')).name, 'live');
    ok(table.update('off.local', `${pair} proxy_next_upstream off;`));
    assert.equal((await send('off.local')).status, 502);
    ok(table.update('tries.local', `${pair} proxy_next_upstream_tries 1;`));
    assert.equal((await send('tries.local')).status, 502);
    // refused: nothing of the request was sent, so a POST goes to the next server too (as in nginx)
    ok(table.update('post.local', pair));
    const refused = seen(await send('post.local', { method: 'POST', body: 'x' }));
    assert.deepEqual([refused.name, refused.body], ['live', 'x']);
    // a server that takes the request and closes: it was sent, so a POST goes on only with non_idempotent
    // (and without a body: one streamed to the first server is not there to send again)
    const closer = await upstream((req) => req.socket.destroy());
    const sentPair = `server 127.0.0.1:${closer} max_fails=0; server 127.0.0.1:${live};`;
    ok(table.update('post-sent.local', sentPair));
    assert.equal((await send('post-sent.local', { method: 'POST' })).status, 502);
    ok(table.update('post-retry.local', `${sentPair} proxy_next_upstream error timeout non_idempotent;`));
    const retried = seen(await send('post-retry.local', { method: 'POST' }));
    assert.deepEqual([retried.name, retried.method], ['live', 'POST']);
  });

  it("proxy_read_timeout per group cuts a slow server short of the listener's 60 s", async () => {
    const slow = await upstream((_req, res) => {
      const timer = setTimeout(() => res.end('late'), 3_000);
      res.on('close', () => clearTimeout(timer));
    });
    ok(table.update('slow.local', `server 127.0.0.1:${slow}; proxy_read_timeout 200ms;`));
    const answer = await send('slow.local');
    assert.equal(answer.status, 504);
    assert.match(answer.text, /<title>504 Gateway Timeout<\/title>/);
    assert.match(logged.at(-1)!, /upstream 'slow\.local': .*timeout/);
  });

  it('proxy_set_header sets, expands and drops request headers; proxy_hide_header hides response headers', async () => {
    const port = await upstream(echo('h'));
    ok(
      table.update(
        'headers.local',
        `server 127.0.0.1:${port};
         proxy_set_header X-Real-IP $remote_addr;
         proxy_set_header X-Seen "$scheme://$host$request_uri via $proxy_host";
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
         proxy_set_header X-Drop '';
         proxy_set_header X-Copy $http_x_client;
         proxy_hide_header X-Secret;`,
      ),
    );
    const answer = await send('Headers.Local:81', {
      headers: { 'x-drop': 'gone', 'x-client': 'c1', 'x-forwarded-for': '192.0.2.1' },
    });
    const got = seen(answer).headers;
    assert.equal(got['x-real-ip'], '127.0.0.1');
    assert.equal(got['x-seen'], 'http://headers.local/p?q=1 via headers.local');
    assert.equal(got['x-forwarded-for'], '192.0.2.1, 127.0.0.1');
    assert.equal(got['x-drop'], undefined);
    assert.equal(got['x-copy'], 'c1');
    assert.equal(answer.headers['x-secret'], undefined);
    assert.equal(answer.headers['x-public'], 'yes');
  });

  it("$arg_NAME is the argument as sent, as nginx's: never decoded into a line break or a character a header cannot hold", async () => {
    const port = await upstream(echo('a'));
    ok(table.update('args.local', `server 127.0.0.1:${port}; proxy_set_header X-Arg $arg_a;`));
    const arg = async (query: string): Promise<string | undefined> =>
      seen(await send('args.local', { path: `/p?${query}` })).headers['x-arg'];
    assert.equal(await arg('a=plain'), 'plain');
    assert.equal(await arg('a=%0D%0AX-Evil:%201'), '%0D%0AX-Evil:%201');
    assert.equal(await arg('a=%F0%9F%98%80'), '%F0%9F%98%80');
    assert.equal(await arg('b=1&A=upper&a=second'), 'upper', 'the first, its name in any case');
    assert.equal(await arg('a'), undefined, 'an empty value drops the header');
  });

  it('set_real_ip_from + real_ip_header give $remote_addr, X-Forwarded-For and ip_hash the client behind a trusted proxy', async () => {
    const port = await upstream(echo('r'));
    const realIp = (lines: string) =>
      table.update('real.local', `server 127.0.0.1:${port}; proxy_set_header X-Real-IP $remote_addr; ${lines}`);
    ok(realIp('set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;'));
    let got = seen(await send('real.local', { headers: { 'x-forwarded-for': '203.0.113.7' } })).headers;
    assert.equal(got['x-real-ip'], '203.0.113.7');
    // nginx's $proxy_add_x_forwarded_for: what came in, then $remote_addr
    assert.equal(got['x-forwarded-for'], '203.0.113.7, 203.0.113.7');
    // the last address of the list; with real_ip_recursive the last one that is not trusted
    const chain = { 'x-forwarded-for': '198.51.100.1, 10.1.2.3' };
    ok(realIp('set_real_ip_from 127.0.0.0/8; set_real_ip_from 10.0.0.0/8;'));
    assert.equal(seen(await send('real.local', { headers: chain })).headers['x-real-ip'], '10.1.2.3');
    ok(realIp('set_real_ip_from 127.0.0.0/8; set_real_ip_from 10.0.0.0/8; real_ip_recursive on;'));
    assert.equal(seen(await send('real.local', { headers: chain })).headers['x-real-ip'], '198.51.100.1');
    ok(realIp('set_real_ip_from ::1; real_ip_header X-Real-IP;'));
    got = seen(await send('real.local', { headers: { 'x-real-ip': '203.0.113.9' } })).headers;
    assert.equal(got['x-real-ip'], '127.0.0.1', 'a peer outside set_real_ip_from is not believed');

    const ports = [await upstream(echo('s0')), await upstream(echo('s1')), await upstream(echo('s2'))];
    const group = (trust: string) =>
      table.update('sticky.local', `ip_hash; ${ports.map((p) => `server 127.0.0.1:${p};`).join(' ')} ${trust}`);
    const spread = async (): Promise<Set<string>> => {
      const names = new Set<string>();
      for (let i = 0; i < 12; i++)
        names.add(seen(await send('sticky.local', { headers: { 'x-forwarded-for': `198.51.${i}.1` } })).name);
      return names;
    };
    ok(group(''));
    assert.equal((await spread()).size, 1, 'every request comes from 127.0.0.1: one server');
    ok(group('set_real_ip_from 127.0.0.1;'));
    assert.ok((await spread()).size > 1, 'ip_hash on the real client addresses spreads them');
  });

  it('refuses a bad value of every new directive with a 400 naming the directive', () => {
    const cases: Array<[string, RegExp]> = [
      ['proxy_next_upstream sometimes;', /proxy_next_upstream: unknown case .* at 'sometimes'/],
      ['proxy_next_upstream http_500;', /proxy_next_upstream: unknown case/],
      ['proxy_next_upstream off error;', /proxy_next_upstream: 'off' cannot be combined/],
      ['proxy_next_upstream error error;', /proxy_next_upstream: error given twice/],
      ['proxy_next_upstream;', /proxy_next_upstream needs off or some of/],
      ['proxy_next_upstream_tries -1;', /proxy_next_upstream_tries: expected a whole number/],
      ['proxy_next_upstream_tries 1 2;', /proxy_next_upstream_tries takes one number/],
      ['proxy_next_upstream_timeout soon;', /proxy_next_upstream_timeout: expected a time/],
      ['proxy_connect_timeout 0;', /proxy_connect_timeout: expected a time .*more than 0/],
      ['proxy_read_timeout 2d;', /proxy_read_timeout: expected a time .*at most 1d/],
      ['proxy_send_timeout x;', /proxy_send_timeout: expected a time/],
      ['proxy_read_timeout 1s; proxy_read_timeout 2s;', /proxy_read_timeout given twice/],
      ['proxy_set_header X-A;', /proxy_set_header takes a header name and a value/],
      ['proxy_set_header "X A" v;', /proxy_set_header: invalid header name/],
      ['proxy_set_header Content-Length 5;', /proxy_set_header: Content-Length is the proxy's own to set/],
      ['proxy_set_header X-A $nope;', /proxy_set_header: unknown variable \$nope/],
      ['proxy_set_header X-A "a\\nb";', /proxy_set_header: the value has a CR, LF or NUL/],
      ['proxy_set_header X-A 1; proxy_set_header x-a 2;', /proxy_set_header: x-a given twice/],
      ['proxy_set_header X-A "a\x01b";', /proxy_set_header: the value may hold visible ASCII, spaces and tabs only/],
      ['proxy_set_header X-A "café";', /proxy_set_header: the value may hold visible ASCII, spaces and tabs only/],
      ["proxy_set_header Host '';", /proxy_set_header: Host cannot be dropped .*use \$proxy_host/],
      ['proxy_hide_header;', /proxy_hide_header takes one header name/],
      ['proxy_hide_header "a b";', /proxy_hide_header: invalid header name/],
      ['set_real_ip_from 10.0.0.0/33;', /set_real_ip_from: expected a prefix length from 0 to 32/],
      ['set_real_ip_from example.com;', /set_real_ip_from: expected an address or CIDR/],
      ['set_real_ip_from 10.0.0.1; real_ip_header X-Client;', /real_ip_header: expected X-Forwarded-For or X-Real-IP/],
      ['set_real_ip_from 10.0.0.1; real_ip_recursive yes;', /real_ip_recursive: expected on or off/],
      ['real_ip_header X-Real-IP;', /real_ip_header \/ real_ip_recursive need a 'set_real_ip_from' line/],
    ];
    for (const [lines, expected] of cases) {
      const result = table.update('bad-values', `server 127.0.0.1:1; ${lines}`);
      assert.equal(result.status, 400, lines);
      assert.match(result.message, expected, lines);
    }
    assert.equal(table.get('bad-values'), undefined);
  });

  it('round-trips every setting through the state file, /detail and the JSON detail', () => {
    const body = `server 127.0.0.1:1;
      proxy_next_upstream error http_503 non_idempotent;
      proxy_next_upstream_tries 3;
      proxy_next_upstream_timeout 10s;
      proxy_connect_timeout 250ms;
      proxy_read_timeout 1m;
      proxy_send_timeout 5s;
      proxy_set_header Host $http_host;
      proxy_set_header X-Quote 'say "hi" \\\\ there';
      proxy_set_header X-Drop '';
      proxy_hide_header X-Powered-By;
      set_real_ip_from 10.0.0.0/8;
      set_real_ip_from fd00::/8;
      real_ip_header X-Real-IP;
      real_ip_recursive on;`;
    const group = parseUpstream('rt', body);
    assert.deepEqual(group.proxy, {
      nextUpstream: ['error', 'http_503', 'non_idempotent'],
      nextUpstreamTries: 3,
      nextUpstreamTimeout: 10_000,
      connectTimeout: 250,
      readTimeout: 60_000,
      sendTimeout: 5_000,
      setHeaders: [
        ['host', '$http_host'],
        ['x-quote', 'say "hi" \\ there'],
        ['x-drop', ''],
      ],
      hideHeaders: ['x-powered-by'],
      realIpFrom: ['10.0.0.0/8', 'fd00::/8'],
      realIpHeader: 'X-Real-IP',
      realIpRecursive: true,
    });
    assert.deepEqual(parseUpstream('rt', toNginx(group)), group);
    const file = join(dir, 'rt.conf');
    const saved = new UpstreamTable({ stateFile: file });
    ok(saved.update('rt', body));
    assert.deepEqual(loadState(file), [group]);
    const detail = formatDetail([group]);
    assert.match(detail, /^rt\nserver 127\.0\.0\.1:1 .*\nproxy_next_upstream error http_503 non_idempotent;\n/);
    assert.match(detail, /\nreal_ip_recursive on;\n\n$/);
    assert.deepEqual((toJson(group) as { proxy: unknown }).proxy, group.proxy);
    // a group without proxy lines prints as before
    assert.equal(formatDetail([parseUpstream('plain', 'server 127.0.0.1:1;')]).split('\n').length, 4);
  });
});
