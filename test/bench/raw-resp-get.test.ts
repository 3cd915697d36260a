/** bench/http's raw-connect baseline: GET test over a connection of its own, RESP by hand, against a real redis-server. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getTestOverNewConnection, parseBulkReply } from '../../bench/http/raw-resp-get.js';
import { startTestRedis } from '../helpers/redis.js';
import type { TestRedis } from '../helpers/redis.js';

describe('raw RESP GET per connection (bench baseline)', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('reads the value over a new connection each time, and closes it', async () => {
    await redis.admin.set('test', 'hello12345');
    const { host, port } = redis.server;
    const received = await redis.connectionsReceived();
    assert.deepEqual(await Promise.all([1, 2, 3].map(() => getTestOverNewConnection(host, port))), [
      'hello12345',
      'hello12345',
      'hello12345',
    ]);
    assert.equal((await redis.connectionsReceived()) - received, 3);
    for (let i = 0; i < 50 && (await redis.clients()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await redis.clients(), 0);
  });

  it('answers null for a missing key and rejects on an error reply', async () => {
    await redis.admin.del('test');
    assert.equal(await getTestOverNewConnection(redis.server.host, redis.server.port), null);
    await redis.admin.hset('test', 'f', 'v');
    await assert.rejects(getTestOverNewConnection(redis.server.host, redis.server.port), /WRONGTYPE/);
    await redis.admin.del('test');
  });

  it('waits for a bulk reply cut at any byte', () => {
    const reply = Buffer.from('$10\r\nhello12345\r\n');
    for (let cut = 0; cut < reply.length; cut++)
      assert.equal(parseBulkReply(reply.subarray(0, cut)), undefined, `cut at ${cut}`);
    assert.equal(parseBulkReply(reply), 'hello12345');
    assert.match(String(parseBulkReply(Buffer.from('+OK\r\n'))), /not a bulk string/);
    assert.match(String(parseBulkReply(Buffer.from('$x\r\n'))), /not a number/);
  });
});
