import type { ChainableCommander, Redis } from 'ioredis';
import {
  CosocketError,
  DubiousStateError,
  InvalidArgumentError,
  SocketClosedError,
  SocketTimeoutError,
  socketErrorFrom,
} from '../../src/errors.js';
import type { KeepalivePool, Lease } from '../../src/pool/keepalive-pool.js';
import { DeadlineList } from '../../src/runtime/deadlines.js';
import type { QueueNode } from '../../src/runtime/queue.js';
import { Effect } from '../../src/runtime/effect.js';
import type { EffectKind } from '../../src/runtime/effect.js';
import { currentTask } from '../../src/runtime/task.js';
import type { Task } from '../../src/runtime/task.js';
import { blockingTimeoutMs, readDeadlineMs } from './blocking.js';
import { installCommands, mapBatchReplies } from './commands.js';
import type { BatchCommands, ClientCommands, CommandSpec } from './commands.js';
import type { PubSubMessage, RedisConnection } from './connection.js';
import { mapReply } from './replies.js';

export type RedisMode = 'short' | 'keepalive' | 'shared';
export type RedisArg = string | number | Buffer;
/** One pipeline/transaction result: the error of that command, or its reply. */
export type BatchResult = [error: Error | null, reply: unknown];

/** Commands a shared connection must refuse: they change state every other user would inherit. */
const SHARED_FORBIDDEN = new Set([
  'select', 'auth', 'hello', 'client', 'multi', 'exec', 'discard', 'watch', 'unwatch',
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'monitor', 'reset', 'quit',
]);

function sharedRefusal(command: string): InvalidArgumentError {
  return new InvalidArgumentError(`redis ${command.toUpperCase()} changes connection state: use mode 'short' or 'keepalive', not 'shared'`);
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
    readonly batch: Array<[string, RedisArg[]]> | null = null,
    readonly transaction = false,
    /** Turns the raw reply into the typed result (the command table's reply mappers). */
    readonly finish: ((reply: unknown) => unknown) | null = null,
    /** A blocking command's own timeout in ms (0: forever), null for any other command. */
    readonly blockMs: number | null = null,
  ) {}
}

/** One command in flight; marked when the coroutine stops waiting, so a late reply goes nowhere. */
interface Pending {
  abandoned: boolean;
}

/**
 * A command waiting for its reply, with its read deadline. Deadlines sit in lanes with one timer each
 * (as the scheduler keeps coroutine deadlines) instead of ioredis's timer per command. On timeout the
 * coroutine gets SocketTimeoutError; ioredis still matches the late reply to this command, so the
 * connection stays usable.
 */
class PendingCommand implements Pending {
  abandoned = false;
  deadlineAt = 0;
  node: QueueNode<PendingCommand> | null = null;

  constructor(
    readonly client: RedisClient,
    readonly task: Task<unknown>,
    readonly command: string,
    readonly ms: number,
  ) {}

  expire(ms: number): void {
    this.node = null;
    if (this.abandoned) return;
    this.abandoned = true;
    this.client.commandTimedOut(this);
    this.task.settleWait(new SocketTimeoutError(this.command, this.client.peer, ms), true);
  }

  done(): void {
    if (this.node !== null) commandDeadlines.remove(this.node, this.ms);
    this.node = null;
  }
}

const commandDeadlines = new DeadlineList<PendingCommand>();

const REDIS_OP: EffectKind = {
  name: 'redis',
  start(task, effect) {
    (effect.a as RedisClient).begin(task, effect.b as RedisOp);
  },
  abandon(task, effect) {
    const pending = task.waitHandle as Pending | null;
    if (pending !== null) pending.abandoned = true;
    (effect.a as RedisClient).abandon();
  },
};

function onReadReplyTimeout(client: RedisClient): void {
  client.readReplyTimedOut();
}

/**
 * A Redis connection used from a coroutine, in one of three modes: `short` (a connection of its own,
 * closed after use), `keepalive` (a connection from the pool, one coroutine at a time, returned with
 * setkeepalive) or `shared` (one auto-pipelined connection multiplexed by everybody). Every command is
 * an effect: `const v = yield* red.get('k')`. A read timeout is not fatal; a connection error closes a
 * dedicated connection. Cancellation during a command closes a dedicated connection (never pooled).
 * Pub/sub, MULTI/WATCH and state-changing commands keep a connection out of the pool for good.
 */
