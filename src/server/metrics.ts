import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { PoolStats } from '../pool/keepalive-pool.js';
import type { SchedulerStats } from '../runtime/scheduler.js';

/** A process's metrics as prom-client's JSON (what a worker sends its primary to be summed). */
export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

/** Live state of one upstream server as the metrics show it. */
export interface UpstreamServerState {
  group: string;
  server: string;
  up: boolean;
  active: number;
}

/** Where gauges read their values at scrape time. */
export interface MetricSources {
  schedulers: Array<() => SchedulerStats>;
  pools: Array<() => Array<PoolStats & { kind: string }>>;
  upstreams: Array<() => UpstreamServerState[]>;
  sendfile: Array<() => { files: number; followers: number }>;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels<T extends string> = Partial<Record<T, string | number>>;

/** A counter whose value is read from elsewhere at scrape time (the source keeps the running total). */
function readCounter<T extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly T[],
  read: () => Array<[Labels<T>, number]>,
): void {
  new Counter<T>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

function readGauge<T extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly T[],
  read: () => Array<[Labels<T>, number]>,
  aggregator: 'sum' | 'min' = 'sum',
): void {
  new Gauge<T>({
    name,
    help,
    labelNames,
    registers: [registry],
    aggregator,
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/**
 * The server's Prometheus metrics in one registry per process: request counters and latency histograms
 * counted as requests end, and gauges (scheduler, pools, upstream servers, sendfile followers) read
 * from their sources at scrape time. With --workers, each worker's registry is summed by the primary
 * (prom-client's AggregatorRegistry): see src/server/cluster-gather.ts.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly sources: MetricSources = { schedulers: [], pools: [], upstreams: [], sendfile: [] };
  private readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  private readonly httpSeconds: Histogram<'route' | 'method'>;
  private readonly proxyRequests: Counter<'group' | 'status'>;
  private readonly proxySeconds: Histogram<'group'>;
  private readonly proxyBytes: Counter<'group'>;
  private readonly upstreamRequests: Counter<'group' | 'server'>;
  private readonly upstreamFailures: Counter<'group' | 'server'>;

  constructor() {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'cosocket_http_requests_total',
      help: 'Requests answered on the app listener, by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'cosocket_http_request_duration_seconds',
      help: 'Time from a request on the app listener to the end of its response',
      labelNames: ['route', 'method'],
      registers,
    });
    this.proxyRequests = new Counter({
      name: 'cosocket_proxy_requests_total',
      help: 'Requests answered by the dyups proxy, by upstream group and status',
      labelNames: ['group', 'status'],
      registers,
    });
    this.proxySeconds = new Histogram({
      name: 'cosocket_proxy_request_duration_seconds',
      help: 'Time from a request on the dyups proxy to the end of its response',
      labelNames: ['group'],
      registers,
    });
    this.proxyBytes = new Counter({
      name: 'cosocket_proxy_response_bytes_total',
      help: 'Response body bytes the dyups proxy sent to clients, by upstream group',
      labelNames: ['group'],
      registers,
    });
    this.upstreamRequests = new Counter({
      name: 'cosocket_upstream_requests_total',
      help: 'Tries of each upstream server by the dyups proxy',
      labelNames: ['group', 'server'],
      registers,
    });
    this.upstreamFailures = new Counter({
      name: 'cosocket_upstream_failures_total',
      help: 'Tries of each upstream server that failed (connect error, timeout, a status retried on)',
      labelNames: ['group', 'server'],
      registers,
    });
    this.scrapedMetrics();
  }

  /** A request on the app listener ended (`seconds` null: its duration is not known, it is only counted). */
  httpRequest(route: string, method: string, status: number, seconds: number | null): void {
    this.httpRequests.inc({ route, method, status });
    if (seconds !== null) this.httpSeconds.observe({ route, method }, seconds);
  }

  /** A request on the dyups proxy ended (`group` is '' when the Host named none). */
  proxyRequest(group: string, status: number, seconds: number | null, bodyBytes: number): void {
    this.proxyRequests.inc({ group, status });
    if (seconds !== null) this.proxySeconds.observe({ group }, seconds);
    if (bodyBytes > 0) this.proxyBytes.inc({ group }, bodyBytes);
  }

  /** The proxy tried an upstream server. */
  upstreamTry(group: string, server: string, failed: boolean): void {
    this.upstreamRequests.inc({ group, server });
    if (failed) this.upstreamFailures.inc({ group, server });
  }

  /** This process's metrics in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** This process's metrics as JSON, for a primary to sum with the other workers'. */
  json(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON();
  }

  private scrapedMetrics(): void {
    const { registry, sources } = this;
    const schedulers = (): SchedulerStats[] => sources.schedulers.map((read) => read());
    const bySchedulerGauge = (field: 'live' | 'queued') => (): Array<[Labels<'scheduler'>, number]> =>
      schedulers().map((s) => [{ scheduler: s.name }, s[field]]);
    const bySchedulerCounter =
      (field: 'started' | 'completed' | 'failed' | 'cancelled' | 'timedOut' | 'rejected') =>
      (): Array<[Labels<'scheduler'>, number]> =>
        schedulers().map((s) => [{ scheduler: s.name }, s[field]]);
    readGauge(registry, 'cosocket_scheduler_live', 'Coroutines running', ['scheduler'], bySchedulerGauge('live'));
    readGauge(
      registry,
      'cosocket_scheduler_queued',
      'Coroutines waiting for a slot of the budget',
      ['scheduler'],
      bySchedulerGauge('queued'),
    );
    const counters = [
      ['started', 'cosocket_scheduler_started_total', 'Coroutines started'],
      ['completed', 'cosocket_scheduler_completed_total', 'Coroutines that returned'],
      ['failed', 'cosocket_scheduler_failed_total', 'Coroutines that threw'],
      ['cancelled', 'cosocket_scheduler_cancelled_total', 'Coroutines cancelled (client gone, deadline, shutdown)'],
      ['timedOut', 'cosocket_scheduler_timed_out_total', 'Coroutines cancelled by their deadline'],
      ['rejected', 'cosocket_scheduler_rejected_total', 'Starts refused (503): the budget and its queue were full'],
    ] as const;
    for (const [field, name, help] of counters)
      readCounter(registry, name, help, ['scheduler'], bySchedulerCounter(field));

    const pools = (): Array<PoolStats & { kind: string }> => sources.pools.flatMap((read) => read());
    const byPool =
      (field: 'open' | 'idle' | 'inUse' | 'waiting' | 'created' | 'reused' | 'connectFailures') =>
      (): Array<[Labels<'kind' | 'pool'>, number]> =>
        pools().map((p) => [{ kind: p.kind, pool: p.name }, p[field]]);
    const poolGauges = [
      ['open', 'cosocket_pool_open_connections', 'Connections open (idle + in use)'],
      ['idle', 'cosocket_pool_idle_connections', 'Connections kept alive, waiting for use'],
      ['inUse', 'cosocket_pool_in_use_connections', 'Connections lent out'],
      ['waiting', 'cosocket_pool_waiting_requests', 'Borrowers waiting for a connection'],
    ] as const;
    for (const [field, name, help] of poolGauges) readGauge(registry, name, help, ['kind', 'pool'], byPool(field));
    const poolCounters = [
      ['created', 'cosocket_pool_connections_created_total', 'Connections opened'],
      ['reused', 'cosocket_pool_connections_reused_total', 'Borrows served by a kept-alive connection'],
      ['connectFailures', 'cosocket_pool_connect_failures_total', 'Connect attempts that failed'],
    ] as const;
    for (const [field, name, help] of poolCounters) readCounter(registry, name, help, ['kind', 'pool'], byPool(field));

    const upstreams = (): UpstreamServerState[] => sources.upstreams.flatMap((read) => read());
    readGauge(
      registry,
      'cosocket_upstream_up',
      'Upstream server usable (1) or not (0): failed max_fails times, or down by its health check',
      ['group', 'server'],
      () => upstreams().map((u) => [{ group: u.group, server: u.server }, u.up ? 1 : 0]),
      'min',
    );
    readGauge(
      registry,
      'cosocket_upstream_active_requests',
      'Requests in flight to each upstream server',
      ['group', 'server'],
      () => upstreams().map((u) => [{ group: u.group, server: u.server }, u.active]),
    );

    const sendfile = (): { files: number; followers: number } =>
      sources.sendfile.reduce(
        (sum, read) => {
          const s = read();
          return { files: sum.files + s.files, followers: sum.followers + s.followers };
        },
        { files: 0, followers: 0 },
      );
    readGauge(registry, 'cosocket_sendfile_followers', 'Clients following a growing file', [], () => [
      [{}, sendfile().followers],
    ]);
    readGauge(registry, 'cosocket_sendfile_followed_files', 'Growing files followed', [], () => [
      [{}, sendfile().files],
    ]);
  }
}

/** Sums processes' metrics (each worker's) into one Prometheus text, as AggregatorRegistry does for a cluster. */
export async function aggregateMetrics(all: readonly MetricsJson[]): Promise<string> {
  return AggregatorRegistry.aggregate(all as MetricsJson[]).metrics();
}
