import {
  DubiousStateError,
  RedisClusterReplyError,
  RedisReplyError,
  SocketError,
  SocketTimeoutError,
} from '../../src/errors/index.js';
import type { Operable, Operation } from '../../src/runtime/effect.js';
import { call } from '../../src/runtime/effects/call.js';
import { all } from '../../src/runtime/effects/group.js';
import type { BatchResult, RedisArg, RedisClient } from './client.js';
import type { CommandSpec } from './commands.js';

import type { ClusterSlotMap } from './cluster-map.js';
import { firstKeyIndex, keySlot, parseRedirect } from './cluster-slot.js';
import type { Redirect } from './cluster-slot.js';
import type { ClusterTopology } from './cluster-topology.js';
import { connectServer } from './connect-server.js';
import type { ConnectSettings } from './connect-server.js';
import { nodeTarget } from './url.js';
import type { RedisAddress } from './url.js';

/** A command of a routed pipeline or transaction, with its typed method's spec. */
export interface QueuedCommand {
  command: string;
  args: RedisArg[];
  spec: CommandSpec;
}

/** Redirects one command follows before its last error is passed on (like lua-resty-redis-cluster). */
export const MAX_REDIRECTS = 5;

/** How a cluster client reaches its nodes: the shared slot map, and how each node's connections are made. */
export interface ClusterRoute {
  readonly topology: ClusterTopology;
  /** mode 'short' or 'keepalive'; `pool`, when set, names a pool per node (`name@host:port`). */
  readonly settings: ConnectSettings;
  readTimeout: number;
}

/** Sends one exchange to a node's connection; `asking` when it must be preceded by ASKING. */
type Exchange<T> = (client: RedisClient, asking: boolean) => Operable<T>;

let nextKeyless = 0;

function slotOf(command: string, args: readonly RedisArg[]): number | null {
  const at = firstKeyIndex(command, args);
  if (at === null) return null;
  const key = args[at]!;
  return keySlot(typeof key === 'number' ? String(key) : key);
}

function* slotMap(topology: ClusterTopology): Operation<ClusterSlotMap> {
  return topology.slots ?? (yield* call(topology.reload()));
}

/** The master serving `slot`; a command without a key goes to the masters in turn. */
function nodeFor(map: ClusterSlotMap, slot: number | null, route: ClusterRoute): RedisAddress {
  if (slot === null) {
    const masters = map.masters();
    if (masters.length === 0)
      throw new RedisClusterReplyError(`${route.topology.target.peer}: the slot map names no master`);
    return masters[nextKeyless++ % masters.length]!;
  }
  const node = map.nodeForSlot(slot);
  if (node === null)
    throw new RedisClusterReplyError(
      `${route.topology.target.peer}: no node serves slot ${slot} (the cluster does not cover every slot)`,
    );
  return node;
}

function redirectOf(err: unknown): Redirect | null {
  return err instanceof RedisReplyError ? parseRedirect(err.message) : null;
}

function* openNode(route: ClusterRoute, node: RedisAddress): Operation<RedisClient> {
  const { settings } = route;
  const pool = settings.pool === undefined ? undefined : `${settings.pool}@${node.host}:${node.port}`;
  const client = yield* connectServer(
    nodeTarget(route.topology.target, node),
    pool === undefined ? settings : { ...settings, pool },
  );
  if (route.readTimeout !== settings.readTimeout) client.settimeout(route.readTimeout);
  return client;
}

/** keepalive: back to its node's pool when the exchange ended cleanly; otherwise, and in short mode, closed. */
function release(client: RedisClient, route: ClusterRoute, clean: boolean): void {
  if (!clean || route.settings.mode !== 'keepalive') {
    client.close();
    return;
  }
  try {
    client.setkeepalive();
  } catch (err) {
    if (!(err instanceof DubiousStateError)) throw err; // it was closed instead: nothing lost
  }
}

/**
 * Runs `exchange` on the node that serves `slot`, following MOVED (the map learns the new owner) and
 * ASK (once, with ASKING first) up to MAX_REDIRECTS times. A node that cannot be connected to makes
 * the map load again and the exchange go once more; an error after the exchange was sent is passed on
 * (the command may have run), but reloads the map for the commands that follow.
 */
function* routed<T>(
  route: ClusterRoute,
  slot: number | null,
  exchange: Exchange<T>,
  first: Redirect | null = null,
): Operation<T> {
  const map = yield* slotMap(route.topology);
  let node = nodeFor(map, slot, route);
  let asking = false;
  let redirects = 0;
  let reloaded = false;
  let redirect = first;
  for (;;) {
    if (redirect !== null) {
      redirects++;
      const host = redirect.host === '' || redirect.host === '?' ? node.host : redirect.host;
      asking = redirect.kind === 'ask';
      node = asking ? { host, port: redirect.port } : map.moved(redirect.slot, host, redirect.port);
      redirect = null;
    }
    let client: RedisClient;
    try {
      client = yield* openNode(route, node);
    } catch (err) {
      if (reloaded || !(err instanceof SocketError)) throw err;
      reloaded = true;
      yield* call(route.topology.reload(node));
      node = nodeFor(map, slot, route);
      asking = false;
      continue;
    }
    let clean = false;
    try {
      const reply = yield* exchange(client, asking);
      clean = true;
      return reply;
    } catch (err) {
      clean = err instanceof RedisReplyError;
      redirect = redirectOf(err);
      if (redirect === null || redirects >= MAX_REDIRECTS) {
        if (err instanceof SocketError && !(err instanceof SocketTimeoutError))
          route.topology.reload(node).catch(() => {});
        throw err;
      }
    } finally {
      release(client, route, clean);
    }
  }
}

