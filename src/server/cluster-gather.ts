import type { Worker } from 'node:cluster';
import type { MetricsJson } from './metrics.js';
import type { RouteStats } from '../fastify/route-stats.js';
import type { PoolStats } from '../pool/keepalive-pool.js';
import type { SchedulerStats } from '../runtime/scheduler.js';
import type { TunnelStatus } from '../dyups/tunnel-status.js';

/** One serving process's part of /status (pools in full: the app listener sums the upstream ones). */
export interface ProcessStatus {
  pid: number;
  uptimeSeconds: number;
  scheduler: SchedulerStats;
  pools: Array<PoolStats & { kind: string }>;
  routes: RouteStats[];
  tunnels: TunnelStatus;
}

/** What one process reports about itself when the server's view is put together. */
export interface ProcessReport {
  metrics(): Promise<MetricsJson>;
  status(): ProcessStatus;
}

/** The server's view, whichever process asks: every serving process's metrics and status. */
export interface ServerView {
  metrics(): Promise<MetricsJson[]>;
  statuses(): Promise<ProcessStatus[]>;
}

type What = 'metrics' | 'status';

/** Messages between a cluster's primary and its workers, for /metrics and /status. */
type GatherMessage =
  | { type: 'cosocket-collect'; id: number; what: What }
  | { type: 'cosocket-collected'; id: number; data: unknown }
  | { type: 'cosocket-gather'; id: number; what: What }
  | { type: 'cosocket-gathered'; id: number; data: unknown[] };

function isGatherMessage(message: unknown): message is GatherMessage {
  const type = (message as { type?: unknown } | null)?.type;
  return (
    typeof type === 'string' && type.startsWith('cosocket-') && typeof (message as { id?: unknown }).id === 'number'
  );
}

/** One process serving alone: its own report is the server's. */
export function singleView(self: ProcessReport): ServerView {
  return {
    metrics: async () => [await self.metrics()],
    statuses: async () => [self.status()],
  };
}

/**
 * The primary's side: asks every worker for its report (a worker that does not answer within `limitMs`
 * is left out), for the primary's own listeners and for any worker that asks on behalf of its own.
 */
export class PrimaryGather implements ServerView {
  private readonly workers = new Set<Worker>();
  private readonly waiting = new Map<number, (data: unknown) => void>();
  private nextId = 0;

  constructor(private readonly limitMs = 2_000) {}

  add(worker: Worker): void {
    this.workers.add(worker);
    worker.on('message', (message: unknown) => {
      if (!isGatherMessage(message)) return;
      if (message.type === 'cosocket-collected') this.waiting.get(message.id)?.(message.data);
      else if (message.type === 'cosocket-gather') {
        void this.gather(message.what).then((data) => {
          // a worker that exits meanwhile gets nothing: the callback takes the error (EPIPE) a send then has
          if (worker.isConnected()) worker.send({ type: 'cosocket-gathered', id: message.id, data }, ignoreSendError);
        });
      }
    });
    worker.once('exit', () => this.workers.delete(worker));
  }

  metrics(): Promise<MetricsJson[]> {
    return this.gather('metrics') as Promise<MetricsJson[]>;
  }

  statuses(): Promise<ProcessStatus[]> {
    return this.gather('status') as Promise<ProcessStatus[]>;
  }

  private async gather(what: What): Promise<unknown[]> {
    const answers = await Promise.all(
      [...this.workers]
        .filter((w) => w.isConnected())
        .map(
          (worker) =>
            new Promise<unknown>((resolve) => {
              const id = this.nextId++;
              const finish = (data: unknown): void => {
                clearTimeout(timer);
                this.waiting.delete(id);
                resolve(data);
              };
              const timer = setTimeout(() => finish(null), this.limitMs);
              this.waiting.set(id, finish);
              worker.send({ type: 'cosocket-collect', id, what } satisfies GatherMessage, (err: Error | null) => {
                if (err !== null) finish(null);
              });
            }),
        ),
    );
    return answers.filter((a) => a !== null);
  }
}

/**
 * A worker's side: answers the primary's requests for its report, and asks the primary for the
 * server's view (every worker's) when a request on its own listener needs it.
 */
export function workerView(self: ProcessReport, limitMs = 5_000): ServerView {
  const waiting = new Map<number, (data: unknown[]) => void>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (!isGatherMessage(message)) return;
    if (message.type === 'cosocket-collect') {
      const answer = (data: unknown): void => {
        process.send?.({ type: 'cosocket-collected', id: message.id, data } satisfies GatherMessage, ignoreSendError);
      };
      if (message.what === 'status') answer(self.status());
      else void self.metrics().then(answer, () => answer(null));
    } else if (message.type === 'cosocket-gathered') waiting.get(message.id)?.(message.data);
  });
  const ask = (what: What, alone: () => Promise<unknown>): Promise<unknown[]> =>
    new Promise((resolve) => {
      if (process.send === undefined || !process.connected) {
        void alone().then((data) => resolve([data]));
        return;
      }
      const id = nextId++;
      const finish = (data: unknown[]): void => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(data);
      };
      // a primary that does not answer: this worker's own report is better than none
      const timer = setTimeout(() => void alone().then((data) => finish([data])), limitMs);
      waiting.set(id, finish);
      process.send({ type: 'cosocket-gather', id, what } satisfies GatherMessage, (err: Error | null) => {
        if (err !== null) void alone().then((data) => finish([data]));
      });
    });
  return {
    metrics: () => ask('metrics', () => self.metrics()) as Promise<MetricsJson[]>,
    statuses: () => ask('status', async () => self.status()) as Promise<ProcessStatus[]>,
  };
}

/**
 * For a send to a process whose channel may close first (a worker exiting, a primary gone): without a
 * callback the failure is an 'error' event that nothing handles, and it ends the process.
 */
function ignoreSendError(): void {}
