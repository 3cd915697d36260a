import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canConnect } from '../helpers/net.js';
import { runCli, startServer } from '../helpers/cli.js';

interface StatusJson {
  version: string;
  scheduler: { live: number; queued: number; completed: number; limits: { concurrency: number } };
  redis: { url: string; embedded: boolean; version?: string };
}

describe('cosocket serve', () => {
  it('starts with an embedded Redis, says where it listens, answers /status, and stops both on SIGTERM', async () => {
    const server = await startServer();
    const redisPort = Number(/redis:\/\/127\.0\.0\.1:(\d+)/.exec(server.banner)?.[1]);
    assert.match(server.banner, /listening on http:\/\/127\.0\.0\.1:\d+ \(redis: embedded redis-server/);
    const response = await fetch(`http://127.0.0.1:${server.port}/status`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    const body = (await response.json()) as StatusJson;
    assert.equal(body.scheduler.limits.concurrency, 10_000);
    assert.equal(typeof body.scheduler.live, 'number');
    assert.equal(body.redis.embedded, true);
    assert.equal(body.redis.url, `redis://127.0.0.1:${redisPort}`);
    assert.equal(await canConnect(redisPort), true);
    assert.equal(await server.stop('SIGTERM'), 0);
    assert.equal(await canConnect(redisPort), false, 'embedded redis-server still running after shutdown');
  });

  it('uses --redis when given, and redacts its password in /status', async () => {
    const server = await startServer(['--redis', 'redis://user:secret@127.0.0.1:1']);
    try {
      const body = (await (await fetch(`http://127.0.0.1:${server.port}/status`)).json()) as StatusJson;
      assert.equal(body.redis.embedded, false);
      assert.equal(body.redis.url, 'redis://user:***@127.0.0.1:1');
      assert.doesNotMatch(server.output(), /secret/);
    } finally {
      await server.stop();
    }
  });

  for (const [args, pattern] of [
    [['--prot', '1'], /^cosocket serve: unknown flag --prot \(see cosocket serve --help\)\n$/],
    [['--port', '70000'], /^cosocket serve: --port must be a whole number from 0 to 65535, got "70000"\n$/],
    [['--workers', 'x'], /^cosocket serve: --workers must be 'auto' or a whole number from 1 to 256/],
    [['--config', '/nonexistent.json'], /^cosocket serve: config file \/nonexistent\.json: cannot read it \(ENOENT\)/],
    [['--port'], /^cosocket serve: flag --port needs a value \(PORT\)/],
    [['--redis', 'http://x'], /^cosocket serve: --redis must use redis:\/\/, rediss:\/\/ or unix:\/\//],
    [['--log-level', 'loud'], /^cosocket serve: --log-level must be one of fatal, error/],
    [['--host', 'a b'], /^cosocket serve: --host must be a host name or IP address/],
    [['stray'], /^cosocket serve: unexpected argument 'stray'/],
  ] as const) {
    it(`refuses ${args.join(' ')} with one line naming it, exit 2`, async () => {
      const result = await runCli(['serve', ...args]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split('\n').length, 1);
    });
  }

  it('names REDIS_URL, not --redis, when the environment gives a bad URL; a flag wins over it', async () => {
    const result = await runCli(['serve'], { ...process.env, REDIS_URL: 'http://x' });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^cosocket serve: REDIS_URL must use redis:\/\/, rediss:\/\/ or unix:\/\/, got 'http:\/\/x'\n$/,
    );
    const flagged = await runCli(['serve', '--redis', 'http://y'], {
      ...process.env,
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    assert.match(flagged.stderr, /^cosocket serve: --redis must use redis:\/\//);
  });

  it('exits 2 with one clear line when redis-server is not on PATH and no Redis is given', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: '/nonexistent' };
    delete env.REDIS_URL;
    const result = await runCli(['serve', '--port', '0'], env);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^cosocket: redis-server not found on PATH: install it \(Debian\/Ubuntu: apt-get install redis-server\)/,
    );
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });

  it('reports a port already in use as one line, exit 2', async () => {
    const first = await startServer();
    try {
      const result = await runCli(['serve', '--port', String(first.port), '--redis', 'redis://127.0.0.1:1']);
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        /^cosocket serve: --port: cannot listen on 127\.0\.0\.1:\d+ for the app listener \(http\): EADDRINUSE/,
      );
    } finally {
      await first.stop();
    }
  });

  it('prints help and the version', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: cosocket <command>/);
    const serveHelp = await runCli(['serve', '--help']);
    assert.match(serveHelp.stdout, /--redis URL/);
    const version = await runCli(['--version']);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const unknown = await runCli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  });
});