function commandExchange<T>(command: string, args: RedisArg[], spec: CommandSpec): Exchange<T> {
  return function* (client, asking) {
    if (!asking) return yield* client.run<T>(command, args, spec);
    const [, [err, reply]] = (yield* client.pipeline().call('ASKING').queue(command, args, spec).exec()) as [
      BatchResult,
      BatchResult,
    ];
    if (err !== null) throw err;
    return reply as T;
  };
}

/** One command, on the node of its key's slot (any master when it has no key). */
export function* routeCommand<T>(
  route: ClusterRoute,
  command: string,
  args: RedisArg[],
  spec: CommandSpec,
  first: Redirect | null = null,
): Operation<T> {
  return yield* routed(route, slotOf(command, args), commandExchange<T>(command, args, spec), first);
}

function specOf(queued: QueuedCommand): CommandSpec {
  return queued.spec;
}

/** A command's result in a pipeline: its reply, or its error reply; any other error fails the pipeline. */
function* settled(op: Operation<unknown>): Operation<BatchResult> {
  try {
    return [null, yield* op];
  } catch (err) {
    if (err instanceof RedisReplyError) return [err, null];
    throw err;
  }
}

/** The commands of a pipeline one node serves, sent in one write; redirected ones are sent again alone. */
function* nodePipeline(
  route: ClusterRoute,
  node: RedisAddress,
  indices: number[],
  commands: ReadonlyArray<QueuedCommand>,
  results: BatchResult[],
): Operation<void> {
  let client: RedisClient | null = null;
  try {
    client = yield* openNode(route, node);
  } catch (err) {
    if (!(err instanceof SocketError)) throw err;
  }
  if (client === null) {
    // that node cannot be reached: each command goes alone, through a map loaded again
    for (const i of indices)
      results[i] = yield* settled(routeCommand(route, commands[i]!.command, commands[i]!.args, specOf(commands[i]!)));
    return;
  }
  let clean = false;
  try {
    const batch = client.pipeline();
    for (const i of indices) batch.queue(commands[i]!.command, commands[i]!.args, specOf(commands[i]!));
    const replies = (yield* batch.exec())!;
    clean = true;
    replies.forEach((result, j) => {
      results[indices[j]!] = result;
    });
  } finally {
    release(client, route, clean);
  }
  for (const i of indices) {
    const redirect = redirectOf(results[i]![0]);
    if (redirect !== null)
      results[i] = yield* settled(
        routeCommand(route, commands[i]!.command, commands[i]!.args, specOf(commands[i]!), redirect),
      );
  }
}

/** A pipeline: one pipeline per node, all at once, results back in the order the commands were queued. */
export function* routePipeline(route: ClusterRoute, commands: ReadonlyArray<QueuedCommand>): Operation<BatchResult[]> {
  const map = yield* slotMap(route.topology);
  const results: BatchResult[] = new Array<BatchResult>(commands.length);
  const groups = new Map<string, { node: RedisAddress; indices: number[] }>();
  commands.forEach((queued, i) => {
    const node = nodeFor(map, slotOf(queued.command, queued.args), route);
    const key = `${node.host}:${node.port}`;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { node, indices: [] }));
    group.indices.push(i);
  });
  const sends = [...groups.values()].map((group) => nodePipeline(route, group.node, group.indices, commands, results));
  if (sends.length === 1) yield* sends[0]!;
  else yield* all(sends);
  return results;
}

const QUEUED_REDIRECT = /\((MOVED [^)]*)\)$/;

/**
 * MULTI/EXEC on the node of its first key (every key must be in that slot: Redis answers CROSSSLOT
 * otherwise, passed on). A transaction refused because its slot moved (EXECABORT, nothing ran) goes
 * again to the new owner.
 */
export function* routeTransaction(
  route: ClusterRoute,
  commands: ReadonlyArray<QueuedCommand>,
): Operation<BatchResult[] | null> {
  const keyed = commands.find((queued) => firstKeyIndex(queued.command, queued.args) !== null);
  const slot = keyed === undefined ? null : slotOf(keyed.command, keyed.args);
  return yield* routed(route, slot, function* (client) {
    const tx = client.multi();
    for (const queued of commands) tx.queue(queued.command, queued.args, specOf(queued));
    try {
      return yield* tx.exec();
    } catch (err) {
      const moved =
        err instanceof RedisReplyError && err.redisCode === 'EXECABORT' ? QUEUED_REDIRECT.exec(err.message) : null;
      throw moved === null ? err : new RedisReplyError(moved[1]!);
    }
  });
}