export class RedisClient {
  readonly mode: RedisMode;
  readonly peer: string;
  private conn: RedisConnection | null;
  private readonly shared: Redis | null;
  private readonly pool: KeepalivePool<RedisConnection> | null;
  private lease: Lease<RedisConnection> | null;
  private readonly owner: Task<unknown>;
  private readTimeout: number;
  private pendingTask: Task<unknown> | null = null;
  private replyTimer: NodeJS.Timeout | null = null;
  private detached = false;
  private readonly closeWithOwner = (): void => this.close();

  /** @internal made by redis.connect */
  constructor(
    mode: RedisMode,
    peer: string,
    owner: Task<unknown>,
    readTimeout: number,
    dedicated: { conn: RedisConnection; pool: KeepalivePool<RedisConnection> | null; lease: Lease<RedisConnection> | null } | null,
    shared: Redis | null,
  ) {
    this.mode = mode;
    this.peer = peer;
    this.owner = owner;
    this.readTimeout = readTimeout;
    this.conn = dedicated?.conn ?? null;
    this.pool = dedicated?.pool ?? null;
    this.lease = dedicated?.lease ?? null;
    this.shared = shared;
    if (this.conn !== null) owner.addCleanup(this.closeWithOwner);
  }

  /** True once closed or handed back. */
  get closed(): boolean {
    return this.detached;
  }

  /** Times the pooled connection was reused before this use (always 0 outside keepalive mode). */
  getreusedtimes(): number {
    return this.lease?.reusedTimes ?? 0;
  }

  /** Any command: `yield* red.call('HINCRBY', 'h', 'f', 1)`. */
  call<T = unknown>(command: string, ...args: RedisArg[]): Effect<T> {
    if (typeof command !== 'string' || command === '') throw new InvalidArgumentError('redis call() needs a command name');
    return new Effect<T>(REDIS_OP, this, new RedisOp(CALL, command, args));
  }

  /** @internal The typed methods' way in (see commands.ts): a command with its reply mapper and blocking timeout. */
  run<T>(name: string, args: RedisArg[], spec: CommandSpec): Effect<T> {
    const blockMs = spec.blocking === undefined ? null : blockingTimeoutMs(name, args, spec.blocking);
    if (blockMs !== null && this.mode === 'shared') {
      throw new InvalidArgumentError(`redis ${name.toUpperCase()} blocks the connection it runs on: use mode 'short' or 'keepalive', not 'shared'`);
    }
    const map = spec.map;
    const finish = map === undefined ? null : (reply: unknown) => mapReply(name, map, reply);
    return new Effect<T>(REDIS_OP, this, new RedisOp(CALL, name, args, null, false, finish, blockMs));
  }

  /** Queue commands, send them in one round trip with `yield* batch.exec()`. */
  pipeline(): RedisBatch {
    return new RedisBatch(this, false);
  }

