import type { IncomingHttpHeaders } from 'node:http';
import { timeout } from '../runtime/effects/group.js';
import type { Operation } from '../runtime/effect.js';
import { TimeoutError } from '../errors/index.js';
import { definedBalancer } from './balancer-registry.js';
import type { BalancerContext, BalancerPeer } from './balancer-registry.js';
import type { GroupBalancer, Peer } from './balancer.js';
import type { CoroutineBalancerRef } from './upstream.js';

/** A peer as a coroutine balancer sees it: read-only views of its live state. */
class PeerView implements BalancerPeer {
  constructor(
    readonly peer: Peer,
    private readonly balancer: GroupBalancer,
  ) {}

  get address(): string {
    return this.peer.address;
  }
  get weight(): number {
    return this.peer.server.weight;
  }
  get backup(): boolean {
    return this.peer.server.backup;
  }
  get available(): boolean {
    return this.balancer.usable(this.peer, NONE);
  }
  get active(): number {
    return this.peer.active;
  }
  get fails(): number {
    return this.peer.fails;
  }
  get headerTime(): number {
    return this.peer.timeNow('header', performance.now(), this.balancer.decay);
  }
  get lastByteTime(): number {
    return this.peer.timeNow('last_byte', performance.now(), this.balancer.decay);
  }
  get route(): string | null {
    return this.peer.server.route ?? null;
  }
}

const NONE: ReadonlySet<Peer> = new Set();
const NOTHING_TRIED: readonly string[] = Object.freeze([]);

/** Each group version's peer views, made once. */
const views = new WeakMap<GroupBalancer, readonly PeerView[]>();

function viewsOf(balancer: GroupBalancer): readonly PeerView[] {
  let list = views.get(balancer);
  if (list === undefined)
    views.set(balancer, (list = Object.freeze(balancer.peers.map((p) => new PeerView(p, balancer)))));
  return list;
}

/** The request as a coroutine balancer sees it. */
export interface PickRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** Where a coroutine balancer's failures go: at most a line a second per group. */
export type PickLog = (group: string, line: string) => void;

/**
 * The peer a group's coroutine balancer picks for this try, or null for the built-in balancer to decide:
 * when it answers null, fails, runs past its budget, or names a server that cannot take the request
 * (those three counted as fallbacks and logged). A coroutine that never yields costs a call; one that
 * yields runs under `timeout()`, in the request's coroutine, so a client going away cancels it.
 */
export function* coroutinePick(
  ref: CoroutineBalancerRef,
  balancer: GroupBalancer,
  request: PickRequest,
  clientIp: string,
  tried: ReadonlySet<Peer>,
  log: PickLog,
): Operation<Peer | null> {
  const name = balancer.group.name;
  balancer.coroutineRuns++;
  const pick = definedBalancer(ref.name);
  if (pick === undefined) return fallback(balancer, log, `balancer '${ref.name}' is not defined in this process`);
  const ctx: BalancerContext = {
    group: name,
    request: { method: request.method, path: request.url, headers: request.headers, clientIp },
    peers: viewsOf(balancer),
    tried: tried.size === 0 ? NOTHING_TRIED : [...tried].map((p) => p.address),
  };
  let answer: unknown;
  try {
    const run = pick(ctx);
    const first = run.next();
    answer = first.done ? first.value : yield* timeout(ref.timeout, resume(run, first.value));
  } catch (err) {
    const why =
      err instanceof TimeoutError
        ? `balancer '${ref.name}' took longer than balancer_timeout ${ref.timeout}ms`
        : `balancer '${ref.name}' failed: ${err instanceof Error ? err.message : String(err)}`;
    return fallback(balancer, log, why);
  }
  if (answer === null || answer === undefined) return null;
  const peer = peerOf(balancer, answer);
  if (peer === null)
    return fallback(balancer, log, `balancer '${ref.name}' answered ${describe(answer)}, not a server of the group`);
  if (!balancer.usable(peer, tried))
    return fallback(balancer, log, `balancer '${ref.name}' picked ${peer.address}, which cannot take the request now`);
  return peer;
}

/** The rest of a coroutine that yielded `yielded` first: `yield*` by hand, its `finally` run when it is cut short. */
function* resume(run: Operation<unknown>, yielded: unknown): Operation<unknown> {
  let step: IteratorResult<unknown, unknown> = { done: false, value: yielded };
  let finished = false;
  try {
    while (!step.done) {
      let input: unknown;
      try {
        input = yield step.value as never;
      } catch (err) {
        step = run.throw(err);
        continue;
      }
      step = run.next(input);
    }
    finished = true;
    return step.value;
  } finally {
    if (!finished) run.return(undefined);
  }
}

function peerOf(balancer: GroupBalancer, answer: unknown): Peer | null {
  if (answer instanceof PeerView) return owned(balancer, answer.peer);
  if (typeof answer === 'string') {
    for (const peer of balancer.primaries) if (peer.address === answer) return peer;
    for (const peer of balancer.backups) if (peer.address === answer) return peer;
  }
  return null;
}

/** A view of another group version's peer counts only if the peer is still this group's. */
function owned(balancer: GroupBalancer, peer: Peer): Peer | null {
  return balancer.primaries.includes(peer) || balancer.backups.includes(peer) ? peer : null;
}

function describe(answer: unknown): string {
  if (typeof answer === 'string') return `'${answer.slice(0, 80)}'`;
  return typeof answer;
}

function fallback(balancer: GroupBalancer, log: PickLog, why: string): null {
  balancer.coroutineFallbacks++;
  const now = Date.now();
  if (now - balancer.fallbackLoggedAt < 1_000) return null;
  balancer.fallbackLoggedAt = now;
  log(
    balancer.group.name,
    `dyups proxy: upstream '${balancer.group.name}': ${why}; the group's built-in balancer decides`,
  );
  return null;
}
