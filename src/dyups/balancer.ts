import type { ServerTunnels } from './upgrade.js';
import { DEFAULT_DECAY, RING_POINTS_PER_WEIGHT } from './upstream.js';
import { createHash } from 'node:crypto';
import type { TimeMeasure, UpstreamGroup, UpstreamServer } from './upstream.js';

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
  /** the response time averages, ms, as of `timedAt` (they fade towards 0 while nothing is measured) */
  headerTime = 0;
  lastByteTime = 0;
  timedAt = 0;
  /** the sum of the start times (ms) of the timed requests in flight (least_time inflight: their mean age) */
  timedStarts = 0;
  timedActive = 0;
  private cookieValue: string | null = null;

  constructor(public server: UpstreamServer) {}

  /** What `sticky cookie` stores for this server: a digest of its address (as NGINX Plus, never the address). */
  get stickyId(): string {
    return (this.cookieValue ??= createHash('md5').update(this.server.address).digest('hex'));
  }

  /** A response time average as of `now`: it fades with e^(-age/decay), so an unused server gets tried again. */
  timeNow(measure: TimeMeasure, now: number, decay: number): number {
    const value = measure === 'header' ? this.headerTime : this.lastByteTime;
    if (value === 0) return 0;
    const age = now - this.timedAt;
    return age <= 0 ? value : value * Math.exp(-age / decay);
  }

  /** A timed try ended: its head after `headerMs`, its last byte after `lastByteMs` (null: it failed before). */
  timed(headerMs: number | null, lastByteMs: number | null, now: number, decay: number, peak: boolean): void {
    const fade = now - this.timedAt <= 0 ? 1 : Math.exp(-(now - this.timedAt) / decay);
    if (headerMs !== null) this.headerTime = blend(this.headerTime * fade, headerMs, peak);
    if (lastByteMs !== null) this.lastByteTime = blend(this.lastByteTime * fade, lastByteMs, peak);
    this.timedAt = now;
  }

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

/** The share of a new sample in a response time average (least_time's moving average). */
const SAMPLE_SHARE = 0.3;

