import { Redis } from 'ioredis';
import { EmbeddedRedisError, findOnPath, freePort, startEmbeddedRedis } from '../../src/server/embedded-redis.js';
import type { EmbeddedRedis } from '../../src/server/embedded-redis.js';
import { waitFor } from './net.js';
import { redisCommand } from './redis.js';
import { runProcess } from './process.js';

/** A private six-node Redis Cluster (three masters, a replica each) for one test file. */
export interface TestRedisCluster {
  nodes: EmbeddedRedis[];
  /** redis+cluster:// with every node as a seed. */
  url: string;
  /** How long starting it took, ms. */
  startedInMs: number;
  /** A plain ioredis client to one node (closed by stop()). */
  admin(index: number): Redis;
  stop(): Promise<void>;
}

const NODES = 6;
const READY_WITHIN_MS = 60_000;

/** Each node has its own directory and a cluster bus on a second free port (port + 10000 may not exist). */
function startNode(): Promise<EmbeddedRedis> {
  return startEmbeddedRedis({
    readyTimeoutMs: 20_000,
    extraArgs: async () => [
      '--cluster-enabled',
      'yes',
      '--cluster-port',
      String(await freePort()),
      '--cluster-node-timeout',
      '5000',
    ],
  });
}

async function clusterStateOk(port: number): Promise<boolean> {
  try {
    return /cluster_state:ok/.test(String(await redisCommand(port, 'CLUSTER', 'INFO')));
  } catch {
    return false;
  }
}

/** Every node knows every other and has the whole slot table. */
async function everyNodeAgrees(nodes: readonly EmbeddedRedis[]): Promise<boolean> {
  for (const node of nodes) {
    if (!(await clusterStateOk(node.port))) return false;
    const known = String(await redisCommand(node.port, 'CLUSTER', 'NODES').catch(() => ''));
    if (
      known
        .trim()
        .split('\n')
        .filter((line) => !/fail|handshake|noaddr/.test(line)).length !== nodes.length
    )
      return false;
  }
  return true;
}

export async function startTestRedisCluster(): Promise<TestRedisCluster> {
  const cli = findOnPath('redis-cli');
  if (cli === null)
    throw new EmbeddedRedisError(
      'redis-cli not found on PATH: it creates the test cluster (apt-get install redis-tools)',
    );
  const started = Date.now();
  const nodes: EmbeddedRedis[] = [];
  const admins = new Map<number, Redis>();
  const stop = async (): Promise<void> => {
    for (const admin of admins.values()) admin.disconnect();
    admins.clear();
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    const results = await Promise.allSettled(Array.from({ length: NODES }, startNode));
    for (const result of results) if (result.status === 'fulfilled') nodes.push(result.value);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const created = await runProcess(
      cli,
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'],
      { limitMs: READY_WITHIN_MS },
    );
    if (created.code !== 0) {
      throw new EmbeddedRedisError(
        `redis-cli --cluster create failed (${String(created.code)}): ${(created.stdout + created.stderr).slice(-800)}`,
      );
    }
    if (!(await waitFor(() => everyNodeAgrees(nodes), READY_WITHIN_MS, 100))) {
      throw new EmbeddedRedisError(
        `the test cluster did not reach cluster_state:ok on all ${NODES} nodes within ${READY_WITHIN_MS} ms`,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    startedInMs: Date.now() - started,
    admin(index: number): Redis {
      let admin = admins.get(index);
      if (admin === undefined) {
        admin = new Redis({ host: '127.0.0.1', port: nodes[index]!.port });
        admin.on('error', () => {});
        admins.set(index, admin);
      }
      return admin;
    },
    stop,
  };
}
