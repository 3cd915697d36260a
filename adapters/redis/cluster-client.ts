import { InvalidArgumentError } from '../../src/errors/index.js';
import type { Effect, Operation } from '../../src/runtime/effect.js';
import { call } from '../../src/runtime/effects/call.js';
import { currentTask } from '../../src/runtime/task.js';
import type { Task } from '../../src/runtime/task.js';
import { RedisClient } from './client.js';
import type { BatchResult, PubSubMessage, RedisArg } from './client.js';
import type { CommandSpec } from './commands.js';
import type { QueuedCommand } from './cluster-route.js';
import { clusterTopology } from './cluster-topology.js';
import { routeCommand, routePipeline, routeTransaction } from './cluster-route.js';
import type { ClusterRoute } from './cluster-route.js';
import type { ConnectSettings } from './connect-server.js';
import type { RedisTarget } from './url.js';

/** Commands that need one connection's state kept between commands, which a routed client cannot give. */
const NEEDS_ONE_CONNECTION = new Set([
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'monitor',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'select',
  'auth',
  'hello',
  'client',
  'reset',
  'quit',
  'asking',
  'readonly',
  'readwrite',
]);

function oneConnectionRefusal(what: string, mode: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `redis ${what} on a redis+cluster:// connection in mode '${mode}': each command may go to another node's connection, ` +
      `so connection state (pub/sub, MULTI/WATCH, SELECT, AUTH, CLIENT ...) is not kept; ` +
      `use multi() for a transaction, or connect to one node's redis:// URL for the rest`,
  );
}

const NO_SPEC: CommandSpec = {};

/**
 * A short or keepalive connection to a Redis Cluster (like lua-resty-redis-cluster): every command goes
 * to the master of its key's slot, on a connection of that node (keepalive: from the node's pool and
 * back to it after the command; short: opened and closed per command), following MOVED and ASK.
 * Pipelines are split by node and their results put back in order; a transaction goes to the node of
 * its first key. setkeepalive()/close() only end its use: its connections are already back.
 */
export class ClusterClient extends RedisClient {
  private readonly route: ClusterRoute;
  private ended = false;

  /** @internal made by redis.connect */
  constructor(target: RedisTarget, settings: ConnectSettings, owner: Task<unknown>) {
    super(settings.mode, target.peer, owner, settings.readTimeout, null, null, settings.maxBulk);
    this.route = {
      topology: clusterTopology(target, settings.connectTimeout),
      settings,
      readTimeout: settings.readTimeout,
    };
  }

  override get closed(): boolean {
    return this.ended;
  }

  override call<T = unknown>(command: string, ...args: RedisArg[]): Effect<T> {
    if (typeof command !== 'string' || command === '')
      throw new InvalidArgumentError('redis call() needs a command name');
    return this.run<T>(command, args, NO_SPEC);
  }

  /** @internal a typed command of the command table */
  override run<T>(command: string, args: RedisArg[], spec: CommandSpec): Effect<T> {
    this.check(command);
    return call(routeCommand<T>, this.route, command, args, spec);
  }

  /** @internal */
  override runBatch(
    batch: Array<[string, RedisArg[]]>,
    transaction: boolean,
    specs: Array<CommandSpec | null>,
  ): Effect<BatchResult[] | null> {
    const commands: QueuedCommand[] = batch.map(([command, args], i) => ({ command, args, spec: specs[i] ?? NO_SPEC }));
    for (const queued of commands) this.check(queued.command);
    if (transaction) return call(routeTransaction, this.route, commands);
    return call(
      function* (route: ClusterRoute, queued: ReadonlyArray<QueuedCommand>): Operation<BatchResult[] | null> {
        return yield* routePipeline(route, queued);
      },
      this.route,
      commands,
    );
  }

  override readReply(): Effect<PubSubMessage> {
    throw oneConnectionRefusal('read_reply', this.mode);
  }

  override settimeout(readMs: number): void {
    super.settimeout(readMs);
    this.route.readTimeout = readMs;
  }

  /** setkeepalive() only ends its use: its connections went back after each command. */
  protected override get poolable(): boolean {
    return false;
  }

  override close(): void {
    this.ended = true;
  }

  private check(command: string): void {
    this.checkUse(command);
    if (NEEDS_ONE_CONNECTION.has(command.toLowerCase())) throw oneConnectionRefusal(command.toUpperCase(), this.mode);
  }
}

/** redis.connect() for a cluster URL in short/keepalive mode: the slot map is loaded (once per process) before the client is handed out. */
export function* connectCluster(target: RedisTarget, settings: ConnectSettings): Operation<RedisClient> {
  const client = new ClusterClient(target, settings, currentTask()!.root);
  const topology = clusterTopology(target, settings.connectTimeout);
  if (topology.slots === null) yield* call(topology.reload());
  return client;
}
