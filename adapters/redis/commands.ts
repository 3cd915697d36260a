// Over 300 lines: the command table, one row per Redis command, read as a whole.
import { CommandTableError, InvalidArgumentError, toError } from '../../src/errors/index.js';
import type { Effect, Operation } from '../../src/runtime/effect.js';
import type { BlockingSpec } from './blocking.js';
import type { RedisArg } from './encode.js';
import type { BatchResult } from './reply-collector.js';
import {
  mapReply,
  toBoolean,
  toBooleans,
  toFieldOrFields,
  toFlatStrings,
  toKeyedScoredMember,
  toNumber,
  toNumbersOrNulls,
  toNumberOrNull,
  toRecord,
  toScanPage,
  toScoredMembers,
  toStreamAutoclaim,
  toStreamEntries,
  toStreamGroupRead,
  toStreamPending,
  toStreamRead,
  toTime,
} from './replies.js';
import type {
  KeyedScoredMember,
  ScanPage,
  ScoredMember,
  StreamAutoclaim,
  StreamEntry,
  StreamGroupRead,
  StreamPendingEntry,
  StreamPendingSummary,
  StreamRead,
} from './replies.js';
import { evalScript } from './script.js';
import type { RedisScript } from './script.js';

/**
 * The Redis commands with typed methods, in one table (as lua-resty-redis lists its commands and
 * generates a method for each): every row gives the argument shape and result type of the method (as
 * phantom function types, up to three overloads) and what the client must know at run time — a reply
 * mapper and where a blocking command keeps its timeout. `installCommands` puts one method per row on
 * RedisClient (returning an Effect of the result) and on RedisBatch (queueing, returning the batch);
 * `ClientCommands` and `BatchCommands` type them by mapping over the table's type.
 */

/** What the client needs to run a command: how to map its reply, where a blocking command's timeout is. */
export interface CommandSpec {
  map?: (reply: unknown) => unknown;
  blocking?: BlockingSpec;
}

type Signature = (...args: never[]) => unknown;

/** Refuses, before anything is sent, a form of the command whose reply the method's type does not cover. */
type Refusal = (command: string, args: readonly RedisArg[]) => void;

interface CommandRow<F1 extends Signature, F2 extends Signature, F3 extends Signature> {
  readonly spec: CommandSpec;
  /** The method's arguments to the command's: a trailing object of field → value is flattened. */
  readonly flattensObject: boolean;
  readonly refuse: Refusal | null;
  /** Types only: the method's signatures. */
  readonly signatures?: [F1, F2, F3];
}

interface RowOptions {
  map?: (reply: unknown) => unknown;
  blocking?: BlockingSpec;
  flattensObject?: boolean;
  refuse?: Refusal;
}

function command<F1 extends Signature, F2 extends Signature = never, F3 extends Signature = never>(
  options: RowOptions = {},
): CommandRow<F1, F2, F3> {
  const spec: CommandSpec = {};
  if (options.map !== undefined) spec.map = options.map;
  if (options.blocking !== undefined) spec.blocking = options.blocking;
  return { spec, flattensObject: options.flattensObject ?? false, refuse: options.refuse ?? null };
}

function text(arg: RedisArg | undefined): string {
  return Buffer.isBuffer(arg) ? arg.toString() : String(arg);
}

/** Refuses an option word anywhere from `from` on (XCLAIM ... JUSTID). */
function refuseOption(option: string, why: string, from: number): Refusal {
  return (name, args) => {
    for (let i = from; i < args.length; i++) {
      if (text(args[i]).toUpperCase() === option) {
        throw new InvalidArgumentError(
          `redis ${name.toUpperCase()} ... ${option} ${why}: use red.call('${name.toUpperCase()}', ...) for it`,
        );
      }
    }
  };
}

