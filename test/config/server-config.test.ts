import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fieldsOf } from '../../src/config/schema.js';
import { DEFAULTS, SERVER_SCHEMA, resolveConfig } from '../../src/config/server-config.js';
import type { ServerConfig } from '../../src/config/server-config.js';
import { SERVE_HELP } from '../../src/cli/serve.js';

const dir = mkdtempSync(join(tmpdir(), 'cosocket-config-'));
let files = 0;
function file(content: unknown): string {
  const path = join(dir, `config-${files++}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.match(err.message, pattern);
    return true;
  });
}

describe('the server config: one schema for its type, defaults and checked values', () => {
  it('has typed defaults: booleans, sizes in bytes, buffers as { count, size }, times in ms, absent as null', () => {
    const buffering: boolean = DEFAULTS.dyups.buffering;
    const buffers: { readonly count: number; readonly size: number } = DEFAULTS.dyups.buffers;
    // @ts-expect-error the type comes from the schema: a switch is a boolean, not the word it was written as
    const word: string = DEFAULTS.dyups.buffering;
    // @ts-expect-error and the value is read-only
    const change = (): void => void (DEFAULTS.dyups.bufferSize = 1);
    assert.equal(typeof word, 'boolean');
    assert.throws(change, TypeError);
    assert.equal(buffering, true);
    assert.deepEqual(buffers, { count: 8, size: 8 * 1024 });
    assert.equal(DEFAULTS.dyups.allowRemote, false);
    assert.equal(DEFAULTS.dyups.trylock, false);
    assert.equal(DEFAULTS.dyups.maxTempFileSize, 1024 ** 3);
    assert.equal(DEFAULTS.limits.requestTimeout, 120_000);
    assert.equal(DEFAULTS.workers, 1);
    for (const absent of [
      DEFAULTS.redis,
      DEFAULTS.send.root,
      DEFAULTS.dyups.token,
      DEFAULTS.dyups.stateFile,
      DEFAULTS.dyups.sync,
      DEFAULTS.dyups.tempPath,
    ])
      assert.equal(absent, null);
  });

  it('is deeply frozen', async () => {
    const config = await resolveConfig({ file: file({ dyups: { buffers: '4 16k' } }) });
    for (const value of [config, config.dyups, config.dyups.buffers, DEFAULTS, DEFAULTS.dyups.buffers])
      assert.ok(Object.isFrozen(value));
    assert.throws(() => {
      (config.dyups.buffers as { count: number }).count = 1;
    }, TypeError);
  });

  it('converts what a file says: nginx words and JSON booleans, sizes, buffers, times, workers auto', async () => {
    const config: ServerConfig = await resolveConfig({
      file: file({
        workers: 'auto',
        test: { maxValueSize: '16k', readTimeout: '1m30s' },
        dyups: {
          allowRemote: 'yes',
          trylock: true,
          buffering: 'off',
          buffers: '2 8K',
          bufferSize: 4096,
          tempFileWriteSize: '1m',
          sync: 'redis',
          token: '',
          stateFile: null,
        },
      }),
    });
    assert.equal(config.workers, availableParallelism());
    assert.equal(config.test.maxValueSize, 16 * 1024);
    assert.equal(config.test.readTimeout, 90_000);
    assert.equal(config.dyups.allowRemote, true);
    assert.equal(config.dyups.trylock, true);
    assert.equal(config.dyups.buffering, false);
    assert.deepEqual(config.dyups.buffers, { count: 2, size: 8 * 1024 });
    assert.equal(config.dyups.bufferSize, 4096);
    assert.equal(config.dyups.tempFileWriteSize, 1024 * 1024);
    assert.equal(config.dyups.sync, 'server-redis');
    assert.equal(config.dyups.token, null);
    assert.equal(config.dyups.stateFile, null);
    const more = await resolveConfig({
      file: file({ workers: 3, dyups: { buffering: 'ON', trylock: 'no', buffers: { count: 3, size: '4k' } } }),
    });
    assert.equal(more.workers, 3);
    assert.equal(more.dyups.buffering, true);
    assert.equal(more.dyups.trylock, false);
    assert.deepEqual(more.dyups.buffers, { count: 3, size: 4096 });
  });

  it('layers the sources: defaults, then the file, then the environment, then the flags', async () => {
    const path = file({ port: 1, redis: 'redis://file:1', dyups: { adminPort: 2, sync: 'redis://sync:3' } });
    const fromFile = await resolveConfig({ file: path, env: {} });
    assert.equal(fromFile.redis, 'redis://file:1');
    assert.deepEqual(fromFile.dyups.sync, { url: 'redis://sync:3' });
    const fromEnv = await resolveConfig({ file: path, env: { REDIS_URL: 'redis://env:1' } });
    assert.equal(fromEnv.redis, 'redis://env:1');
    assert.equal((await resolveConfig({ file: path, env: { REDIS_URL: '' } })).redis, 'redis://file:1');
    const fromFlags = await resolveConfig({
      file: path,
      env: { REDIS_URL: 'redis://env:1' },
      flags: new Map([
        ['redis', 'redis://flag:1'],
        ['admin-port', '9'],
        ['port', '0'],
      ]),
    });
    assert.equal(fromFlags.redis, 'redis://flag:1');
    assert.equal(fromFlags.dyups.adminPort, 9);
    assert.equal(fromFlags.port, 0);
    assert.equal(fromFlags.dyups.proxyPort, 0, 'a value no source gives keeps its default');
  });

  it('names the source a bad value came from: the key, the flag or the environment variable', async () => {
    await refused(
      resolveConfig({ env: { REDIS_URL: 'http://x' } }),
      /^REDIS_URL must use redis:\/\/, rediss:\/\/ or unix:\/\//,
    );
    await refused(resolveConfig({ flags: new Map([['redis', 'http://x']]) }), /^--redis must use redis:\/\//);
    const bad = file({ redis: 'http://x' });
    await refused(resolveConfig({ file: bad }), /^config file .*: 'redis' must use redis:\/\//);
    await refused(
      resolveConfig({ file: file({ dyups: { allowRemote: 'maybe' } }) }),
      /'dyups\.allowRemote' must be on or off \(or yes\/no, true\/false\), got "maybe"/,
    );
    await refused(
      resolveConfig({ file: file({ dyups: { buffers: { count: 0, size: '8k' } } }) }),
      /'dyups\.buffers' must be a count and a size like "8 8k"/,
    );
    await refused(
      resolveConfig({ file: file({ dyups: { buffers: 8 } }) }),
      /'dyups\.buffers' must be a count and a size/,
    );
    await refused(
      resolveConfig({ file: file({ workers: 0 }) }),
      /'workers' must be 'auto' or a whole number from 1 to 256, got 0/,
    );
    await refused(
      resolveConfig({ file: file({ send: { root: join(dir, 'none') } }) }),
      /'send\.root' must be an existing directory/,
    );
    await refused(
      resolveConfig({ flags: new Map([['send-root', join(dir, 'none')]]) }),
      /^--send-root must be an existing directory/,
    );
    await refused(
      resolveConfig({ file: file({ limits: { bodySize: '1.5k' } }) }),
      /'limits\.bodySize' must be a size like "16k"/,
    );
  });

  it('takes the sendfile cache settings: open_file_cache, memory size, expires (off by default), gzip_static', async () => {
    assert.deepEqual(DEFAULTS.send.openFileCache, { max: 1_000, inactive: 60_000, valid: 0 });
    assert.equal(DEFAULTS.send.memoryCacheMax, 64 * 1024);
    assert.equal(DEFAULTS.send.expires, null);
    assert.equal(DEFAULTS.send.gzipStatic, false);
    const config = await resolveConfig({
      file: file({
        send: {
          openFileCache: { max: 10, inactive: '30s', valid: '1m' },
          memoryCacheMax: '8k',
          expires: '1h',
          gzipStatic: 'on',
        },
      }),
    });
    assert.deepEqual(config.send.openFileCache, { max: 10, inactive: 30_000, valid: 60_000 });
    assert.equal(config.send.memoryCacheMax, 8 * 1024);
    assert.equal(config.send.expires, 3_600_000);
    assert.equal(config.send.gzipStatic, true);
    assert.equal((await resolveConfig({ file: file({ send: { expires: 'off' } }) })).send.expires, null);
    await refused(
      resolveConfig({ file: file({ send: { expires: 'soon' } }) }),
      /'send\.expires' must be off or a duration like .* got "soon"/,
    );
    await refused(
      resolveConfig({ file: file({ send: { openFileCache: { max: -1 } } }) }),
      /'send\.openFileCache\.max' must be a whole number from 0 to 1000000, got -1/,
    );
    await refused(
      resolveConfig({ file: file({ send: { openFileCache: { valid: 'later' } } }) }),
      /'send\.openFileCache\.valid' must be a duration/,
    );
  });

  it('declares each flag and environment variable once, and --help lists every one', () => {
    const flags = fieldsOf(SERVER_SCHEMA).flatMap(({ field }) => (field.sources.flag ? [field.sources.flag] : []));
    assert.deepEqual(flags, [
      'host',
      'port',
      'redis',
      'workers',
      'log-level',
      'pid',
      'send-root',
      'admin-port',
      'proxy-port',
      'state-file',
      'dyups-sync',
      'access-log',
      'metrics',
      'tls-cert',
      'tls-key',
      'proxy-tls-cert',
      'proxy-tls-key',
      'admin-tls-cert',
      'admin-tls-key',
    ]);
    assert.equal(new Set(flags).size, flags.length);
    for (const { field } of fieldsOf(SERVER_SCHEMA)) {
      const { flag, valueName, env, help } = field.sources;
      if (flag !== undefined) {
        assert.match(
          SERVE_HELP,
          new RegExp(`--${flag} ${valueName!.replace('|', '\\|')} +${help!.slice(0, 20).replace(/[()$.]/g, '\\$&')}`),
        );
        assert.ok(SERVE_HELP.includes(`[--${flag} ${valueName}]`), `usage line lacks --${flag}`);
      }
      if (env === undefined) continue;
      const described = flag === undefined ? help!.slice(0, 20).replace(/[()$.]/g, '\\$&') : `as --${flag}`;
      assert.match(SERVE_HELP, new RegExp(`^  ${env} +${described}`, 'm'));
    }
  });
});
