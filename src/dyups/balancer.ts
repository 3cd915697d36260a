import type { ServerTunnels } from './upgrade.js';
import { RING_POINTS_PER_WEIGHT } from './upstream.js';
import type { UpstreamGroup, UpstreamServer } from './upstream.js';

/** What a balancer knows of one server: its settings and its live state (kept across updates). */
export class Peer implements ServerTunnels {
  /** smooth weighted round robin state (nginx's current_weight) */
  current = 0;
  /** requests in flight to it */
  active = 0;
  /** requests sent to it, retries included (a counter: a dashboard's req/s is its rate) */
  requests = 0;
  /** every failure counted against it (connect, send, read, a status retried on), never reset */
  failures = 0;
  /** failures within the current fail_timeout window */
  fails = 0;
  /** when the current window of failures started (ms) */
  failedAt = 0;
  /** active health check verdict; null when no check runs */
  checkedHealthy: boolean | null = null;
  /** WebSocket/Upgrade tunnels open through it now */
  openTunnels = 0;
  /** tunnels opened through it since it joined its group */
  tunnels = 0;

  constructor(public server: UpstreamServer) {}

  get address(): string {
    return this.server.address;
  }

  /**
   * Usable now: not down or draining, not failing its check, and not failed max_fails times within
   * fail_timeout — unless it is its group's only server, which nginx never takes out for failures.
   */
  available(now: number, onlyServer = false): boolean {
    if (this.server.down || this.server.drain || this.checkedHealthy === false) return false;
    if (onlyServer) return true;
    const { maxFails, failTimeout } = this.server;
    if (maxFails === 0 || this.fails < maxFails) return true;
    if (now - this.failedAt >= failTimeout * 1000) {
      this.fails = 0; // the window passed: try it again
      return true;
    }
    return false;
  }

  /** A connect error or timeout (passive health, like nginx's max_fails/fail_timeout). */
  failed(now: number): void {
    this.failures++;
    if (this.fails === 0 || now - this.failedAt >= this.server.failTimeout * 1000) {
      this.failedAt = now;
      this.fails = 0;
    }
    this.fails++;
  }

  succeeded(): void {
    this.fails = 0;
  }
}

