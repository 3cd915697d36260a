import { RedisClusterDownError, RedisClusterReplyError } from '../../src/errors/index.js';
import { ClusterSlotMap } from './cluster-map.js';
import { greet, openRedisConnection } from './connection.js';
import { encodeCommand } from './encode.js';
import { nodeTarget } from './url.js';
import type { RedisAddress, RedisTarget } from './url.js';

const CLUSTER_SLOTS = encodeCommand('CLUSTER', ['SLOTS']);

/**
 * What one cluster target (one redis+cluster:// URL, logged in as it says) knows of its cluster, shared
 * by every coroutine of the process: the slot map, loaded from CLUSTER SLOTS on first use and again
 * when a node cannot be reached. Concurrent loads share one request.
 */
export class ClusterTopology {
  private map: ClusterSlotMap | null = null;
  private loading: Promise<ClusterSlotMap> | null = null;
  /** Bumped by every completed load, so a caller can tell whether the map changed under it. */
  generation = 0;

  constructor(
    readonly target: RedisTarget,
    private readonly connectTimeout: number,
  ) {}

  /** The slot map if one is loaded (MOVED redirects update it in place). */
  get slots(): ClusterSlotMap | null {
    return this.map;
  }

  /**
   * Loads the slot map again, asking the masters it knows first and then the seeds, one after another
   * until one answers. `unreachable` (a node that just failed) is asked last.
   */
  reload(unreachable: RedisAddress | null = null): Promise<ClusterSlotMap> {
    if (this.loading === null) {
      this.loading = this.load(unreachable).finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  private async load(unreachable: RedisAddress | null): Promise<ClusterSlotMap> {
    const failures: string[] = [];
    for (const address of this.candidates(unreachable)) {
      try {
        const reply = await askSlots(nodeTarget(this.target, address), this.connectTimeout);
        if (this.map === null) this.map = ClusterSlotMap.fromClusterSlots(reply, address.host);
        else this.map.refresh(reply, address.host);
      } catch (err) {
        failures.push((err as Error).message);
        continue;
      }
      this.generation++;
      return this.map;
    }
    throw new RedisClusterDownError(this.target.peer, failures);
  }

  private candidates(unreachable: RedisAddress | null): RedisAddress[] {
    const seen = new Set<string>();
    const out: RedisAddress[] = [];
    const add = (address: RedisAddress): void => {
      const key = `${address.host}:${address.port}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push(address);
    };
    if (unreachable !== null) seen.add(`${unreachable.host}:${unreachable.port}`);
    for (const node of this.map?.masters() ?? []) add(node);
    for (const seed of this.target.addresses) add(seed);
    if (unreachable !== null) out.push(unreachable);
    return out;
  }
}

async function askSlots(node: RedisTarget, timeoutMs: number): Promise<unknown> {
  const started = Date.now();
  const conn = await openRedisConnection(node, timeoutMs, 2);
  try {
    const reply = await greet(conn, node.peer, CLUSTER_SLOTS, 1, Math.max(1, timeoutMs - (Date.now() - started)));
    if (!Array.isArray(reply) || reply.length === 0)
      throw new RedisClusterReplyError(`${node.peer} answered CLUSTER SLOTS with no slots (is it a cluster node?)`);
    return reply;
  } finally {
    conn.destroy();
  }
}

const topologies = new Map<string, ClusterTopology>();

/** The topology of a cluster target, one per process. */
export function clusterTopology(target: RedisTarget, connectTimeout: number): ClusterTopology {
  let topology = topologies.get(target.key);
  if (topology === undefined) {
    topology = new ClusterTopology(target, connectTimeout);
    topologies.set(target.key, topology);
  }
  return topology;
}
