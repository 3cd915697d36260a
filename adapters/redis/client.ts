// Over 300 lines: RedisClient and RedisBatch share the reply collector, modes and pipelining of one connection.
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import {
  InvalidArgumentError,
  RedisReplyError,
  SocketClosedError,
  SocketTimeoutError,
  socketErrorFrom,
} from '../../src/errors/index.js';
import { OwnedConnection } from '../../src/pool/owned-connection.js';
import { DeadlineList } from '../../src/runtime/deadlines.js';
import type { QueueNode } from '../../src/runtime/queue.js';
import { defineKind } from '../../src/runtime/effect.js';
import type { Effect, Waiter } from '../../src/runtime/effect.js';
import type { Task } from '../../src/runtime/task.js';
import { parserRead } from '../tcp/index.js';
import type { ReadRequest, TcpSocket } from '../tcp/index.js';
import { blockingTimeoutMs, readDeadlineMs } from './blocking.js';
import { installCommands, mapBatchReplies } from './commands.js';
import type { BatchCommands, ClientCommands, CommandSpec } from './commands.js';
import { encodeCommand, joinEncoded } from './encode.js';
import type { Encoded, RedisArg } from './encode.js';
import { mapReply } from './replies.js';
import { CONFIRM, MANY, MESSAGE, ONE, ReplyCollector, TRANSACTION } from './reply-collector.js';
import type { BatchResult, PubSubMessage } from './reply-collector.js';

/** short: a connection per use; keepalive: pooled, OpenResty style; shared: one multiplexed ioredis client. */
export type RedisMode = 'short' | 'keepalive' | 'shared';
export type { BatchResult, PubSubMessage, RedisArg };

/** Commands a shared connection must refuse: they change state every other user would inherit. */
const SHARED_FORBIDDEN = new Set([
  'select',
  'auth',
  'hello',
  'client',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'monitor',
  'reset',
  'quit',
]);
/** Commands after which a connection holds state another user must not inherit. */
const STATEFUL = new Set(['select', 'auth', 'hello', 'client', 'readonly', 'readwrite', 'reset', 'monitor']);
const PUBSUB = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);

function sharedRefusal(command: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `redis ${command.toUpperCase()} changes connection state: use mode 'short' or 'keepalive', not 'shared'`,
  );
}

const CALL = 0;
const BATCH = 1;
const READ_REPLY = 2;

/** One request of a coroutine to its Redis connection. */
class RedisOp {
  constructor(
    readonly type: number,
    readonly command: string,
    readonly args: readonly RedisArg[],
    readonly batch: ReadonlyArray<[string, RedisArg[]]> | null = null,
    readonly transaction = false,
    /** Turns the raw reply into the typed result (the command table's reply mappers). */
    readonly finish: ((reply: unknown) => unknown) | null = null,
    /** A blocking command's own timeout in ms (0: forever), null for any other command. */
    readonly blockMs: number | null = null,
  ) {}
}

// ---------------------------------------------------------------- shared mode (ioredis)

/**
 * A shared-mode command waiting for its reply, with its read deadline in the shared deadline lanes.
 * On timeout the coroutine gets SocketTimeoutError; ioredis still matches the late reply to the
 * command, so the connection stays usable.
 */
class SharedPending {
  abandoned = false;
  deadlineAt = 0;
  node: QueueNode<SharedPending> | null = null;

  constructor(
    readonly peer: string,
    readonly waiter: Waiter,
    readonly command: string,
    readonly ms: number,
  ) {}

  expire(ms: number): void {
    this.node = null;
    if (this.abandoned) return;
    this.abandoned = true;
    this.waiter.settleWait(new SocketTimeoutError(this.command, this.peer, ms), true);
  }

  done(): void {
    if (this.node !== null) sharedDeadlines.remove(this.node, this.ms);
    this.node = null;
  }
}

const sharedDeadlines = new DeadlineList<SharedPending>();

