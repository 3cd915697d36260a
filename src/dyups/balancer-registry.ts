import { InvalidArgumentError } from '../errors/index.js';
import type { Operation } from '../runtime/effect.js';
import type { IncomingHttpHeaders } from 'node:http';

/** One server of the group as a coroutine balancer sees it: its settings and its live state, read-only. */
export interface BalancerPeer {
  readonly address: string;
  readonly weight: number;
  readonly backup: boolean;
  /** usable now: not down, draining, failing its check or failed max_fails times, and below max_conns */
  readonly available: boolean;
  /** requests in flight to it */
  readonly active: number;
  /** failures within the current fail_timeout window */
  readonly fails: number;
  /** the moving average of the time to its response head, ms (0 before any) */
  readonly headerTime: number;
  /** the moving average of the time to its response's last byte, ms (0 before any) */
  readonly lastByteTime: number;
  /** NGINX Plus' `route=` of its server line, or null */
  readonly route: string | null;
}

/** What a coroutine balancer is given for each try of a request. */
export interface BalancerContext {
  /** the group's name */
  readonly group: string;
  readonly request: {
    readonly method: string;
    /** the target as sent: path and query */
    readonly path: string;
    readonly headers: IncomingHttpHeaders;
    /** the client's address ($remote_addr, after set_real_ip_from) */
    readonly clientIp: string;
  };
  /** the group's servers, primaries then backups */
  readonly peers: readonly BalancerPeer[];
  /** the servers already tried for this request (retries), by address */
  readonly tried: readonly string[];
}

/**
 * A balancer written as a coroutine: returns one of `ctx.peers` (or its address), or null to let the
 * group's built-in balancer decide; may `yield*` cosocket effects (a Redis lookup, say) within the
 * group's `balancer_timeout`.
 */
export type CoroutineBalancer = (ctx: BalancerContext) => Operation<BalancerPeer | string | null | undefined>;

const registry = new Map<string, CoroutineBalancer>();

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Registers a coroutine balancer under `name` for groups' `balancer NAME;` lines (a later definition replaces it). */
export function defineBalancer(name: string, balancer: CoroutineBalancer): void {
  if (typeof name !== 'string' || !NAME.test(name))
    throw new InvalidArgumentError(
      `defineBalancer: a balancer name is a letter or _, then letters, digits, _ . - (64 at most), got ${JSON.stringify(name)}`,
    );
  if (typeof balancer !== 'function')
    throw new InvalidArgumentError(`defineBalancer('${name}'): expected a generator function, got ${typeof balancer}`);
  registry.set(name, balancer);
}

/** The balancer registered under `name`, if any. */
export function definedBalancer(name: string): CoroutineBalancer | undefined {
  return registry.get(name);
}

/** The names registered, sorted (for errors naming what could have been meant). */
export function definedBalancerNames(): string[] {
  return [...registry.keys()].sort();
}

/** Forgets a registered balancer (tests; a group naming it falls back to its built-in balancer). */
export function undefineBalancer(name: string): boolean {
  return registry.delete(name);
}

/** Whether `name` can be a balancer's name. */
export function isBalancerName(name: string): boolean {
  return NAME.test(name);
}
