import { Redis } from 'ioredis';
import { DyupsLoadError } from '../errors/index.js';
import { toNginx } from './format.js';
import { groupKey, groupNameProblem } from './group-name.js';
import { UpstreamSyntaxError, parseUpstream } from './parse.js';
import type { Change, DyupsResult, UpstreamTable } from './table.js';
import type { UpstreamGroup } from './upstream.js';

/** Options of RedisSync: the shared Redis, its key prefix, retries of a raced change, where problems go. */
export interface RedisSyncOptions {
  /** redis://HOST:PORT[/DB] shared by every instance. */
  url: string;
  /** Key prefix, so several fleets of proxies can share one Redis. Default `cosocket:dyups`. */
  prefix?: string;
  /** How often to retry a change that lost a race with another instance before answering 409. Default 5. */
  attempts?: number;
  /** Where a group Redis holds but this instance cannot use (bad name or body) is reported. Default: stderr. */
  report?: (message: string) => void;
}

/**
 * Writes a change only if nobody else wrote since `expected` (optimistic concurrency), so every
 * instance applies the same changes in the same order. KEYS: groups hash, version, channel.
 * ARGV: expected version, name, group in nginx syntax ('' deletes). Returns the new version or -1.
 */
const WRITE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then return -1 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[2]) else redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], version .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
return version
`;

/** Redis was not connected: the change was not sent, nothing changed anywhere. */
function unreachable(why: string): DyupsResult {
  return { status: 503, message: `dyups sync: Redis is unreachable (${why}); nothing was changed` };
}

/** The change was sent but not confirmed: it may or may not be stored; instances converge on what Redis holds. */
function unconfirmed(err: unknown, name: string): DyupsResult {
  return {
    status: 503,
    message: `dyups sync: Redis did not confirm the change (${(err as Error).message}); if it was stored every instance applies it on reconnect, check GET /upstream/${name}`,
  };
}

/**
 * Keeps an instance's upstream table in step with every other instance through Redis: the groups
 * live in a hash, each change bumps a version and is published; an instance applies published
 * changes in version order and reloads the whole hash when it sees a gap or reconnects.
 * A change is acknowledged only after Redis stored it, so a Redis outage refuses changes (503)
 * instead of letting instances drift apart.
 */
export class RedisSync {
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly keys: { groups: string; version: string; channel: string };
  private readonly attempts: number;
  private readonly report: (message: string) => void;
  private writing: Promise<unknown> = Promise.resolve();
  private started = false;
  private resyncing: Promise<void> | null = null;
  private missed = false;

  constructor(
    private readonly table: UpstreamTable,
    options: RedisSyncOptions,
  ) {
    const prefix = options.prefix ?? 'cosocket:dyups';
    this.keys = { groups: `${prefix}:groups`, version: `${prefix}:version`, channel: `${prefix}:changes` };
    this.attempts = options.attempts ?? 5;
    this.report = options.report ?? ((message) => process.stderr.write(`${message}\n`));
    const common = { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true } as const;
    this.client = new Redis(options.url, common);
    this.subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true });
    this.client.on('error', () => {}); // reported per change as 503
    this.subscriber.on('error', () => {});
    this.subscriber.on('message', (_channel: string, message: string) => this.onMessage(message));
    this.subscriber.on('ready', () => {
      // after a reconnect, changes published meanwhile were missed: reload everything
      if (this.started) void this.resync().catch(() => {});
    });
  }

  /**
   * Connects and loads the shared table. An empty Redis is seeded with this instance's groups (from
   * its state file); otherwise Redis wins and the local table is replaced.
   */
  async start(): Promise<void> {
    await Promise.all([this.client.connect(), this.subscriber.connect()]);
    await this.subscriber.subscribe(this.keys.channel);
    await this.resync();
    this.started = true;
  }

  async close(): Promise<void> {
    this.started = false;
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  /** Validates, stores in Redis, then applies locally. Changes from one instance go out one at a time. */
  change(change: Change): Promise<DyupsResult> {
    const result = this.writing.then(() => this.write(change));
    this.writing = result.catch(() => {});
    return result;
  }

  private async write(change: Change): Promise<DyupsResult> {
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const prepared = this.table.prepare(change);
      if (!prepared.ok) return prepared.result;
      if (this.client.status !== 'ready') return unreachable(`connection ${this.client.status}`);
      let version: number;
      try {
        version = await this.store(
          this.table.version,
          prepared.name,
          prepared.group === null ? '' : toNginx(prepared.group),
        );
      } catch (err) {
        return unconfirmed(err, change.name);
      }
      if (version > 0) {
        // the published copy may have been applied already by onMessage
        if (this.table.version >= version) return { status: 200, message: 'success' };
        return this.table.commit(prepared.name, prepared.group, version);
      }
      // another instance changed the table first: catch up, then validate again against the new state
      try {
        await this.resync();
      } catch (err) {
        return unreachable((err as Error).message);
      }
    }
    return {
      status: 409,
      message: `dyups sync: the upstreams kept changing on other instances; '${change.name}' was not changed, try again`,
    };
  }

  private async store(expected: number, name: string, text: string): Promise<number> {
    return Number(
      await this.client.eval(
        WRITE_SCRIPT,
        3,
        this.keys.groups,
        this.keys.version,
        this.keys.channel,
        expected,
        name,
        text,
      ),
    );
  }

  private onMessage(message: string): void {
    const first = message.indexOf('\n');
    const second = message.indexOf('\n', first + 1);
    const version = Number(message.slice(0, first));
    if (this.resyncing !== null) {
      this.missed = true; // the snapshot being read may be older: read again when it is in
      return;
    }
    if (!(version > this.table.version)) return;
    const name = groupKey(message.slice(first + 1, second));
    const text = message.slice(second + 1);
    const problem = groupNameProblem(name);
    if (problem !== null) {
      // never applied nor persisted; the version still moves on so later changes are not held back
      this.report(`dyups sync: change ${version} from Redis skipped: ${problem}`);
      if (version === this.table.version + 1) this.table.version = version;
      else void this.resync().catch(() => {});
      return;
    }
    const group = text === '' ? null : this.parseStored(name, text);
    if (version !== this.table.version + 1 || group === undefined) {
      void this.resync().catch(() => {});
      return;
    }
    this.table.commit(name, group, version);
  }

  /** Makes the local table exactly what Redis holds (one load at a time; callers share it). */
  resync(): Promise<void> {
    this.resyncing ??= this.load().finally(() => {
      this.resyncing = null;
    });
    return this.resyncing;
  }

  private async load(): Promise<void> {
    do {
      this.missed = false;
      const replies = await this.client.multi().get(this.keys.version).hgetall(this.keys.groups).exec();
      if (replies === null) throw new DyupsLoadError('the Redis transaction was aborted');
      const [versionReply, groupsReply] = replies;
      const failure = versionReply?.[0] ?? groupsReply?.[0];
      if (failure) throw failure;
      const version = Number(versionReply?.[1] ?? '0');
      if (version === 0 && this.table.all().length > 0) {
        // an empty Redis (first start, or restarted without persistence): seed it with this table
        await this.seed();
        this.missed = true;
        continue;
      }
      if (version === this.table.version && this.started) continue;
      const groups: UpstreamGroup[] = [];
      const spellings = new Map<string, string>();
      for (const [stored, text] of Object.entries(groupsReply?.[1] as Record<string, string>)) {
        const name = groupKey(stored);
        const earlier = spellings.get(name);
        if (earlier !== undefined)
          throw new DyupsLoadError(`upstreams '${earlier}' and '${stored}' differ only by case`);
        spellings.set(name, stored);
        const problem = groupNameProblem(name);
        if (problem !== null) {
          this.report(`dyups sync: group from Redis skipped: ${problem}`);
          continue;
        }
        const group = this.parseStored(name, text);
        if (group !== undefined) groups.push(group);
      }
      if (!this.table.replaceAll(groups, version)) throw new DyupsLoadError('could not write the state file');
    } while (this.missed);
  }

  /** A group as stored in Redis; one that does not parse (written by something else) is skipped. */
  private parseStored(name: string, text: string): UpstreamGroup | undefined {
    try {
      return parseUpstream(name, text);
    } catch (err) {
      if (!(err instanceof UpstreamSyntaxError)) throw err;
      this.report(`dyups sync: group '${name}' from Redis skipped: ${err.message}`);
      return undefined;
    }
  }

  private async seed(): Promise<void> {
    let expected = 0;
    for (const group of this.table.all()) {
      expected = await this.store(expected, group.name, toNginx(group));
      if (expected < 0) return; // another instance seeded first: its table is loaded next
    }
  }
}
