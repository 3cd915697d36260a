import { RedisSentinelError, SocketError } from '../../src/errors/index.js';
import type { Operation } from '../../src/runtime/effect.js';
import type { RedisClient } from './client.js';
import { connectServer } from './connect-server.js';
import type { ConnectSettings } from './connect-server.js';
import { nodeTarget } from './url.js';
import type { RedisAddress, RedisTarget } from './url.js';

/** How long a master a sentinel named is used without asking again (a failed connect asks at once). */
const MASTER_TTL_MS = 1_000;
const mastersByTarget = new Map<string, { address: RedisAddress; until: number }>();

/** Asks the sentinels in turn which server is the master; the first that knows answers. */
function* askSentinels(target: RedisTarget, settings: ConnectSettings): Operation<RedisAddress> {
  const asSentinelClient: RedisTarget = { ...target, username: null, password: target.sentinelPassword, db: 0 };
  const failures: string[] = [];
  for (const address of target.addresses) {
    let sentinel: RedisClient | null = null;
    try {
      sentinel = yield* connectServer(nodeTarget(asSentinelClient, address), {
        ...settings,
        mode: 'short',
        protocol: 2,
        expectMaster: false,
      });
      const reply = yield* sentinel.call<unknown>('SENTINEL', 'get-master-addr-by-name', target.masterName!);
      sentinel.close();
      if (Array.isArray(reply) && typeof reply[0] === 'string' && Number.isInteger(Number(reply[1]))) {
        return { host: reply[0], port: Number(reply[1]) };
      }
      failures.push(`${address.host}:${address.port} does not know master '${target.masterName!}'`);
    } catch (err) {
      sentinel?.close();
      failures.push((err as Error).message);
    }
  }
  throw new RedisSentinelError(target.peer, `no sentinel named the master: ${failures.join('; ')}`);
}

/**
 * A dedicated connection to the master the sentinels name (like lua-resty-redis-connector): the
 * answer is kept for a second; a connect that fails, or finds a replica where the master was (ROLE is
 * checked when a connection opens), asks the sentinels again once.
 */
export function* connectThroughSentinel(target: RedisTarget, settings: ConnectSettings): Operation<RedisClient> {
  for (let attempt = 0; ; attempt++) {
    const known = mastersByTarget.get(target.key);
    let master: RedisAddress;
    if (known !== undefined && known.until > Date.now()) master = known.address;
    else {
      master = yield* askSentinels(target, settings);
      mastersByTarget.set(target.key, { address: master, until: Date.now() + MASTER_TTL_MS });
    }
    try {
      return yield* connectServer(nodeTarget(target, master), settings);
    } catch (err) {
      mastersByTarget.delete(target.key);
      if (attempt > 0 || !(err instanceof SocketError)) throw err;
    }
  }
}