/** The request facts balancers use. */
export interface BalanceInput {
  clientIp: string;
  /** the value of the group's hash key for this request */
  hashKey: string;
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 (what nginx hashes with), as an unsigned number. */
export function crc32(text: string): number {
  const bytes = Buffer.from(text);
  return (crcContinue(-1, bytes) ^ -1) >>> 0;
}

/** The CRC-32 register after `bytes`, from register `crc` (-1 to start). */
function crcContinue(crc: number, bytes: Uint8Array): number {
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/**
 * Chooses servers for one group with its balancing method: smooth weighted round robin (nginx's),
 * least_conn, ip_hash, or hash (consistent: a ketama ring of 160 points per weight unit). Backup
 * servers are used only when no primary is available.
 */
export class GroupBalancer {
  readonly primaries: Peer[];
  readonly backups: Peer[];
  private ring: Ring | null = null;

  constructor(
    readonly group: UpstreamGroup,
    peers: Peer[],
  ) {
    this.primaries = peers.filter((p) => !p.server.backup);
    this.backups = peers.filter((p) => p.server.backup);
    if (group.balancer.kind === 'hash' && group.balancer.consistent) this.ring = buildRing(this.primaries);
  }

  /** Whether a peer of this group may take requests now (a group's only server is never out for failures). */
  available(peer: Peer, now: number): boolean {
    return peer.available(now, this.primaries.length + this.backups.length === 1);
  }

  /** The server for this request, skipping `tried` (retries), or null when none is available. */
  pick(input: BalanceInput, tried: ReadonlySet<Peer>, now = Date.now()): Peer | null {
    return this.pickFrom(this.primaries, input, tried, now) ?? this.pickFrom(this.backups, input, tried, now, true);
  }

  private pickFrom(
    peers: Peer[],
    input: BalanceInput,
    tried: ReadonlySet<Peer>,
    now: number,
    backups = false,
  ): Peer | null {
    const usable = (p: Peer): boolean =>
      !tried.has(p) && this.available(p, now) && (p.server.maxConns === 0 || p.active < p.server.maxConns);
    const method = backups ? 'round_robin' : this.group.balancer.kind;
    if (method === 'least_conn') return this.leastConn(peers, usable);
    if (method === 'ip_hash')
      return this.byHash(peers, ipHashKey(input.clientIp), usable) ?? this.smoothRoundRobin(peers, usable);
    if (method === 'hash') {
      const key = input.hashKey;
      const found = this.ring !== null ? this.onRing(key, usable) : this.byHash(peers, key, usable);
      return found ?? this.smoothRoundRobin(peers, usable);
    }
    return this.smoothRoundRobin(peers, usable);
  }

  /** nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a, not a a a a a b c. */
  private smoothRoundRobin(peers: Peer[], usable: (p: Peer) => boolean): Peer | null {
    let best: Peer | null = null;
    let total = 0;
    for (const peer of peers) {
      if (!usable(peer)) continue;
      peer.current += peer.server.weight;
      total += peer.server.weight;
      if (best === null || peer.current > best.current) best = peer;
    }
    if (best !== null) best.current -= total;
    return best;
  }

  private leastConn(peers: Peer[], usable: (p: Peer) => boolean): Peer | null {
    let fewest = Infinity;
    for (const peer of peers) if (usable(peer)) fewest = Math.min(fewest, peer.active / peer.server.weight);
    if (fewest === Infinity) return null;
    return this.smoothRoundRobin(peers, (p) => usable(p) && p.active / p.server.weight === fewest);
  }

  /** nginx's ip_hash / plain hash: a hash picks a weighted slot; an unavailable one is rehashed up to 20 times. */
  private byHash(peers: Peer[], key: string, usable: (p: Peer) => boolean): Peer | null {
    const totalWeight = peers.reduce((sum, p) => sum + p.server.weight, 0);
    if (totalWeight === 0) return null;
    let hash = crc32(key);
    for (let attempt = 0; attempt < 20; attempt++) {
      let slot = hash % totalWeight;
      for (const peer of peers) {
        slot -= peer.server.weight;
        if (slot < 0) {
          if (usable(peer)) return peer;
          break;
        }
      }
      hash = crc32(`${hash}${key}`);
    }
    return null;
  }

  private onRing(key: string, usable: (p: Peer) => boolean): Peer | null {
    const { hashes, owners } = this.ring!;
    if (hashes.length === 0) return null;
    const hash = crc32(key);
    let low = 0;
    let high = hashes.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (hashes[mid]! < hash) low = mid + 1;
      else high = mid;
    }
    for (let i = 0; i < hashes.length; i++) {
      const peer = this.primaries[owners[(low + i) % hashes.length]!]!;
      if (usable(peer)) return peer;
    }
    return null;
  }
}

/** A ketama ring: point hashes in ascending order, and the index (into the primaries) of each point's peer. */
interface Ring {
  hashes: Uint32Array;
  owners: Uint32Array;
}

/**
 * nginx's ketama ring: RING_POINTS_PER_WEIGHT points per weight unit, point i of a peer at
 * crc32(`${address}-${i}`). Built in typed arrays (the parser caps its size at MAX_RING_POINTS), each
 * point's CRC continued from its address prefix, so the largest ring takes a fraction of a second.
 */
function buildRing(peers: readonly Peer[]): Ring {
  const total = peers.reduce((sum, p) => sum + RING_POINTS_PER_WEIGHT * p.server.weight, 0);
  // hash * 2^20 + owner stays an exact double (52 bits): sorting it sorts by hash, then peer order
  const packed = new Float64Array(total);
  const OWNER_SPAN = 2 ** 20;
  let at = 0;
  peers.forEach((peer, owner) => {
    const prefix = crcContinue(-1, Buffer.from(`${peer.address}-`));
    const points = RING_POINTS_PER_WEIGHT * peer.server.weight;
    for (let i = 0; i < points; i++) {
      const hash = (crcContinue(prefix, Buffer.from(String(i), 'latin1')) ^ -1) >>> 0;
      packed[at++] = hash * OWNER_SPAN + owner;
    }
  });
  packed.sort();
  const hashes = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    const owner = packed[i]! % OWNER_SPAN;
    owners[i] = owner;
    hashes[i] = (packed[i]! - owner) / OWNER_SPAN;
  }
  return { hashes, owners };
}