/** A moving average with a new sample; `peak`: a sample above it is taken whole (Finagle's peak EWMA, behind APISIX's ewma). */
function blend(average: number, sample: number, peak: boolean): number {
  if (average === 0 || (peak && sample > average)) return sample;
  return average + (sample - average) * SAMPLE_SHARE;
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
  /** the proxy times each try (for least_time, ewma, random two least_time, a coroutine balancer) */
  readonly timesTries: boolean;
  /** what response time decides, and how fast an average fades (ms) */
  private readonly measure: TimeMeasure;
  readonly decay: number;
  /** averages take a slower sample whole (ewma) */
  readonly peak: boolean;
  /** least_time inflight: a server's requests still in flight count at their age */
  private readonly inflight: boolean;
  /** sticky, split or a coroutine balancer: the proxy looks at more than the built-in pick */
  readonly special: boolean;
  /** split N%: the share accumulated towards the next request sent away, per split line */
  readonly splitShares: number[];
  /** coroutine balancer runs, and those whose pick was not taken (timeout, error, an unusable answer) */
  coroutineRuns = 0;
  coroutineFallbacks = 0;
  /** when a fallback was last logged (at most one line a second per group) */
  fallbackLoggedAt = -Infinity;

  constructor(
    readonly group: UpstreamGroup,
    peers: Peer[],
  ) {
    this.primaries = peers.filter((p) => !p.server.backup);
    this.backups = peers.filter((p) => p.server.backup);
    const b = group.balancer;
    if (b.kind === 'hash' && b.consistent) this.ring = buildRing(this.primaries);
    this.timesTries =
      b.kind === 'least_time' ||
      b.kind === 'ewma' ||
      (b.kind === 'random' && b.two !== null && b.two !== 'least_conn') ||
      group.coroutine !== undefined;
    this.measure =
      (b.kind === 'least_time' && b.measure === 'last_byte') ||
      (b.kind === 'random' && b.two === 'least_time=last_byte')
        ? 'last_byte'
        : 'header';
    this.decay = b.kind === 'least_time' || b.kind === 'ewma' ? b.decay : DEFAULT_DECAY;
    this.peak = b.kind === 'ewma';
    this.inflight = b.kind === 'least_time' && b.inflight;
    this.special = group.sticky !== undefined || group.splits !== undefined || group.coroutine !== undefined;
    this.splitShares = (group.splits ?? []).map(() => 0);
  }

  /** Every peer, primaries then backups. */
  get peers(): Peer[] {
    return [...this.primaries, ...this.backups];
  }

  /** Whether `peer` may take this request: available, not tried, below max_conns. */
  usable(peer: Peer, tried: ReadonlySet<Peer>, now = Date.now()): boolean {
    return (
      !tried.has(peer) &&
      this.available(peer, now) &&
      (peer.server.maxConns === 0 || peer.active < peer.server.maxConns)
    );
  }

  /** A timed try to `peer` starts (when `timesTries`); returns its start, for `endTimed`. */
  startTimed(peer: Peer): number {
    const start = performance.now();
    peer.timedStarts += start;
    peer.timedActive++;
    return start;
  }

  /** A timed try ended: `headAt`, `endAt` from performance.now() (null: not reached). */
  endTimed(peer: Peer, start: number, headAt: number | null, endAt: number | null): void {
    peer.timedStarts -= start;
    peer.timedActive--;
    if (headAt === null && endAt === null) return;
    peer.timed(
      headAt === null ? null : headAt - start,
      endAt === null ? null : endAt - start,
      performance.now(),
      this.decay,
      this.peak,
    );
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
    if (method === 'random') return this.random(peers, usable);
    if (method === 'least_time') return this.leastTime(peers, usable);
    if (method === 'ewma') return this.ewma(peers, usable);
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

  /** nginx's random: a weighted random pick; with `two`, the better of two (fewer requests, or less time). */
  private random(peers: Peer[], usable: (p: Peer) => boolean): Peer | null {
    const first = weightedRandom(peers, usable, null);
    const b = this.group.balancer;
    if (first === null || b.kind !== 'random' || b.two === null) return first;
    const second = weightedRandom(peers, usable, first);
    if (second === null) return first;
    if (b.two === 'least_conn')
      return second.active / second.server.weight < first.active / first.server.weight ? second : first;
    const now = performance.now();
    return this.timeScore(second, now) < this.timeScore(first, now) ? second : first;
  }

  /**
   * least_time's score: (requests in flight + 1) x the average time, per weight unit; with inflight, the
   * mean age of the requests in flight when it is longer than the average.
   */
  private timeScore(peer: Peer, now: number): number {
    let time = peer.timeNow(this.measure, now, this.decay);
    if (this.inflight && peer.timedActive > 0) time = Math.max(time, now - peer.timedStarts / peer.timedActive);
    return ((peer.active + 1) * (time + 0.01)) / peer.server.weight;
  }

  /** NGINX Plus' least_time: the lowest score; among equals, smooth weighted round robin. */
  private leastTime(peers: Peer[], usable: (p: Peer) => boolean): Peer | null {
    const now = performance.now();
    let lowest = Infinity;
    for (const peer of peers) if (usable(peer)) lowest = Math.min(lowest, this.timeScore(peer, now));
    if (lowest === Infinity) return null;
    return this.smoothRoundRobin(peers, (p) => usable(p) && this.timeScore(p, now) === lowest);
  }

  /** APISIX's ewma: of two random servers, the one with the lower peak EWMA x (requests in flight + 1). */
  private ewma(peers: Peer[], usable: (p: Peer) => boolean): Peer | null {
    const first = uniformRandom(peers, usable, null);
    if (first === null) return null;
    const second = uniformRandom(peers, usable, first);
    if (second === null) return first;
    const now = performance.now();
    const cost = (p: Peer): number => (p.timeNow('header', now, this.decay) + 0.01) * (p.active + 1);
    return cost(second) < cost(first) ? second : first;
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

/** A random usable peer other than `not`, each as likely as its weight. */
function weightedRandom(peers: Peer[], usable: (p: Peer) => boolean, not: Peer | null): Peer | null {
  let total = 0;
  for (const peer of peers) if (peer !== not && usable(peer)) total += peer.server.weight;
  if (total === 0) return null;
  let at = Math.random() * total;
  for (const peer of peers) {
    if (peer === not || !usable(peer)) continue;
    at -= peer.server.weight;
    if (at < 0) return peer;
  }
  return null;
}

/** A random usable peer other than `not`, all equally likely. */
function uniformRandom(peers: Peer[], usable: (p: Peer) => boolean, not: Peer | null): Peer | null {
  let count = 0;
  for (const peer of peers) if (peer !== not && usable(peer)) count++;
  if (count === 0) return null;
  let at = Math.floor(Math.random() * count);
  for (const peer of peers) {
    if (peer === not || !usable(peer)) continue;
    if (at-- === 0) return peer;
  }
  return null;
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
        ...(balancer.timesTries
          ? {
              headerTime: round(peer.timeNow('header', performance.now(), balancer.decay)),
              lastByteTime: round(peer.timeNow('last_byte', performance.now(), balancer.decay)),
            }
          : {}),
        ...(balancer.group.coroutine === undefined
          ? {}
          : { balancerRuns: balancer.coroutineRuns, balancerFallbacks: balancer.coroutineFallbacks }),
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
  /** the response time averages (ms) of a group whose balancer times tries (least_time, ewma, ...) */
  headerTime?: number;
  lastByteTime?: number;
  /** a coroutine balancer's runs and fallbacks in its group (the same on each server of the group) */
  balancerRuns?: number;
  balancerFallbacks?: number;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