/** Refuses an option word among the options that lead the arguments from `from` on (ZADD key NX INCR ...). */
function refuseLeadingOption(option: string, options: readonly string[], why: string, from: number): Refusal {
  return (name, args) => {
    for (let i = from; i < args.length && typeof args[i] === 'string'; i++) {
      const word = (args[i] as string).toUpperCase();
      if (word === option) {
        throw new InvalidArgumentError(
          `redis ${name.toUpperCase()} ... ${option} ${why}: use red.call('${name.toUpperCase()}', ...) for it`,
        );
      }
      if (!options.includes(word)) return;
    }
  };
}

/** Any key, value, member or field: short, as every row uses it. */
type K = RedisArg;
type Score = number | string;
type Cursor = number | string;
type FieldValues = Record<string, RedisArg> | Map<RedisArg, RedisArg>;
type KeysThenTimeout = [...keys: K[], timeoutSeconds: number];
type Side = 'LEFT' | 'RIGHT';

const pairs = { flattensObject: true } as const;
const blockingLast: RowOptions = { blocking: { timeoutArg: 'last' } };

/** The Redis command table: each row becomes a typed method of RedisClient and RedisBatch (`red.get`, `red.hset`...). */
export const COMMANDS = {
  // ---- strings
  get: command<(key: K) => string | null>(),
  set: command<(key: K, value: K) => 'OK', (key: K, value: K, ...options: K[]) => string | null>(),
  setnx: command<(key: K, value: K) => boolean>({ map: toBoolean }),
  setex: command<(key: K, seconds: number, value: K) => 'OK'>(),
  psetex: command<(key: K, milliseconds: number, value: K) => 'OK'>(),
  getset: command<(key: K, value: K) => string | null>(),
  getdel: command<(key: K) => string | null>(),
  getex: command<(key: K, ...options: K[]) => string | null>(),
  mget: command<(...keys: K[]) => Array<string | null>>(),
  mset: command<(...keyValues: K[]) => 'OK', (keyValues: FieldValues) => 'OK'>(pairs),
  msetnx: command<(...keyValues: K[]) => boolean, (keyValues: FieldValues) => boolean>({ ...pairs, map: toBoolean }),
  incr: command<(key: K) => number>(),
  incrby: command<(key: K, increment: number) => number>(),
  incrbyfloat: command<(key: K, increment: number | string) => number>({ map: toNumber }),
  decr: command<(key: K) => number>(),
  decrby: command<(key: K, decrement: number) => number>(),
  append: command<(key: K, value: K) => number>(),
  strlen: command<(key: K) => number>(),
  getrange: command<(key: K, start: number, end: number) => string>(),
  setrange: command<(key: K, offset: number, value: K) => number>(),

  // ---- keys
  del: command<(...keys: K[]) => number>(),
  unlink: command<(...keys: K[]) => number>(),
  exists: command<(...keys: K[]) => number>(),
  expire: command<(key: K, seconds: number, ...options: K[]) => boolean>({ map: toBoolean }),
  pexpire: command<(key: K, milliseconds: number, ...options: K[]) => boolean>({ map: toBoolean }),
  expireat: command<(key: K, unixSeconds: number, ...options: K[]) => boolean>({ map: toBoolean }),
  ttl: command<(key: K) => number>(),
  pttl: command<(key: K) => number>(),
  persist: command<(key: K) => boolean>({ map: toBoolean }),
  type: command<(key: K) => string>(),
  rename: command<(key: K, newKey: K) => 'OK'>(),
  renamenx: command<(key: K, newKey: K) => boolean>({ map: toBoolean }),
  keys: command<(pattern: K) => string[]>(),
  scan: command<(cursor: Cursor, ...options: K[]) => ScanPage>({ map: toScanPage }),
  randomkey: command<() => string | null>(),
  dbsize: command<() => number>(),
  touch: command<(...keys: K[]) => number>(),
  copy: command<(source: K, destination: K, ...options: K[]) => boolean>({ map: toBoolean }),

  // ---- hashes
  hget: command<(key: K, field: K) => string | null>(),
  hset: command<(key: K, ...fieldValues: K[]) => number, (key: K, fieldValues: FieldValues) => number>(pairs),
  hsetnx: command<(key: K, field: K, value: K) => boolean>({ map: toBoolean }),
  hmget: command<(key: K, ...fields: K[]) => Array<string | null>>(),
  hmset: command<(key: K, ...fieldValues: K[]) => 'OK', (key: K, fieldValues: FieldValues) => 'OK'>(pairs),
  hdel: command<(key: K, ...fields: K[]) => number>(),
  hexists: command<(key: K, field: K) => boolean>({ map: toBoolean }),
  hgetall: command<(key: K) => Record<string, string>>({ map: toRecord }),
  hkeys: command<(key: K) => string[]>(),
  hvals: command<(key: K) => string[]>(),
  hlen: command<(key: K) => number>(),
  hincrby: command<(key: K, field: K, increment: number) => number>(),
  hincrbyfloat: command<(key: K, field: K, increment: number | string) => number>({ map: toNumber }),
  hscan: command<(key: K, cursor: Cursor, ...options: K[]) => ScanPage>({ map: toScanPage }),
  hstrlen: command<(key: K, field: K) => number>(),
  hrandfield: command<
    (key: K) => string | null,
    (key: K, count: number) => string[],
    (key: K, count: number, withValues: 'WITHVALUES') => string[]
  >({
    map: toFieldOrFields,
  }),

  // ---- lists
  lpush: command<(key: K, ...elements: K[]) => number>(),
  rpush: command<(key: K, ...elements: K[]) => number>(),
  lpushx: command<(key: K, ...elements: K[]) => number>(),
  rpushx: command<(key: K, ...elements: K[]) => number>(),
  lpop: command<(key: K) => string | null, (key: K, count: number) => string[] | null>(),
  rpop: command<(key: K) => string | null, (key: K, count: number) => string[] | null>(),
  llen: command<(key: K) => number>(),
  lrange: command<(key: K, start: number, stop: number) => string[]>(),
  lindex: command<(key: K, index: number) => string | null>(),
  lset: command<(key: K, index: number, element: K) => 'OK'>(),
  lrem: command<(key: K, count: number, element: K) => number>(),
  ltrim: command<(key: K, start: number, stop: number) => 'OK'>(),
  linsert: command<(key: K, where: 'BEFORE' | 'AFTER', pivot: K, element: K) => number>(),
  lpos: command<
    (key: K, element: K) => number | null,
    (key: K, element: K, ...options: K[]) => number | number[] | null
  >(),
  lmove: command<(source: K, destination: K, from: Side, to: Side) => string | null>(),
  blpop: command<(...keysThenTimeout: KeysThenTimeout) => [key: string, element: string] | null>(blockingLast),
  brpop: command<(...keysThenTimeout: KeysThenTimeout) => [key: string, element: string] | null>(blockingLast),
  blmove: command<(source: K, destination: K, from: Side, to: Side, timeoutSeconds: number) => string | null>({
    blocking: { timeoutArg: 4 },
  }),
  brpoplpush: command<(source: K, destination: K, timeoutSeconds: number) => string | null>({
    blocking: { timeoutArg: 2 },
  }),

  // ---- sets
  sadd: command<(key: K, ...members: K[]) => number>(),
  srem: command<(key: K, ...members: K[]) => number>(),
  smembers: command<(key: K) => string[]>(),
  sismember: command<(key: K, member: K) => boolean>({ map: toBoolean }),
  smismember: command<(key: K, ...members: K[]) => boolean[]>({ map: toBooleans }),
  scard: command<(key: K) => number>(),
  spop: command<(key: K) => string | null, (key: K, count: number) => string[]>(),
  srandmember: command<(key: K) => string | null, (key: K, count: number) => string[]>(),
  sinter: command<(...keys: K[]) => string[]>(),
  sunion: command<(...keys: K[]) => string[]>(),
  sdiff: command<(...keys: K[]) => string[]>(),
  sinterstore: command<(destination: K, ...keys: K[]) => number>(),
  sunionstore: command<(destination: K, ...keys: K[]) => number>(),
  sdiffstore: command<(destination: K, ...keys: K[]) => number>(),
  smove: command<(source: K, destination: K, member: K) => boolean>({ map: toBoolean }),
  sscan: command<(key: K, cursor: Cursor, ...options: K[]) => ScanPage>({ map: toScanPage }),

  // ---- sorted sets (scores are numbers where a reply is a score; ZRANGE ... WITHSCORES stays flat strings)
  zadd: command<(key: K, ...optionsScoresMembers: K[]) => number>({
    refuse: refuseLeadingOption(
      'INCR',
      ['NX', 'XX', 'GT', 'LT', 'CH', 'INCR'],
      'answers a score, not a count (or use zincrby)',
      1,
    ),
  }),
  zrem: command<(key: K, ...members: K[]) => number>(),
  zscore: command<(key: K, member: K) => number | null>({ map: toNumberOrNull }),
  zmscore: command<(key: K, ...members: K[]) => Array<number | null>>({ map: toNumbersOrNulls }),
  zincrby: command<(key: K, increment: Score, member: K) => number>({ map: toNumber }),
  zcard: command<(key: K) => number>(),
  zcount: command<(key: K, min: Score, max: Score) => number>(),
  zrange: command<(key: K, start: Score, stop: Score, ...options: K[]) => string[]>({ map: toFlatStrings }),
  zrangebyscore: command<(key: K, min: Score, max: Score, ...options: K[]) => string[]>({ map: toFlatStrings }),
  zrevrange: command<(key: K, start: number, stop: number, ...options: K[]) => string[]>({ map: toFlatStrings }),
  zrevrangebyscore: command<(key: K, max: Score, min: Score, ...options: K[]) => string[]>({ map: toFlatStrings }),
  zrank: command<(key: K, member: K) => number | null>({
    refuse: refuseOption('WITHSCORE', 'answers [rank, score]', 2),
  }),
  zrevrank: command<(key: K, member: K) => number | null>({
    refuse: refuseOption('WITHSCORE', 'answers [rank, score]', 2),
  }),
  zremrangebyrank: command<(key: K, start: number, stop: number) => number>(),
  zremrangebyscore: command<(key: K, min: Score, max: Score) => number>(),
  zpopmin: command<(key: K, count?: number) => ScoredMember[]>({ map: toScoredMembers }),
  zpopmax: command<(key: K, count?: number) => ScoredMember[]>({ map: toScoredMembers }),
  bzpopmin: command<(...keysThenTimeout: KeysThenTimeout) => KeyedScoredMember | null>({
    ...blockingLast,
    map: toKeyedScoredMember,
  }),
  bzpopmax: command<(...keysThenTimeout: KeysThenTimeout) => KeyedScoredMember | null>({
    ...blockingLast,
    map: toKeyedScoredMember,
  }),
  zscan: command<(key: K, cursor: Cursor, ...options: K[]) => ScanPage>({ map: toScanPage }),
  zunionstore: command<(destination: K, numkeys: number, ...keysAndOptions: K[]) => number>(),
  zinterstore: command<(destination: K, numkeys: number, ...keysAndOptions: K[]) => number>(),

  // ---- streams
  xadd: command<
    (key: K, ...optionsIdFieldValues: K[]) => string | null,
    (key: K, id: K, fieldValues: FieldValues) => string
  >(pairs),
  xlen: command<(key: K) => number>(),
  xrange: command<(key: K, start: K, end: K, ...count: K[]) => StreamEntry[]>({ map: toStreamEntries }),
  xrevrange: command<(key: K, end: K, start: K, ...count: K[]) => StreamEntry[]>({ map: toStreamEntries }),
  xread: command<(...optionsThenStreams: K[]) => StreamRead | null>({
    map: toStreamRead,
    blocking: { timeoutArg: { option: 'BLOCK', searchFrom: 0, searchUntil: 'STREAMS' }, unit: 'milliseconds' },
  }),
  xreadgroup: command<
    (group: 'GROUP', groupName: K, consumer: K, ...optionsThenStreams: K[]) => StreamGroupRead | null
  >({
    map: toStreamGroupRead,
    blocking: { timeoutArg: { option: 'BLOCK', searchFrom: 3, searchUntil: 'STREAMS' }, unit: 'milliseconds' },
  }),
  xack: command<(key: K, group: K, ...ids: K[]) => number>(),
  xgroup: command<
    (subcommand: 'CREATE' | 'SETID', key: K, group: K, id: K, ...options: K[]) => 'OK',
    (subcommand: 'DESTROY' | 'CREATECONSUMER' | 'DELCONSUMER', key: K, group: K, ...consumer: K[]) => number
  >(),
  xdel: command<(key: K, ...ids: K[]) => number>(),
  xtrim: command<(key: K, ...strategy: K[]) => number>(),
  xpending: command<
    (key: K, group: K) => StreamPendingSummary,
    (key: K, group: K, ...range: K[]) => StreamPendingEntry[]
  >({
    map: toStreamPending,
  }),
  xclaim: command<(key: K, group: K, consumer: K, minIdleMs: number, ...idsAndOptions: K[]) => StreamEntry[]>({
    map: toStreamEntries,
    refuse: refuseOption('JUSTID', 'answers ids, not entries', 4),
  }),
  xautoclaim: command<(key: K, group: K, consumer: K, minIdleMs: number, start: K, ...options: K[]) => StreamAutoclaim>(
    {
      map: toStreamAutoclaim,
      refuse: refuseOption('JUSTID', 'answers ids, not entries', 5),
    },
  ),
  xinfo: command<(subcommand: 'STREAM' | 'GROUPS' | 'CONSUMERS', key: K, ...args: K[]) => unknown>(),

  // ---- scripting
  eval: command<(script: K, numkeys: number, ...keysAndArgs: K[]) => unknown>(),
  evalsha: command<(sha1: K, numkeys: number, ...keysAndArgs: K[]) => unknown>(),
  script: command<
    (subcommand: 'LOAD', script: K) => string,
    (subcommand: 'EXISTS', ...sha1s: K[]) => boolean[],
    (subcommand: 'FLUSH' | 'KILL', ...options: K[]) => 'OK'
  >({ map: (reply) => (Array.isArray(reply) ? toBooleans(reply) : reply) }),

  // ---- server and the rest
  ping: command<(message?: K) => string>(),
  echo: command<(message: K) => string>(),
  time: command<() => [seconds: number, microseconds: number]>({ map: toTime }),
  info: command<(...sections: K[]) => string>(),
  publish: command<(channel: K, message: K) => number>(),
  watch: command<(...keys: K[]) => 'OK'>(),
  unwatch: command<() => 'OK'>(),
};