  /** MULTI ... EXEC, sent in one round trip by `yield* tx.exec()`; null when a WATCHed key changed. */
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
    return new Effect<PubSubMessage>(REDIS_OP, this, new RedisOp(READ_REPLY, 'read_reply', []));
  }

  /** Read timeout (ms) for the commands that follow; the connect timeout is the pool's. */
  settimeout(readMs: number): void {
    if (typeof readMs !== 'number' || !(readMs > 0) || !Number.isFinite(readMs)) {
      throw new InvalidArgumentError(`redis settimeout() needs a number of ms > 0, got ${String(readMs)}`);
    }
    this.readTimeout = readMs;
  }

  /**
   * keepalive mode: back to the pool (idle at most `idleMs`, default the pool's idle timeout). A
   * connection that subscribed, is inside MULTI/WATCH, changed its state or has a command pending is
   * closed instead and DubiousStateError is thrown. short mode: closes. shared mode: lets go.
   */
  setkeepalive(idleMs?: number): void {
    if (idleMs !== undefined && (!Number.isInteger(idleMs) || idleMs < 1)) {
      throw new InvalidArgumentError(`setkeepalive() idle time must be a whole number of ms >= 1, got ${String(idleMs)}`);
    }
    this.checkOwner('setkeepalive', currentTask());
    if (this.detached) throw new SocketClosedError('setkeepalive', this.peer);
    if (this.mode !== 'keepalive') {
      this.close();
      return;
    }
    const conn = this.conn!;
    const why = this.pendingTask !== null ? 'a command is pending' : conn.dubiousReason();
    if (why !== null) {
      this.close();
      throw new DubiousStateError(this.peer, why);
    }
    const lease = this.lease!;
    this.detach();
    if (idleMs !== undefined) lease.idleUntil = Date.now() + idleMs;
    this.pool!.release(lease);
  }

  /** Closes a dedicated connection (never pooled); in shared mode only lets go. Safe to call twice. */
  close(): void {
    if (this.detached) return;
    const conn = this.conn;
    const lease = this.lease;
    if (this.pendingTask !== null) this.failPending(new SocketClosedError('receive', this.peer, undefined, 'closed'));
    this.detach();
    if (conn === null) return;
    conn.destroy();
    if (lease !== null) this.pool!.discard(lease);
  }

  // ---------------------------------------------------------------- effect plumbing (internal)

  /** @internal */
  begin(task: Task<unknown>, op: RedisOp): void {
    this.checkOwner(op.command, task);
    if (this.detached) throw new SocketClosedError(op.command, this.peer);
    if (this.pendingTask !== null && this.mode !== 'shared') {
      throw new CosocketError('COSOCKET_ERR_SOCKET_BUSY', `${op.command} ${this.peer}: a command is already pending on this connection`);
    }
    if (op.type === READ_REPLY) {
      this.beginReadReply(task);
      return;
    }
    const promise = this.send(op);
    const readMs = readDeadlineMs(op.blockMs, this.readTimeout);
    const pending = new PendingCommand(this, task, op.command, readMs);
    if (readMs > 0) pending.node = commandDeadlines.add(pending, readMs);
    task.waitHandle = pending;
    const dedicated = this.mode !== 'shared';
    if (dedicated) this.pendingTask = task;
    promise.then(
      (reply) => {
        pending.done();
        if (pending.abandoned) return;
        if (dedicated) this.pendingTask = null;
        if (op.finish === null) {
          task.settleWait(reply, false);
          return;
        }
        let result: unknown;
        try {
          result = op.finish(reply);
        } catch (err) {
          task.settleWait(err, true);
          return;
        }
        task.settleWait(result, false);
      },
      (err: unknown) => {
        pending.done();
        if (pending.abandoned) return;
        if (dedicated) this.pendingTask = null;
        const error = this.mapError(op.command, err);
        if (error.fatal && dedicated) this.close();
        task.settleWait(error.error, true);
      },
    );
  }

  /** @internal a command's read timeout passed: the connection stays usable */
  commandTimedOut(pending: PendingCommand): void {
    if (this.pendingTask === pending.task) this.pendingTask = null;
  }

  /** @internal The coroutine stopped waiting (cancelled): a dedicated connection is closed. */
  abandon(): void {
    if (this.mode === 'shared') return;
    this.endReadReply();
    this.pendingTask = null;
    this.close();
  }

  /** @internal */
  readReplyTimedOut(): void {
    const task = this.pendingTask;
    this.replyTimer = null;
    if (task === null) return;
    this.endReadReply();
    this.pendingTask = null;
    task.settleWait(new SocketTimeoutError('read_reply', this.peer, this.readTimeout), true);
  }

  private send(op: RedisOp): Promise<unknown> {
    const client = this.conn?.client ?? this.shared!;
    if (op.type === BATCH) {
      const batch: ChainableCommander = op.transaction ? client.multi() : client.pipeline();
      for (const [command, args] of op.batch!) {
        if (this.conn !== null) this.conn.track(command);
        else if (SHARED_FORBIDDEN.has(command.toLowerCase())) return Promise.reject(sharedRefusal(command));
        batch.call(command, ...args);
      }
      if (op.transaction) this.conn?.track('exec'); // EXEC ends the transaction and any WATCH
      return batch.exec();
    }
    if (this.conn !== null) this.conn.track(op.command);
    else if (SHARED_FORBIDDEN.has(op.command.toLowerCase())) return Promise.reject(sharedRefusal(op.command));
    return client.call(op.command, ...(op.args as RedisArg[]));
  }

  private pubsub(command: string, names: string[]): Effect<number> {
    if (this.mode === 'shared') {
      throw new InvalidArgumentError(`redis ${command} needs a dedicated connection: use mode 'short' or 'keepalive', not 'shared'`);
    }
    if (names.length === 0 && command.endsWith('subscribe') && !command.includes('un')) {
      throw new InvalidArgumentError(`redis ${command}() needs at least one name`);
    }
    return this.call<number>(command, ...names);
  }

  private beginReadReply(task: Task<unknown>): void {
    const conn = this.conn;
    if (conn === null || !conn.subscribed) {
      throw new InvalidArgumentError(`read_reply ${this.peer}: subscribe first`);
    }
    const message = conn.messages.shift();
    if (message !== undefined) {
      task.settleWait(message, false);
      return;
    }
    if (conn.closed) throw new SocketClosedError('read_reply', this.peer);
    this.pendingTask = task;
    task.waitHandle = null;
    conn.onMessage = () => {
      const next = conn.messages.shift();
      if (next === undefined && !conn.closed) return;
      this.endReadReply();
      this.pendingTask = null;
      if (next !== undefined) task.settleWait(next, false);
      else {
        this.close();
        task.settleWait(new SocketClosedError('read_reply', this.peer), true);
      }
    };
    this.replyTimer = setTimeout(onReadReplyTimeout, this.readTimeout, this);
  }

  private endReadReply(): void {
    if (this.replyTimer !== null) clearTimeout(this.replyTimer);
    this.replyTimer = null;
    if (this.conn !== null) this.conn.onMessage = null;
  }

  private mapError(command: string, err: unknown): { error: unknown; fatal: boolean } {
    if (err instanceof Error && err.name === 'ReplyError') return { error: err, fatal: false };
    if (err instanceof InvalidArgumentError) return { error: err, fatal: false };
    const message = err instanceof Error ? err.message : String(err);
    if (/Connection is closed|Stream isn't writeable/.test(message)) {
      return { error: new SocketClosedError(command, this.peer, undefined, 'closed'), fatal: true };
    }
    return { error: socketErrorFrom(command, this.peer, err), fatal: true };
  }

  private failPending(error: unknown): void {
    const task = this.pendingTask;
    this.endReadReply();
    this.pendingTask = null;
    if (task !== null) {
      const pending = task.waitHandle as Pending | null;
      if (pending !== null) pending.abandoned = true;
      task.settleWait(error, true);
    }
  }

  private checkOwner(op: string, task: Task<unknown> | null): void {
    if (task === null || task.root !== this.owner) {
      throw new CosocketError(
        'COSOCKET_ERR_SOCKET_OWNER',
        `${op} ${this.peer}: this Redis connection belongs to coroutine '${this.owner.name}'${task === null ? ' and was used outside any coroutine' : `, not '${task.name}'`}`,
      );
    }
  }

  private detach(): void {
    this.detached = true;
    this.owner.removeCleanup(this.closeWithOwner);
    this.conn = null;
    this.lease = null;
  }

  /** @internal */
  runBatch(commands: Array<[string, RedisArg[]]>, transaction: boolean, specs: Array<CommandSpec | null> = []): Effect<BatchResult[] | null> {
    const command = transaction ? 'exec' : 'pipeline';
    const finish = specs.some((spec) => spec?.map !== undefined) ? (reply: unknown) => mapBatchReplies(reply as BatchResult[] | null, commands, specs) : null;
    return new Effect<BatchResult[] | null>(REDIS_OP, this, new RedisOp(BATCH, command, [], commands, transaction, finish));
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
    return this.client.runBatch(this.commands.splice(0), this.transaction, this.specs.splice(0));
  }
}

// The typed command methods, one per row of the table in commands.ts.
export interface RedisClient extends ClientCommands {}
export interface RedisBatch extends BatchCommands<RedisBatch> {}
installCommands(RedisClient.prototype, RedisBatch.prototype);
