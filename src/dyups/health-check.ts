import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import type { TlsOptions } from '../../adapters/tcp/index.js';
import { defineKind } from '../runtime/effect.js';
import type { Effect, Operation, Waiter } from '../runtime/effect.js';
import { abortable } from '../runtime/effects/control.js';
import { Scope } from '../runtime/scope.js';
import type { Task } from '../runtime/types.js';
import { upstreamTls } from './upstream-tls.js';
import type { Balancers, Peer } from './balancer.js';
import { endpointOf } from './upstream.js';
import type { HealthCheck, UpstreamGroup } from './upstream.js';

/** node's TLS options for a probe of a `proxy_ssl on` group: the same name and verification as the proxy's. */
function probeTls(tls: TlsOptions): ConnectionOptions {
  const name = tls.servername!;
  return {
    ...(tls.sni === false
      ? { checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert) }
      : { servername: name }),
    rejectUnauthorized: tls.verify !== false,
    ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer }),
  };
}

/**
 * One probe: connects (tcp), or sends `check_http_send` and reads the status line (http). With `tls`
 * (a group with proxy_ssl on) the connection is TLS, verified as the proxy's are: a handshake that
 * fails is a failed probe. An abort of `signal` ends it at once (false), its socket destroyed.
 */
export function probe(address: string, check: HealthCheck, tls?: TlsOptions, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const endpoint = endpointOf(address);
    const target =
      'path' in endpoint
        ? { path: endpoint.path }
        : { host: endpoint.host, port: check.port !== 0 ? check.port : endpoint.port };
    const socket: Socket = tls === undefined ? connect(target) : tlsConnect({ ...target, ...probeTls(tls) });
    let settled = false;
    const onAbort = (): void => done(false);
    const done = (healthy: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(healthy);
    };
    const timer = setTimeout(() => done(false), check.timeout);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', () => done(false));
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      if (check.type === 'tcp') return done(true);
      let head = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        head += chunk;
        const match = /^HTTP\/\d\.\d (\d)\d\d/.exec(head);
        if (match !== null) done(check.httpExpectAlive.includes(`http_${match[1]}xx`));
        else if (head.includes('\n') || head.length > 1024) done(false);
      });
      socket.once('end', () => done(false));
      socket.write(check.httpSend);
    });
  });
}

/**
 * All health checks together start at most this many probes a second: probes are spaced
 * 1000/MAX_PROBES_PER_SECOND ms apart, so many checked servers stretch each server's interval
 * (2,500 servers with `interval=100` are probed every 12.5 s each, not 25,000 times a second).
 */
export const MAX_PROBES_PER_SECOND = 200;
const PROBE_SPACING_MS = 1_000 / MAX_PROBES_PER_SECOND;

interface Probed {
  peer: Peer;
  /** the group version probed: its TLS is set up again while it cannot be */
  group: UpstreamGroup;
  check: HealthCheck;
  /**
   * the group's TLS (proxy_ssl on): the object changes with its settings; null: it cannot be set up (its
   * trusted certificate file is gone or bad): the probe fails, and the next one reads the file again
   */
  tls: TlsOptions | undefined | null;
  /** consecutive successes / failures */
  rises: number;
  falls: number;
  /** the coroutine that probes this server, in the checker's scope */
  task: Task<void> | null;
}

/** The group's TLS for its probes; null when its trusted certificate file cannot be used (the proxy logs why). */
function checkTlsOf(group: UpstreamGroup): TlsOptions | undefined | null {
  const known = upstreamTls(group);
  return 'problem' in known ? null : known.tls;
}

function wake(waiter: Waiter): void {
  waiter.settleWait(undefined, false);
}

/** A wait between probes that does not keep the process alive on its own (as the timers of probes never did). */
const PAUSE = defineKind<number, undefined, NodeJS.Timeout>({
  name: 'health-check pause',
  start(waiter, ms) {
    waiter.waitHandle = setTimeout(wake, ms, waiter).unref();
  },
  abandon(waiter) {
    clearTimeout(waiter.waitHandle);
  },
});

function pause(ms: number): Effect<void> {
  return PAUSE(ms);
}