type Table = typeof COMMANDS;
/** The name of a typed Redis command method (a row of COMMANDS). */
export type CommandName = keyof Table;

type ClientSignature<F> = [F] extends [never]
  ? unknown
  : F extends (...args: infer A) => infer R
    ? (...args: A) => Effect<R>
    : never;
type BatchSignature<F, Self> = [F] extends [never]
  ? unknown
  : F extends (...args: infer A) => unknown
    ? (...args: A) => Self
    : never;

type ClientMethods = {
  [Name in CommandName]: Table[Name] extends CommandRow<infer F1, infer F2, infer F3>
    ? ClientSignature<F1> & ClientSignature<F2> & ClientSignature<F3>
    : never;
};

/** The typed methods of RedisClient: `const v = yield* red.hgetall('h')` is a Record<string, string>. */
export interface ClientCommands extends ClientMethods {
  /**
   * EVALSHA with the script's SHA1 and, when the server does not know it (NOSCRIPT), EVAL with its text,
   * which also loads it for the next time.
   */
  evalScript<T = unknown>(
    script: string | RedisScript,
    keys?: readonly RedisArg[],
    args?: readonly RedisArg[],
  ): Operation<T>;
}

/** The typed methods of RedisBatch: each queues its command and returns the batch. */
export type BatchCommands<Self> = {
  [Name in CommandName]: Table[Name] extends CommandRow<infer F1, infer F2, infer F3>
    ? BatchSignature<F1, Self> & BatchSignature<F2, Self> & BatchSignature<F3, Self>
    : never;
};

