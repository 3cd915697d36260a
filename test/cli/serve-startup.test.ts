import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SERVER_SCHEMA } from '../../src/config/server-config.js';
import { fieldsOf } from '../../src/config/schema.js';
import { BIN, runCli, startServer } from '../helpers/cli.js';
import { runProcess } from '../helpers/process.js';
import { makeTestPki } from '../helpers/tls-certs.js';
import type { TestPki } from '../helpers/tls-certs.js';

const NO_REDIS = ['--redis', 'redis://127.0.0.1:1'];

/** A listener on 127.0.0.1 holding a port, so `serve` cannot have it. */
function holdPort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.includes("could not set key 'test'"));
}

describe('cosocket serve: start-up failures stop it at once, naming the setting', () => {
  let dir: string;
  let held: { server: Server; port: number };
  let pki: TestPki;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cosocket-startup-'));
    held = await holdPort();
    pki = makeTestPki();
  });

  after(() => {
    held.server.close();
    pki.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  for (const [what, args, pattern] of [
    [
      '--port with --workers 2',
      () => ['--port', String(held.port), '--workers', '2'],
      /^cosocket serve: --port: cannot listen on 127\.0\.0\.1:\d+ for the app listener \(http\): EADDRINUSE/,
    ],
    [
      '--proxy-port',
      () => ['--port', '0', '--admin-port', '0', '--proxy-port', String(held.port)],
      /^cosocket serve: --proxy-port: cannot listen on 127\.0\.0\.1:\d+ for the dyups proxy \(http\): EADDRINUSE/,
    ],
    [
      '--admin-port',
      () => ['--port', '0', '--admin-port', String(held.port)],
      /^cosocket serve: --admin-port: cannot listen on 127\.0\.0\.1:\d+ for the dyups admin interface \(http\): EADDRINUSE/,
    ],
    [
      '--proxy-port with --workers 2',
      () => ['--port', '0', '--workers', '2', '--proxy-port', String(held.port)],
      /^cosocket serve: --proxy-port: cannot listen on 127\.0\.0\.1:\d+ for the dyups proxy \(http\): EADDRINUSE/,
    ],
  ] as const) {
    it(`a taken ${what}: one line naming the flag, exit 2, nothing left running`, async () => {
      const result = await runCli(['serve', ...args(), ...NO_REDIS]);
      assert.equal(result.code, 2, result.stderr);
      assert.deepEqual(lines(result.stderr).length, 1, result.stderr);
      assert.match(result.stderr, pattern);
      assert.equal(result.stdout, '', 'a listener was announced');
    });
  }

  it('names the config key when the port came from the config file, and says https for a TLS listener', async () => {
    const pair = pki.issue(['localhost']);
    const config = file(
      'proxy-taken.json',
      JSON.stringify({ dyups: { proxyPort: held.port }, tls: { proxy: { cert: pair.certFile, key: pair.keyFile } } }),
    );
    const result = await runCli(['serve', '--port', '0', '--config', config, ...NO_REDIS]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^cosocket serve: config file .*proxy-taken\.json: 'dyups\.proxyPort': cannot listen on 127\.0\.0\.1:\d+ for the dyups proxy \(https\): EADDRINUSE/,
    );
  });

  it('refuses --proxy-port equal to --admin-port at once, naming both', async () => {
    const result = await runCli(['serve', '--admin-port', '18099', '--proxy-port', '18099', ...NO_REDIS]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^cosocket serve: --admin-port and --proxy-port are both 18099: each listener needs a port of its own\n$/,
    );
  });

  it('with --workers, a worker that cannot listen makes the primary exit 2 without starting another', async () => {
    // the primary checks port 0; a preload gives its workers the taken port in the setup it hands them
    const preload = file(
      'worker-port.mjs',
      `import cluster from 'node:cluster';\nconst key = 'COSOCKET_WORKER_SETUP';\n` +
        `if (cluster.isWorker && process.env[key]) {\n  const setup = JSON.parse(process.env[key]);\n` +
        `  setup.config = { ...setup.config, port: ${held.port} };\n  process.env[key] = JSON.stringify(setup);\n}\n`,
    );
    const env = { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` };
    const result = await runCli(['serve', '--port', '0', '--workers', '2', ...NO_REDIS], env, 60_000);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--port: cannot listen on 127\.0\.0\.1:\d+ for the app listener \(http\): EADDRINUSE/);
    assert.match(result.stderr, /cosocket: worker \d+ could not start \(exit 2\); stopping/);
    assert.doesNotMatch(result.stderr, /starting another/);
  });

  it('checks the --state-file directory at start, naming the flag and the path', async () => {
    const missing = await runCli([
      'serve',
      '--admin-port',
      '0',
      '--state-file',
      '/nonexistent/dir/x.conf',
      ...NO_REDIS,
    ]);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /^cosocket serve: --state-file needs a dyups listener: set --admin-port or --proxy-port/,
    );
    const free = await holdPort();
    free.server.close();
    const result = await runCli([
      'serve',
      '--port',
      '0',
      '--admin-port',
      String(free.port),
      '--state-file',
      '/nonexistent/dir/x.conf',
      ...NO_REDIS,
    ]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^cosocket serve: --state-file: '\/nonexistent\/dir\/x\.conf': its directory \/nonexistent\/dir must exist and be writable \(ENOENT\)\n$/,
    );
    const notDir = file('plain-file', 'x');
    const inFile = await runCli([
      'serve',
      '--port',
      '0',
      '--proxy-port',
      String(free.port),
      '--state-file',
      join(notDir, 'x.conf'),
      ...NO_REDIS,
    ]);
    assert.equal(inFile.code, 2);
    assert.match(inFile.stderr, /^cosocket serve: --state-file: .*plain-file is not a directory\n$/);
  });

  it("refuses an invalid --host at once (it used to hang), and one that is not this machine's", async () => {
    const env = { ...process.env };
    delete env.REDIS_URL;
    const invalid = await runCli(['serve', '--host', 'a%20b', '--port', '0'], env);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /^cosocket serve: --host must be a host name or IP address, got 'a%20b'\n$/);
    const unknown = await runCli(['serve', '--host', 'no-such-host.invalid', '--port', '0'], env);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /^cosocket serve: --host: cannot listen on no-such-host\.invalid:0 for the app listener/,
    );
  });

  it('names environment variables as variables: REDIS_URL=foo', async () => {
    const result = await runCli(['serve'], { ...process.env, REDIS_URL: 'foo' });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^cosocket serve: REDIS_URL must be a URL like redis:\/\/127\.0\.0\.1:6379, got 'foo'\n$/,
    );
    assert.doesNotMatch(result.stderr, /--redis/);
  });
});

describe('cosocket serve: config files', () => {
  let dir: string;

  before(() => (dir = mkdtempSync(join(tmpdir(), 'cosocket-config-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Every setting whose default is a number, set to it: as a JSON number, or as a string of its digits. */
  function numericSettings(asText: boolean): Record<string, unknown> {
    const root: Record<string, unknown> = {};
    const numeric = fieldsOf(SERVER_SCHEMA).filter(({ field }) => typeof field.defaultValue === 'number');
    assert.ok(numeric.length > 20, `only ${numeric.length} numeric settings found`);
    for (const { path, field } of numeric) {
      const keys = path.split('.');
      let section = root;
      for (const key of keys.slice(0, -1)) section = (section[key] ??= {}) as Record<string, unknown>;
      // ports 0 (any free one) and 2 workers, so the check can bind them
      const value = keys[keys.length - 1]!.endsWith('ort') ? 0 : path === 'workers' ? 2 : field.defaultValue;
      section[keys[keys.length - 1]!] = asText ? String(value) : value;
    }
    return root;
  }

  for (const asText of [false, true]) {
    it(`takes every numeric setting ${asText ? 'as a string of digits' : 'as a JSON number'}`, async () => {
      const config = join(dir, `numbers-${String(asText)}.json`);
      writeFileSync(config, JSON.stringify(numericSettings(asText)));
      const result = await runCli(['serve', '--test', '--config', config]);
      assert.equal(result.stderr, '');
      assert.equal(result.code, 0);
      assert.match(result.stdout, /configuration ok/);
    });
  }

  it('starts with {"workers": 3} from a config file', async () => {
    const config = join(dir, 'workers.json');
    writeFileSync(config, JSON.stringify({ workers: 3 }));
    const server = await startServer(['--config', config, ...NO_REDIS]);
    try {
      assert.match(server.banner, /with 3 workers/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('loads a .ts config (types, export default) with no typescript package to be found', async () => {
    const held = await holdPort();
    try {
      const config = join(dir, 'server.ts');
      writeFileSync(
        config,
        [
          "import type { ServerConfig } from 'cosocket';",
          'interface Ports { port: number }',
          `const ports: Ports = { port: ${held.port} as number };`,
          'const settings: Partial<Record<keyof ServerConfig, unknown>> & Ports = { ...ports, workers: 1 };',
          'export default settings;',
          '',
        ].join('\n'),
      );
      // a resolve hook makes every import of `typescript` fail, as when it is not installed
      const hooks = join(dir, 'no-typescript.mjs');
      writeFileSync(
        hooks,
        `export async function resolve(specifier, context, next) {
  if (specifier === 'typescript' || specifier.startsWith('typescript/'))
    throw Object.assign(new Error("Cannot find package 'typescript'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}\n`,
      );
      const register = join(dir, 'register.mjs');
      writeFileSync(
        register,
        `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
      );
      const run = (file: string) =>
        runProcess(process.execPath, [
          '--import',
          pathToFileURL(register).href,
          BIN,
          'serve',
          '--test',
          '--config',
          file,
        ]);
      const blocked = await runProcess(process.execPath, [
        '--import',
        pathToFileURL(register).href,
        '--input-type=module',
        '-e',
        "await import('typescript')",
      ]);
      assert.notEqual(blocked.code, 0, 'the hook did not hide typescript');
      const taken = await run(config);
      assert.equal(taken.code, 2, taken.stderr);
      assert.match(
        taken.stderr,
        /^cosocket serve: config file .*server\.ts: 'port': cannot listen on 127\.0\.0\.1:\d+ for the app listener/,
      );
      const good = join(dir, 'good.ts');
      writeFileSync(good, 'const port: number = 0;\nexport default { port, logLevel: "warn" as const };\n');
      const ok = await run(good);
      assert.equal(ok.stderr, '');
      assert.equal(ok.code, 0);
      const broken = join(dir, 'broken.ts');
      writeFileSync(broken, 'export default { port: 0 as };\n');
      const bad = await run(broken);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^cosocket serve: config file .*broken\.ts: not valid TypeScript/);
    } finally {
      held.server.close();
    }
  });
});

describe('cosocket serve --test (nginx -t)', () => {
  let dir: string;
  let pki: TestPki;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cosocket-test-flag-'));
    pki = makeTestPki();
  });
  after(() => {
    pki.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('checks a good configuration and starts nothing: no redis-server needed, the ports left free', async () => {
    const held = await holdPort();
    held.server.close();
    const admin = await holdPort();
    admin.server.close();
    const pair = pki.issue(['localhost']);
    mkdirSync(join(dir, 'send'));
    const config = join(dir, 'good.json');
    writeFileSync(
      config,
      JSON.stringify({
        port: held.port,
        send: { root: join(dir, 'send') },
        dyups: { adminPort: admin.port, stateFile: join(dir, 'state.conf') },
        tls: { app: { cert: pair.certFile, key: pair.keyFile } },
      }),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: '/nonexistent' };
    delete env.REDIS_URL;
    const result = await runCli(['serve', '--test', '--config', config], env);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `cosocket serve: the configuration file ${config}: configuration ok\n`);
    assert.equal(existsSync(join(dir, 'state.conf')), false, 'the check wrote the state file');
    // the check bound the port and let it go
    const reuse = createServer();
    await new Promise<void>((resolve, reject) => {
      reuse.once('error', reject);
      reuse.listen(held.port, '127.0.0.1', () => resolve());
    });
    reuse.close();
  });

  it('reports each problem with the setting, then "test failed", exit 2', async () => {
    const held = await holdPort();
    try {
      const one = pki.issue(['localhost']);
      const other = pki.issue(['other.test']);
      const mismatched = await runCli(['serve', '--test', '--tls-cert', one.certFile, '--tls-key', other.keyFile]);
      assert.equal(mismatched.code, 2);
      assert.match(
        mismatched.stderr,
        /^cosocket serve: 'tls\.app\.key' does not match the certificate of 'tls\.app\.cert'/,
      );
      const result = await runCli(['serve', '--test', '--port', String(held.port)]);
      assert.equal(result.code, 2);
      assert.deepEqual(lines(result.stderr), [
        `cosocket serve: --port: cannot listen on 127.0.0.1:${held.port} for the app listener (http): EADDRINUSE (the port is in use)`,
        'cosocket serve: the configuration (no config file): test failed',
      ]);
      assert.equal(result.stdout, '');
    } finally {
      held.server.close();
    }
  });
});

describe('cosocket serve: the embedded Redis after a kill -9', () => {
  it("removes the directory a killed server's redis-server left, at the next start", async () => {
    const temp = mkdtempSync(join(tmpdir(), 'cosocket-tmpdir-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: temp };
      delete env.REDIS_URL;
      const first = await startServer([], env);
      let left: string[];
      try {
        left = readdirSync(temp).filter((name) => name.startsWith('cosocket-redis-'));
        assert.equal(left.length, 1, `redis directories: ${left.join(', ')}`);
        assert.match(left[0]!, new RegExp(`^cosocket-redis-${first.child.pid}-`));
      } finally {
        await first.stop('SIGKILL');
      }
      assert.ok(existsSync(join(temp, left[0]!)), 'the directory was removed by the kill itself');
      const second = await startServer([], env);
      try {
        assert.equal(existsSync(join(temp, left[0]!)), false, 'the stale directory is still there');
        const now = readdirSync(temp).filter((name) => name.startsWith('cosocket-redis-'));
        assert.equal(now.length, 1);
        assert.match(now[0]!, new RegExp(`^cosocket-redis-${second.child.pid}-`));
      } finally {
        assert.equal(await second.stop(), 0, second.output());
      }
      assert.deepEqual(
        readdirSync(temp).filter((name) => name.startsWith('cosocket-redis-')),
        [],
        'a clean stop leaves no directory',
      );
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });
});

describe('cosocket serve --workers: respawn', () => {
  it('starts another worker, after a backoff, for one that crashed after it was up', async () => {
    const server = await startServer(['--workers', '2', ...NO_REDIS]);
    try {
      const children = (): number[] => childrenOf(server.child.pid!);
      const before = children();
      assert.equal(before.length, 2, `workers: ${before.join(', ')}`);
      process.kill(before[0]!, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      while (!/starting another in 500 ms/.test(server.output()) || children().length < 2) {
        assert.ok(Date.now() < deadline, `no new worker; output:\n${server.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const after = children();
      assert.ok(!after.includes(before[0]!));
      const status = await fetch(`http://127.0.0.1:${server.port}/status`);
      assert.equal(status.status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

/** The pids of a process's children (Linux /proc). */
function childrenOf(pid: number): number[] {
  const dir = `/proc/${pid}/task`;
  const pids: number[] = [];
  for (const task of readdirSync(dir)) {
    try {
      const text = readFileSync(join(dir, task, 'children'), 'utf8');
      for (const child of text.split(/\s+/).filter(Boolean)) pids.push(Number(child));
    } catch {
      // the task ended
    }
  }
  return pids;
}