/** Probes one server every `interval` (paced with every other check) and keeps its verdict. */
function* checkServer(checker: HealthChecker, probed: Probed): Operation<void> {
  const { peer, check } = probed;
  let interval = 0;
  for (;;) {
    yield* pause(checker.delayUntilSlot(interval));
    interval = check.interval;
    const tls = probed.tls === null ? (probed.tls = checkTlsOf(probed.group)) : probed.tls;
    const healthy = tls !== null && (yield* abortable((signal) => probe(peer.address, check, tls, signal)));
    if (healthy) {
      probed.rises++;
      probed.falls = 0;
      if (peer.checkedHealthy !== true && probed.rises >= check.rise) peer.checkedHealthy = true;
    } else {
      probed.falls++;
      probed.rises = 0;
      if (peer.checkedHealthy !== false && probed.falls >= check.fall) peer.checkedHealthy = false;
    }
  }
}

/**
 * Active health checks (nginx_upstream_check_module's `check`): every server of a group with a `check`
 * line is probed every `interval`; `rise` successes in a row mark it up, `fall` failures in a row mark
 * it down, and the balancers skip it while it is down. A server starts down when `default_down` is true
 * (the module's default). A server kept by an update keeps its verdict.
 *
 * Each checked server is probed by a coroutine of `scope` (by default a scope of the checker's own):
 * closing the scope, or `close()`, stops every probe, one in flight included.
 */
export class HealthChecker {
  private readonly probed = new Map<string, Probed>();
  /** when the next probe may start (ms): the global pacing of every check */
  private nextSlot = 0;
  private readonly scope: Scope;
  private readonly ownScope: boolean;

  constructor(
    private readonly balancers: Balancers,
    scope?: Scope,
  ) {
    this.ownScope = scope === undefined;
    this.scope = scope ?? new Scope({ name: 'health checks' });
  }

  /** Call after balancers.set for the same change. */
  set(group: UpstreamGroup | null, name: string): void {
    const keep = new Set<string>();
    if (group !== null && group.check !== null) {
      const balancer = this.balancers.get(name);
      for (const peer of balancer === undefined ? [] : [...balancer.primaries, ...balancer.backups]) {
        const key = `${name}\0${peer.address}`;
        keep.add(key);
        const known = this.probed.get(key);
        const tls = checkTlsOf(group);
        if (known !== undefined && known.peer === peer && sameCheck(known.check, group.check) && known.tls === tls)
          continue;
        if (known !== undefined) this.stop(key, known.peer !== peer); // new check settings keep the verdict
        this.start(key, peer, group, tls);
      }
    }
    for (const key of [...this.probed.keys()]) if (key.startsWith(`${name}\0`) && !keep.has(key)) this.stop(key);
  }

  /** Stops every probe; resolves once they have all stopped (its own scope closed, if it has one). */
  async close(): Promise<void> {
    const tasks: Promise<void>[] = [];
    for (const probed of this.probed.values()) if (probed.task !== null) tasks.push(probed.task.toPromise());
    for (const key of [...this.probed.keys()]) this.stop(key);
    if (this.ownScope) await this.scope.close();
    // settled either way: a probe's cancellation is how it stops, not a failure to report
    await Promise.allSettled(tasks);
  }

  private start(key: string, peer: Peer, group: UpstreamGroup, tls: TlsOptions | undefined | null): void {
    if (this.scope.closed) return; // shutting down: a change arriving now starts no probing
    const check = group.check!;
    if (peer.checkedHealthy === null) peer.checkedHealthy = !check.defaultDown;
    const probed: Probed = { peer, group, check, tls, rises: 0, falls: 0, task: null };
    this.probed.set(key, probed);
    probed.task = this.scope.start({ name: `check ${peer.address}` }, checkServer, this, probed);
  }

  /** @internal The wait before a probe due in `interval` ms, taking the next free slot of the global pacing. */
  delayUntilSlot(interval: number): number {
    const now = Date.now();
    const at = Math.max(now + interval, this.nextSlot);
    this.nextSlot = at + PROBE_SPACING_MS;
    return at - now;
  }

  private stop(key: string, forget = true): void {
    const probed = this.probed.get(key);
    if (probed === undefined) return;
    probed.task?.cancel('health check stopped');
    if (forget) probed.peer.checkedHealthy = null;
    this.probed.delete(key);
  }
}

function sameCheck(a: HealthCheck, b: HealthCheck): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