/** What the installed client methods call (RedisClient.run). */
export interface CommandRunner {
  run<T>(name: string, args: RedisArg[], spec: CommandSpec): Effect<T>;
}

/** What the installed batch methods call (RedisBatch.queue). */
export interface CommandQueue {
  queue(name: string, args: RedisArg[], spec: CommandSpec): unknown;
}

function isFieldValues(value: unknown): value is FieldValues {
  if (value instanceof Map) return true;
  return value !== null && typeof value === 'object' && !Buffer.isBuffer(value) && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array (spread it: ...values)';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' ? String(value) : typeof value;
}

/** The command's arguments from the method's: checked one by one, a trailing object flattened. */
function commandArgs(name: string, row: CommandRow<Signature, Signature, Signature>, given: unknown[]): RedisArg[] {
  let args = given;
  if (row.flattensObject && given.length > 0 && isFieldValues(given[given.length - 1])) {
    const fieldValues = given[given.length - 1] as FieldValues;
    args = given.slice(0, -1);
    const entries = fieldValues instanceof Map ? fieldValues.entries() : Object.entries(fieldValues);
    for (const [field, value] of entries) args.push(field, value);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg === 'string' || (typeof arg === 'number' && Number.isFinite(arg)) || Buffer.isBuffer(arg)) continue;
    throw new InvalidArgumentError(
      `redis ${name.toUpperCase()}: argument ${i + 1} must be a string, a finite number or a Buffer, got ${describe(arg)}`,
    );
  }
  if (row.refuse !== null) row.refuse(name, args as RedisArg[]);
  return args as RedisArg[];
}

