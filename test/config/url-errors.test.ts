import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, Scheduler, http, redis } from '../../src/index.js';
import { resolveConfig } from '../../src/config/server-config.js';
import { ab } from '../../src/cli/ab.js';
import { UsageError } from '../../src/cli/flags.js';

/**
 * A URL without its scheme (`localhost:6379`) parses as the scheme `localhost:`: every URL error
 * quotes what the user typed, never what the parser made of it, and says the scheme is missing.
 */

const scheduler = new Scheduler({ name: 'url-errors' });

async function messageOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError || err instanceof UsageError, String(err));
    return err.message;
  }
  assert.fail('no error');
}

describe('URL errors quote what the user typed', () => {
  it('--redis localhost:6379', async () => {
    const message = await messageOf(() => resolveConfig({ flags: new Map([['redis', 'localhost:6379']]) }));
    assert.match(message, /got 'localhost:6379' \(a scheme is missing: redis:\/\/localhost:6379\)/);
    assert.doesNotMatch(message, /localhost:\/\//);
  });

  it('--dyups-sync with a scheme the server does not speak, password hidden', async () => {
    const message = await messageOf(() =>
      resolveConfig({ flags: new Map([['dyups-sync', 'http://user:secret@h:1']]) }),
    );
    assert.match(message, /got 'http:\/\/user:\*\*\*@h:1'/);
    assert.doesNotMatch(message, /secret/);
  });

  it('redis.connect({ url: "localhost:6379" })', async () => {
    const message = await messageOf(async () => redis.parseRedisTarget('localhost:6379'));
    assert.match(message, /got 'localhost:6379' \(a scheme is missing: redis:\/\/localhost:6379\)/);
  });

  it('http.request("127.0.0.1:8080/x")', async () => {
    const message = await messageOf(() =>
      scheduler.go(function* () {
        return yield* http.request('127.0.0.1:8080/x');
      }),
    );
    assert.match(message, /got '127.0.0.1:8080\/x' \(a scheme is missing: http:\/\/127.0.0.1:8080\/x\)/);
  });

  it('cosocket ab localhost:8080/', async () => {
    const message = await messageOf(() => ab(['localhost:8080/']));
    assert.match(message, /got 'localhost:8080\/' \(a scheme is missing: http:\/\/localhost:8080\/\)/);
  });
});