/** nginx's ip_hash key: the first three octets of an IPv4 address, the whole IPv6 address. */
export function ipHashKey(ip: string): string {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const octets = v4.split('.');
  return octets.length === 4 ? octets.slice(0, 3).join('.') : ip;
}

/**
 * Balancers for every group, rebuilt on each change; a server kept by a change keeps its Peer (its
 * failures, its in-flight count), so requests in flight finish on their old server undisturbed.
 */
export class Balancers {
  private readonly peers = new Map<string, Peer>();
  private readonly byGroup = new Map<string, GroupBalancer>();

  set(group: UpstreamGroup | null, name: string): void {
    if (group === null) {
      this.byGroup.delete(name);
      for (const key of [...this.peers.keys()]) if (key.startsWith(`${name}\0`)) this.peers.delete(key);
      return;
    }
    const peers = group.servers.map((server) => {
      const key = `${name}\0${server.address}`;
      let peer = this.peers.get(key);
      if (peer === undefined) {
        peer = new Peer(server);
        this.peers.set(key, peer);
      } else peer.server = server;
      peer.current = 0;
      return peer;
    });
    const keep = new Set(group.servers.map((s) => `${name}\0${s.address}`));
    for (const key of [...this.peers.keys()]) if (key.startsWith(`${name}\0`) && !keep.has(key)) this.peers.delete(key);
    this.byGroup.set(name, new GroupBalancer(group, peers));
  }

  get(name: string): GroupBalancer | undefined {
    return this.byGroup.get(name);
  }

  /** Each server's live state in a group, by address (for GET /upstream/NAME?format=json). */
  health(name: string, now = Date.now()): Map<string, ServerHealth> {
    const out = new Map<string, ServerHealth>();
    const balancer = this.byGroup.get(name);
    if (balancer === undefined) return out;
    for (const peer of [...balancer.primaries, ...balancer.backups]) {
      out.set(peer.address, {
        available: balancer.available(peer, now),
        active: peer.active,
        requests: peer.requests,
        failures: peer.failures,
        fails: peer.fails,
        check: peer.checkedHealthy === null ? null : peer.checkedHealthy ? 'up' : 'down',
        openTunnels: peer.openTunnels,
        tunnels: peer.tunnels,
      });
    }
    return out;
  }

  /** Each group's tunnels, the sums over its servers (for /status: no server addresses). */
  tunnels(): Map<string, GroupTunnels> {
    const out = new Map<string, GroupTunnels>();
    for (const [name, balancer] of this.byGroup)
      out.set(name, groupTunnelsOf([...balancer.primaries, ...balancer.backups]));
    return out;
  }
}

/** A group's WebSocket/Upgrade tunnels: open now and opened in all, summed over its servers. */
export interface GroupTunnels {
  open: number;
  total: number;
}

export function groupTunnelsOf(servers: Iterable<ServerTunnels>): GroupTunnels {
  const sum = { open: 0, total: 0 };
  for (const server of servers) {
    sum.open += server.openTunnels;
    sum.total += server.tunnels;
  }
  return sum;
}

/**
 * A server's live state: usable now, requests in flight, requests and failures since it was added,
 * failures within the current fail_timeout window, active check verdict, tunnels.
 */
export interface ServerHealth extends ServerTunnels {
  available: boolean;
  active: number;
  requests: number;
  failures: number;
  fails: number;
  check: 'up' | 'down' | null;
}
