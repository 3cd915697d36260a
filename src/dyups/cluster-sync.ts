import type { Worker } from 'node:cluster';
import type { ServerHealth } from './balancer.js';
import { isGroupName } from './group-name.js';
import type { UpstreamGroup } from './upstream.js';
import type { UpstreamTable } from './table.js';

/** Messages between the cluster primary (which owns the table) and the workers (which proxy). */
export type DyupsMessage =
  | { type: 'dyups-snapshot'; groups: UpstreamGroup[]; version: number }
  | { type: 'dyups-change'; name: string; group: UpstreamGroup | null; version: number }
  | { type: 'dyups-ack'; version: number }
  | { type: 'dyups-hello' }
  | { type: 'dyups-health-query'; id: number; name: string }
  | { type: 'dyups-health'; id: number; servers: Array<[string, ServerHealth]> };

export function isDyupsMessage(message: unknown): message is DyupsMessage {
  return (
    typeof message === 'object' && message !== null && String((message as { type?: unknown }).type).startsWith('dyups-')
  );
}

/**
 * The primary's side: sends every accepted change to every worker and lets the admin interface wait
 * until all of them applied it, so a change is visible on every worker before `success` goes out.
 */
export class PrimarySync {
  private readonly acked = new Map<Worker, number>();
  private waiters: Array<() => void> = [];
  private readonly healthQueries = new Map<number, (servers: Array<[string, ServerHealth]>) => void>();
  private nextQuery = 0;

  constructor(private readonly table: UpstreamTable) {
    table.onChange((name, group) => {
      for (const worker of this.acked.keys())
        send(worker, { type: 'dyups-change', name, group, version: table.version });
    });
  }

  /** A new worker: gets the whole table, then every change. */
  add(worker: Worker): void {
    this.acked.set(worker, -1);
    worker.on('message', (message: unknown) => {
      if (!isDyupsMessage(message)) return;
      if (message.type === 'dyups-hello') {
        // the worker listens for changes now: the whole table first
        send(worker, { type: 'dyups-snapshot', groups: this.table.all(), version: this.table.version });
      } else if (message.type === 'dyups-health') {
        this.healthQueries.get(message.id)?.(message.servers);
      } else if (message.type === 'dyups-ack') {
        this.acked.set(worker, Math.max(this.acked.get(worker) ?? -1, message.version));
        this.wake();
      }
    });
    worker.once('exit', () => {
      this.acked.delete(worker);
      this.wake();
    });
  }

  /** Resolves once every live worker applied `version` (or after `limitMs`, for a worker that hangs). */
  async applied(version: number, limitMs = 2_000): Promise<void> {
    const end = Date.now() + limitMs;
    while ([...this.acked.values()].some((v) => v < version) && Date.now() < end) {
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.max(1, end - Date.now())).unref();
      });
    }
  }

  /**
   * Each server's live state summed over the workers (which do the balancing): requests in flight,
   * requests and failures added up, the most recent failures (`fails`) any worker saw, available only if
   * available on every worker, down if any worker's check says so. A worker that does not answer within
   * `limitMs` is left out.
   */
  async health(name: string, limitMs = 500): Promise<Map<string, ServerHealth>> {
    const answers = await Promise.all(
      [...this.acked.keys()]
        .filter((w) => w.isConnected())
        .map(
          (worker) =>
            new Promise<Array<[string, ServerHealth]>>((resolve) => {
              const id = this.nextQuery++;
              const timer = setTimeout(() => finish([]), limitMs);
              const finish = (servers: Array<[string, ServerHealth]>): void => {
                clearTimeout(timer);
                this.healthQueries.delete(id);
                resolve(servers);
              };
              this.healthQueries.set(id, finish);
              send(worker, { type: 'dyups-health-query', id, name });
            }),
        ),
    );
    const out = new Map<string, ServerHealth>();
    for (const servers of answers) {
      for (const [address, h] of servers) {
        const sum = out.get(address);
        if (sum === undefined) out.set(address, { ...h });
        else {
          sum.active += h.active;
          sum.openTunnels += h.openTunnels;
          sum.tunnels += h.tunnels;
          sum.requests += h.requests;
          sum.failures += h.failures;
          sum.fails = Math.max(sum.fails, h.fails);
          sum.available &&= h.available;
          if (h.headerTime !== undefined) sum.headerTime = Math.max(sum.headerTime ?? 0, h.headerTime);
          if (h.lastByteTime !== undefined) sum.lastByteTime = Math.max(sum.lastByteTime ?? 0, h.lastByteTime);
          if (h.balancerRuns !== undefined) sum.balancerRuns = (sum.balancerRuns ?? 0) + h.balancerRuns;
          if (h.balancerFallbacks !== undefined)
            sum.balancerFallbacks = (sum.balancerFallbacks ?? 0) + h.balancerFallbacks;
          if (h.check === 'down' || sum.check === null) sum.check = h.check;
        }
      }
    }
    return out;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

function send(worker: Worker, message: DyupsMessage): void {
  // with a callback, a worker that exits between the check and the send fails the send, not the primary
  if (worker.isConnected()) worker.send(message, () => {});
}

/** A worker's side: applies the primary's snapshot and changes to its replica, acknowledging each. */
export function followPrimary(table: UpstreamTable): Promise<void> {
  return new Promise((resolve) => {
    process.on('message', (message: unknown) => {
      if (!isDyupsMessage(message)) return;
      // the primary validated every name; a worker still never takes one that could not have been
      if (message.type === 'dyups-snapshot') {
        const groups = message.groups.filter((g) => isGroupName(g.name));
        for (const group of table.all())
          if (!groups.some((g) => g.name === group.name)) table.replicate(group.name, null, message.version);
        for (const group of groups) table.replicate(group.name, group, message.version);
        process.send?.({ type: 'dyups-ack', version: message.version } satisfies DyupsMessage, ignoreSendError);
        resolve();
      } else if (message.type === 'dyups-change') {
        if (isGroupName(message.name)) table.replicate(message.name, message.group, message.version);
        process.send?.({ type: 'dyups-ack', version: message.version } satisfies DyupsMessage, ignoreSendError);
      }
    });
    process.send?.({ type: 'dyups-hello' } satisfies DyupsMessage, ignoreSendError);
  });
}

/** A worker's side: answers the primary's health queries from its balancers. */
export function answerHealthQueries(health: (name: string) => Map<string, ServerHealth>): void {
  process.on('message', (message: unknown) => {
    if (!isDyupsMessage(message) || message.type !== 'dyups-health-query') return;
    process.send?.(
      { type: 'dyups-health', id: message.id, servers: [...health(message.name)] } satisfies DyupsMessage,
      ignoreSendError,
    );
  });
}

/** A worker whose primary has gone: the send fails into this callback rather than an unhandled 'error'. */
function ignoreSendError(): void {}
