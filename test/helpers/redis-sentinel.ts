import { EmbeddedRedisError, startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';
import { waitFor } from './net.js';
import { redisCommand } from './redis.js';

/** A private master, its replica and one sentinel watching them as 'mymaster', for one test file. */
export interface TestRedisSentinel {
  master: EmbeddedRedis;
  replica: EmbeddedRedis;
  sentinel: EmbeddedRedis;
  masterName: string;
  /** redis+sentinel://127.0.0.1:PORT?name=mymaster */
  url: string;
  startedInMs: number;
  /** The port the sentinel names as the master now. */
  masterPort(): Promise<number>;
  /** Kills the master (SIGKILL) and resolves with the ms until the sentinel named the replica master. */
  failover(): Promise<number>;
  stop(): Promise<void>;
}

const MASTER_NAME = 'mymaster';
const WITHIN_MS = 60_000;

async function replicaInSync(replica: EmbeddedRedis): Promise<boolean> {
  const info = String(await redisCommand(replica.port, 'INFO', 'replication').catch(() => ''));
  return /master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info);
}

async function sentinelMasterPort(sentinel: EmbeddedRedis): Promise<number | null> {
  const reply = await redisCommand(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME).catch(() => null);
  return Array.isArray(reply) && reply.length === 2 ? Number(reply[1]) : null;
}

/** The sentinel has found the replica (it can fail over to it) and does not think it is down. */
async function sentinelKnowsReplica(sentinel: EmbeddedRedis, replica: EmbeddedRedis): Promise<boolean> {
  const replicas = await redisCommand(sentinel.port, 'SENTINEL', 'REPLICAS', MASTER_NAME).catch(() => []);
  if (!Array.isArray(replicas)) return false;
  return replicas.some((fields: unknown) => {
    if (!Array.isArray(fields)) return false;
    const field = (name: string): unknown => fields[fields.indexOf(name) + 1];
    return Number(field('port')) === replica.port && !/s_down|o_down|disconnected/.test(String(field('flags')));
  });
}

export async function startTestRedisSentinel(): Promise<TestRedisSentinel> {
  const started = Date.now();
  const servers: EmbeddedRedis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    // the master sends its replica a full copy at once instead of waiting 5 s for more replicas
    const master = await startEmbeddedRedis({
      readyTimeoutMs: 20_000,
      extraArgs: () => ['--repl-diskless-sync-delay', '0'],
    });
    servers.push(master);
    const replica = await startEmbeddedRedis({
      readyTimeoutMs: 20_000,
      extraArgs: () => ['--replicaof', '127.0.0.1', String(master.port), '--repl-diskless-sync-delay', '0'],
    });
    servers.push(replica);
    if (!(await waitFor(() => replicaInSync(replica), WITHIN_MS, 50))) {
      throw new EmbeddedRedisError(`the test replica did not sync with its master within ${WITHIN_MS} ms`);
    }
    // down after 1 s of silence; quorum 1, so this one sentinel decides and runs the failover alone
    const sentinel = await startEmbeddedRedis({
      readyTimeoutMs: 20_000,
      config: [
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
      extraArgs: () => ['--sentinel'],
    });
    servers.push(sentinel);
    if (!(await waitFor(() => sentinelKnowsReplica(sentinel, replica), WITHIN_MS, 100))) {
      throw new EmbeddedRedisError(`the test sentinel did not discover the replica within ${WITHIN_MS} ms`);
    }
    return {
      master,
      replica,
      sentinel,
      masterName: MASTER_NAME,
      url: `redis+sentinel://127.0.0.1:${sentinel.port}?name=${MASTER_NAME}`,
      startedInMs: Date.now() - started,
      async masterPort() {
        const port = await sentinelMasterPort(sentinel);
        if (port === null) throw new EmbeddedRedisError(`the test sentinel does not know '${MASTER_NAME}'`);
        return port;
      },
      async failover() {
        const killedAt = Date.now();
        master.kill();
        if (!(await waitFor(async () => (await sentinelMasterPort(sentinel)) === replica.port, WITHIN_MS, 100))) {
          throw new EmbeddedRedisError(
            `the test sentinel did not promote the replica within ${WITHIN_MS} ms of the master's death`,
          );
        }
        return Date.now() - killedAt;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