function sharedError(peer: string, command: string, err: unknown): unknown {
  if (err instanceof Error && err.name === 'ReplyError') return new RedisReplyError(err.message);
  if (err instanceof InvalidArgumentError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/Connection is closed|Stream isn't writeable/.test(message))
    return new SocketClosedError(command, peer, undefined, 'closed');
  return socketErrorFrom(command, peer, err);
}

function sharedBatchResults(
  results: Array<[Error | null, unknown]> | null,
  batch: ReadonlyArray<[string, RedisArg[]]>,
  peer: string,
): BatchResult[] | null {
  if (results === null) return null;
  return results.map(([err, reply], i) =>
    err !== null ? [sharedError(peer, batch[i]![0], err) as Error, null] : [null, reply],
  );
}

// ---------------------------------------------------------------- the effect

/** A command's wait: in shared mode its handle is the command waiting for its reply. */
type RedisWaiter = Waiter<SharedPending | null>;

const REDIS_OP = defineKind<RedisClient, RedisOp, SharedPending | null>({
  name: 'redis',
  start(waiter, client, op) {
    client.begin(waiter, op);
  },
  abandon(waiter, client) {
    client.abandon(waiter);
  },
  describe(_client, op) {
    return `redis ${op.command.toUpperCase()}`;
  },
  trace(client, op) {
    const command = op.command.toUpperCase();
    return {
      name: `redis ${command}`,
      attributes: { 'db.system.name': 'redis', 'db.operation.name': command, 'server.address': client.peer },
    };
  },
});

/**
 * A Redis connection used from a coroutine, in one of three modes: `short` (a connection of its own,
 * closed after use), `keepalive` (a connection from the pool, one coroutine at a time, returned with
 * setkeepalive) or `shared` (one auto-pipelined ioredis connection multiplexed by everybody). Every
 * command is an effect: `const v = yield* red.get('k')`.
 *
 * In short and keepalive mode the connection is a tcp cosocket (`red.socket`) speaking RESP: a
 * command is encoded into one write and its reply parsed from the socket's received bytes, like
 * lua-resty-redis on ngx.socket.tcp. A read timeout is not fatal (the late reply is dropped when it
 * comes); a connection error or a broken reply closes the connection; cancellation during a command
 * closes it (never pooled). Pub/sub, MULTI/WATCH and state-changing commands keep a connection out
 * of the pool.
 */
export class RedisClient extends OwnedConnection {
  readonly mode: RedisMode;
  private sock: TcpSocket | null;
  private readonly shared: Redis | Cluster | null;
  private readTimeout: number;
  private readonly replies: ReplyCollector | null;
  private readonly read: ReadRequest | null;
  private inTransaction = false;
  /** Ran a command that changed connection state (SELECT, AUTH, ...): close instead of pooling. */
  private tainted = false;

  /** @internal made by redis.connect */
  constructor(
    mode: RedisMode,
    peer: string,
    owner: Task<unknown>,
    readTimeout: number,
    socket: TcpSocket | null,
    shared: Redis | Cluster | null,
    maxBulk?: number,
  ) {
    super(peer, owner);
    this.mode = mode;
    this.readTimeout = readTimeout;
    this.sock = socket;
    this.reusedTimes = socket === null ? 0 : socket.getreusedtimes();
    this.shared = shared;
    this.replies = socket === null ? null : new ReplyCollector(peer, maxBulk);
    this.read = this.replies === null ? null : parserRead(this.replies);
  }

  /** The tcp cosocket under a short or keepalive connection (null in shared mode). Reading or writing it yourself desyncs the protocol. */
  get socket(): TcpSocket | null {
    return this.sock;
  }

  protected override get noun(): string {
    return 'Redis connection';
  }

  /** True once closed or handed back. */
  override get closed(): boolean {
    return this.mode === 'shared' ? this.sharedDone : this.sock === null || this.sock.closed;
  }

  private sharedDone = false;

  private readonly reusedTimes: number;

  /**
   * Times the pooled connection was reused before this use (always 0 outside keepalive mode); the same
   * after setkeepalive() or close().
   */
  getreusedtimes(): number {
    return this.reusedTimes;
  }

  /** Any command: `yield* red.call('HINCRBY', 'h', 'f', 1)`. */
  call<T = unknown>(command: string, ...args: RedisArg[]): Effect<T> {
    if (typeof command !== 'string' || command === '')
      throw new InvalidArgumentError('redis call() needs a command name');
    return REDIS_OP<T>(this, new RedisOp(CALL, command, args));
  }

  /** @internal The typed methods' way in (see commands.ts): a command with its reply mapper and blocking timeout. */
  run<T>(name: string, args: RedisArg[], spec: CommandSpec): Effect<T> {
    const blockMs = spec.blocking === undefined ? null : blockingTimeoutMs(name, args, spec.blocking);
    if (blockMs !== null && this.mode === 'shared') {
      throw new InvalidArgumentError(
        `redis ${name.toUpperCase()} blocks the connection it runs on: use mode 'short' or 'keepalive', not 'shared'`,
      );
    }
    const map = spec.map;
    const finish = map === undefined ? null : (reply: unknown) => mapReply(name, map, reply);
    return REDIS_OP<T>(this, new RedisOp(CALL, name, args, null, false, finish, blockMs));
  }

  /** Queue commands, send them in one write with `yield* batch.exec()`; one [error, reply] per command. */
  pipeline(): RedisBatch {
    return new RedisBatch(this, false);
  }

  /** MULTI ... EXEC, sent in one write by `yield* tx.exec()`; null when a WATCHed key changed. */
  multi(): RedisBatch {
    return new RedisBatch(this, true);
  }

  subscribe(...channels: string[]): Effect<number> {
    return this.pubsub('subscribe', channels);
  }
  psubscribe(...patterns: string[]): Effect<number> {
    return this.pubsub('psubscribe', patterns);
  }
  unsubscribe(...channels: string[]): Effect<number> {
    return this.pubsub('unsubscribe', channels);
  }
  punsubscribe(...patterns: string[]): Effect<number> {
    return this.pubsub('punsubscribe', patterns);
  }

  /**
   * The next pub/sub message after subscribe, like lua-resty-redis read_reply:
   * ['message', channel, payload] or ['pmessage', pattern, channel, payload]. A read timeout is not fatal.
   */
  readReply(): Effect<PubSubMessage> {
    return REDIS_OP<PubSubMessage>(this, new RedisOp(READ_REPLY, 'read_reply', []));
  }

  /** Read timeout (ms) for the commands that follow; the connect timeout is the pool's. */
  settimeout(readMs: number): void {
    if (typeof readMs !== 'number' || !(readMs > 0) || !Number.isFinite(readMs)) {
      throw new InvalidArgumentError(`redis settimeout() needs a number of ms > 0, got ${String(readMs)}`);
    }
    this.readTimeout = readMs;
  }

  /** setkeepalive() pools only in keepalive mode; short mode closes, shared mode lets go. */
  protected override get poolable(): boolean {
    return this.mode === 'keepalive';
  }

  protected override release(idleMs: number | undefined): void {
    const sock = this.sock!;
    this.sock = null;
    sock.setkeepalive(idleMs);
  }

  /** Closes a dedicated connection (never pooled); in shared mode only lets go. Safe to call twice. */
  override close(): void {
    if (this.mode === 'shared') {
      this.sharedDone = true;
      return;
    }
    const sock = this.sock;
    this.sock = null;
    sock?.close();
  }

  // ---------------------------------------------------------------- effect plumbing (internal)

  /** @internal */
  begin(waiter: RedisWaiter, op: RedisOp): void {
    this.checkUse(op.command, waiter.task);
    if (this.shared !== null) {
      this.beginShared(waiter, op);
      return;
    }
    const sock = this.sock!;
    const replies = this.replies!;
    if (op.type === READ_REPLY) {
      if (replies.subscriptions === 0) throw new InvalidArgumentError(`read_reply ${this.peer}: subscribe first`);
      replies.expect(MESSAGE, 1, null);
      sock.beginExchange(waiter, '', this.read!, this.readTimeout);
      return;
    }
    let data: Encoded;
    if (op.type === BATCH) {
      const encoded: Encoded[] = [];
      if (op.transaction) encoded.push(encodeCommand('MULTI', []));
      for (const [command, args] of op.batch!) {
        encoded.push(encodeCommand(command, args));
        this.track(command);
      }
      if (op.transaction) {
        encoded.push(encodeCommand('EXEC', []));
        this.inTransaction = false; // EXEC ends the transaction and any WATCH
      }
      data = joinEncoded(encoded);
      replies.expect(op.transaction ? TRANSACTION : MANY, encoded.length, op.finish);
    } else {
      data = encodeCommand(op.command, op.args);
      const name = op.command.toLowerCase();
      if (PUBSUB.has(name)) replies.expect(CONFIRM, this.confirmations(name, op.args.length), null);
      else replies.expect(ONE, 1, op.finish);
      this.track(name);
    }
    sock.beginExchange(waiter, data, this.read!, readDeadlineMs(op.blockMs, this.readTimeout));
  }

  /** @internal The coroutine stopped waiting (cancelled): a dedicated connection is closed. */
  abandon(waiter: RedisWaiter): void {
    if (this.mode === 'shared') {
      const pending = waiter.waitHandle;
      if (pending !== null) {
        pending.abandoned = true;
        pending.done();
      }
      return;
    }
    this.sock?.abortPending('receive');
    this.sock = null;
  }

  /** Confirmations a (un)subscribe gets: one per name, or one per current subscription when it names none. */
  private confirmations(name: string, names: number): number {
    if (names > 0) return names;
    return name.includes('unsubscribe') ? this.replies!.subscriptionsEndedBy(name) : 1;
  }

  private track(command: string): void {
    const name = command.toLowerCase();
    if (name === 'multi' || name === 'watch') this.inTransaction = true;
    else if (name === 'exec' || name === 'discard' || name === 'unwatch') this.inTransaction = false;
    else if (STATEFUL.has(name)) this.tainted = true;
  }

  /** Not pooled: subscribed, inside MULTI/WATCH, state changed, a reply owed to a timed-out command, or a command pending. */
  protected override dubiousReason(): string | null {
    const sock = this.sock;
    if (sock === null || sock.closed) return 'closed';
    if (sock.busy) return 'a command is pending';
    const replies = this.replies!;
    if (replies.subscriptions > 0) return 'subscribed state';
    if (this.inTransaction) return 'inside MULTI/WATCH';
    if (this.tainted) return 'connection state was changed (SELECT/AUTH/CLIENT...)';
    return replies.unfinished;
  }

  private beginShared(waiter: RedisWaiter, op: RedisOp): void {
    const client = this.shared!;
    let promise: Promise<unknown>;
    if (op.type === BATCH) {
      const batch: ChainableCommander = op.transaction ? client.multi() : client.pipeline();
      for (const [command, args] of op.batch!) {
        if (SHARED_FORBIDDEN.has(command.toLowerCase())) throw sharedRefusal(command);
        batch.call(command, ...args);
      }
      const commands = op.batch!;
      promise = batch.exec().then((results) => sharedBatchResults(results, commands, this.peer));
    } else {
      if (SHARED_FORBIDDEN.has(op.command.toLowerCase())) throw sharedRefusal(op.command);
      promise = client.call(op.command, ...(op.args as RedisArg[]));
    }
    const finish = op.finish;
    if (finish !== null) promise = promise.then(finish);
    const ms = readDeadlineMs(op.blockMs, this.readTimeout);
    const pending = new SharedPending(this.peer, waiter, op.command, ms);
    if (ms !== Infinity) pending.node = sharedDeadlines.add(pending, ms);
    waiter.waitHandle = pending;
    promise.then(
      (reply) => {
        pending.done();
        if (!pending.abandoned) waiter.settleWait(reply, false);
      },
      (err: unknown) => {
        pending.done();
        if (!pending.abandoned) waiter.settleWait(sharedError(this.peer, op.command, err), true);
      },
    );
  }

  private pubsub(command: string, names: string[]): Effect<number> {
    if (this.mode === 'shared') {
      throw new InvalidArgumentError(
        `redis ${command} needs a dedicated connection: use mode 'short' or 'keepalive', not 'shared'`,
      );
    }
    if (names.length === 0 && !command.includes('un'))
      throw new InvalidArgumentError(`redis ${command}() needs at least one name`);
    return this.call<number>(command, ...names);
  }

  /** @internal */
  runBatch(
    commands: Array<[string, RedisArg[]]>,
    transaction: boolean,
    specs: Array<CommandSpec | null>,
  ): Effect<BatchResult[] | null> {
    const command = transaction ? 'exec' : 'pipeline';
    const finish = specs.some((spec) => spec?.map !== undefined)
      ? (reply: unknown) => mapBatchReplies(reply as BatchResult[] | null, commands, specs)
      : null;
    return REDIS_OP<BatchResult[] | null>(this, new RedisOp(BATCH, command, [], commands, transaction, finish));
  }
}

/** Commands queued for one round trip: a pipeline, or a MULTI/EXEC transaction. */
export class RedisBatch {
  private readonly commands: Array<[string, RedisArg[]]> = [];
  private readonly specs: Array<CommandSpec | null> = [];

  constructor(
    private readonly client: RedisClient,
    private readonly transaction: boolean,
  ) {}

  /** Queues a command; returns the batch for chaining. */
  call(command: string, ...args: RedisArg[]): this {
    if (typeof command !== 'string' || command === '')
      throw new InvalidArgumentError('redis batch call() needs a command name');
    this.commands.push([command, args]);
    this.specs.push(null);
    return this;
  }

  /** @internal The typed methods' way in (see commands.ts). */
  queue(name: string, args: RedisArg[], spec: CommandSpec): this {
    this.commands.push([name, args]);
    this.specs.push(spec);
    return this;
  }

  get length(): number {
    return this.commands.length;
  }

  /** Sends them all; one [error, reply] per command, or null for a transaction aborted by WATCH. */
  exec(): Effect<BatchResult[] | null> {
    if (this.commands.length === 0) throw new InvalidArgumentError('redis pipeline exec(): no commands queued');
    return this.client.runBatch(this.commands.splice(0), this.transaction, this.specs.splice(0));
  }
}

// The typed command methods, one per row of the table in commands.ts.
export interface RedisClient extends ClientCommands {}
export interface RedisBatch extends BatchCommands<RedisBatch> {}
installCommands(RedisClient.prototype, RedisBatch.prototype);
