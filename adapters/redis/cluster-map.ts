import { RedisClusterReplyError } from '../../src/errors/index.js';
import { SLOT_COUNT } from './cluster-slot.js';

/** A cluster node as the slot table names it. One object per host:port, so it can key a pool. */
export interface ClusterNode {
  readonly host: string;
  readonly port: number;
  /** host:port, IPv6 hosts in brackets. */
  readonly key: string;
}

const NO_NODE = 0xffff;

function nodeKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Which node serves each of the 16384 slots (and its replicas), built from a CLUSTER SLOTS reply as
 * RESP2 returns it: `[[start, end, [host, port, id, ...], [replica host, port, id, ...], ...], ...]`.
 * A MOVED moves one slot; `refresh` replaces the whole table with a new reply.
 */
export class ClusterSlotMap {
  private readonly masterOf = new Uint16Array(SLOT_COUNT).fill(NO_NODE);
  private replicasOf: Array<readonly ClusterNode[]> = [];
  private readonly nodesByKey = new Map<string, number>();
  private readonly nodeList: ClusterNode[] = [];

  /**
   * `askedHost` stands in for an empty or '?' host in the reply (Redis writes those for "the node you
   * asked"); without it such a reply is refused.
   */
  static fromClusterSlots(reply: unknown, askedHost?: string): ClusterSlotMap {
    const map = new ClusterSlotMap();
    map.refresh(reply, askedHost);
    return map;
  }

  /** Replaces the whole table with a new CLUSTER SLOTS reply; a malformed reply changes nothing. */
  refresh(reply: unknown, askedHost?: string): void {
    const ranges = parseClusterSlots(reply, askedHost);
    this.masterOf.fill(NO_NODE);
    const replicasOf: Array<readonly ClusterNode[]> = new Array<readonly ClusterNode[]>(SLOT_COUNT);
    for (const range of ranges) {
      const master = this.intern(range.master.host, range.master.port);
      const replicas = range.replicas.map((r) => this.nodeList[this.intern(r.host, r.port)]!);
      this.masterOf.fill(master, range.start, range.end + 1);
      replicasOf.fill(replicas, range.start, range.end + 1);
    }
    this.replicasOf = replicasOf;
  }

  /** A MOVED redirect: `slot` is served by host:port from now on (its replicas are unknown until a refresh). */
  moved(slot: number, host: string, port: number): ClusterNode {
    checkSlot(slot);
    const index = this.intern(host, port);
    this.masterOf[slot] = index;
    this.replicasOf[slot] = [];
    return this.nodeList[index]!;
  }

  /** The master serving `slot`, or null when no node covers it. */
  nodeForSlot(slot: number): ClusterNode | null {
    checkSlot(slot);
    const index = this.masterOf[slot]!;
    return index === NO_NODE ? null : this.nodeList[index]!;
  }

  /** The replicas of `slot` as the last refresh listed them. */
  replicasForSlot(slot: number): readonly ClusterNode[] {
    checkSlot(slot);
    return this.replicasOf[slot] ?? [];
  }

  /** Every master that serves at least one slot now. */
  masters(): ClusterNode[] {
    const used = new Set<number>(this.masterOf);
    used.delete(NO_NODE);
    return [...used].sort((a, b) => a - b).map((index) => this.nodeList[index]!);
  }

  /** How many slots have no node. */
  uncoveredSlots(): number {
    let count = 0;
    for (const index of this.masterOf) if (index === NO_NODE) count++;
    return count;
  }

  private intern(host: string, port: number): number {
    const key = nodeKey(host, port);
    let index = this.nodesByKey.get(key);
    if (index === undefined) {
      if (this.nodeList.length >= NO_NODE)
        throw new RedisClusterReplyError(`a cluster slot map holds at most ${NO_NODE} nodes`);
      index = this.nodeList.length;
      this.nodeList.push(Object.freeze({ host, port, key }));
      this.nodesByKey.set(key, index);
    }
    return index;
  }
}

interface SlotRange {
  start: number;
  end: number;
  master: { host: string; port: number };
  replicas: Array<{ host: string; port: number }>;
}

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) {
    throw new RedisClusterReplyError(
      `a cluster slot is a whole number from 0 to ${SLOT_COUNT - 1}, got ${String(slot)}`,
    );
  }
}

function integer(value: unknown): number | null {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' || Buffer.isBuffer(value)
        ? Number(value.toString())
        : NaN;
  return Number.isInteger(n) ? n : null;
}

function parseNode(value: unknown, where: string, askedHost: string | undefined): { host: string; port: number } {
  if (!Array.isArray(value) || value.length < 2) {
    throw new RedisClusterReplyError(
      `CLUSTER SLOTS ${where}: a node must be [host, port, ...], got ${describe(value)}`,
    );
  }
  const rawHost = value[0] as unknown;
  if (typeof rawHost !== 'string' && !Buffer.isBuffer(rawHost)) {
    throw new RedisClusterReplyError(`CLUSTER SLOTS ${where}: the host must be a string, got ${describe(rawHost)}`);
  }
  let host = rawHost.toString();
  if (host === '' || host === '?') {
    if (askedHost === undefined)
      throw new RedisClusterReplyError(
        `CLUSTER SLOTS ${where}: the host is '${host}' and the asked node's host is unknown`,
      );
    host = askedHost;
  }
  const port = integer(value[1]);
  if (port === null || port < 1 || port > 65_535) {
    throw new RedisClusterReplyError(`CLUSTER SLOTS ${where}: the port must be 1-65535, got ${describe(value[1])}`);
  }
  return { host, port };
}

function describe(value: unknown): string {
  const shown = Buffer.isBuffer(value) ? `'${value.toString()}'` : (JSON.stringify(value) ?? String(value));
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

function parseClusterSlots(reply: unknown, askedHost: string | undefined): SlotRange[] {
  if (!Array.isArray(reply))
    throw new RedisClusterReplyError(`CLUSTER SLOTS must reply with an array, got ${describe(reply)}`);
  return reply.map((entry: unknown, i: number): SlotRange => {
    const where = `entry ${i}`;
    if (!Array.isArray(entry) || entry.length < 3) {
      throw new RedisClusterReplyError(
        `CLUSTER SLOTS ${where} must be [start, end, master, ...replicas], got ${describe(entry)}`,
      );
    }
    const start = integer(entry[0]);
    const end = integer(entry[1]);
    if (start === null || end === null || start < 0 || end >= SLOT_COUNT || start > end) {
      throw new RedisClusterReplyError(
        `CLUSTER SLOTS ${where}: slots ${describe(entry[0])}-${describe(entry[1])} are not a range within 0-${SLOT_COUNT - 1}`,
      );
    }
    return {
      start,
      end,
      master: parseNode(entry[2], `${where} master`, askedHost),
      replicas: entry.slice(3).map((node: unknown, j: number) => parseNode(node, `${where} replica ${j}`, askedHost)),
    };
  });
}