/**
 * Puts one method per table row on the client's prototype (`run`) and the batch's (`queue`), and
 * evalScript on the client's. A name the prototype already has is a bug in the table: refused at load.
 */
export function installCommands(client: CommandRunner, batch: CommandQueue): void {
  const clientMethods = client as unknown as Record<string, unknown>;
  const batchMethods = batch as unknown as Record<string, unknown>;
  for (const name of Object.keys(COMMANDS) as CommandName[]) {
    if (name in clientMethods || name in batchMethods) throw new CommandTableError(name);
    const row = COMMANDS[name] as CommandRow<Signature, Signature, Signature>;
    const spec = row.spec;
    clientMethods[name] = function (this: CommandRunner, ...given: unknown[]) {
      return this.run(name, commandArgs(name, row, given), spec);
    };
    batchMethods[name] = function (this: CommandQueue, ...given: unknown[]) {
      return this.queue(name, commandArgs(name, row, given), spec);
    };
  }
  clientMethods.evalScript = function (
    this: ClientCommands,
    script: string | RedisScript,
    keys?: readonly RedisArg[],
    args?: readonly RedisArg[],
  ) {
    return evalScript(this, script, keys, args);
  };
}

/** Each successful reply of a batch through its command's mapper; a reply of the wrong shape becomes that command's error. */
export function mapBatchReplies(
  results: BatchResult[] | null,
  commands: ReadonlyArray<[string, RedisArg[]]>,
  specs: ReadonlyArray<CommandSpec | null>,
): BatchResult[] | null {
  if (results === null) return null;
  return results.map((result, i): BatchResult => {
    const map = specs[i]?.map;
    if (result[0] !== null || map === undefined) return result;
    try {
      return [null, mapReply(commands[i]![0], map, result[1])];
    } catch (err) {
      return [toError(err), null];
    }
  });
}
