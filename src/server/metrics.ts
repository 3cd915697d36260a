import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { PoolStats } from '../pool/keepalive-pool.js';
import type { SchedulerStats } from '../runtime/scheduler.js';
import { StatusTally, tallyCounter, tallyHistogram } from './tallies.js';
import type { LatencyTally } from './tallies.js';

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
  /** app listener: route -> method -> counts */
  private readonly http = new Map<string, Map<string, StatusTally>>();
  /** dyups proxy: group -> counts */
  private readonly proxy = new Map<string, StatusTally>();
  /** dyups proxy: group -> server -> [tries, failures] */
  private readonly upstreams = new Map<string, Map<string, [number, number]>>();

  constructor() {
    const { registry } = this;
    const byRoute = <T>(pick: (route: string, method: string, tally: StatusTally) => T[]): T[] => {
      const out: T[] = [];
      for (const [route, methods] of this.http)
        for (const [method, tally] of methods) out.push(...pick(route, method, tally));
      return out;
    };
    tallyCounter(
      registry,
      'cosocket_http_requests_total',
      'Requests answered on the app listener, by route, method and status',
      () =>
        byRoute((route, method, tally) =>
          [...tally.statuses].map(([status, value]) => ({ labels: { route, method, status }, value })),
        ),
    );
    tallyHistogram(
      registry,
      'cosocket_http_request_duration_seconds',
      'Time from a request on the app listener to the end of its response',
      () =>
        byRoute((route, method, tally): Array<[Record<string, string>, LatencyTally]> =>
          tally.latency.count > 0 ? [[{ route, method }, tally.latency]] : [],
        ),
    );
    tallyCounter(
      registry,
      'cosocket_proxy_requests_total',
      'Requests answered by the dyups proxy, by upstream group and status',
      () =>
        [...this.proxy].flatMap(([group, tally]) =>
          [...tally.statuses].map(([status, value]) => ({ labels: { group, status }, value })),
        ),
    );
    tallyHistogram(
      registry,
      'cosocket_proxy_request_duration_seconds',
      'Time from a request on the dyups proxy to the end of its response',
      () =>
        [...this.proxy]
          .filter(([, tally]) => tally.latency.count > 0)
          .map(([group, tally]): [Record<string, string>, LatencyTally] => [{ group }, tally.latency]),
    );
    tallyCounter(
      registry,
      'cosocket_proxy_response_bytes_total',
      'Response body bytes the dyups proxy sent to clients, by upstream group',
      () =>
        [...this.proxy]
          .filter(([, tally]) => tally.bytes > 0)
          .map(([group, tally]) => ({ labels: { group }, value: tally.bytes })),
    );
    const byServer = (index: 0 | 1) => () => {
      const out: Array<{ labels: Record<string, string>; value: number }> = [];
      for (const [group, servers] of this.upstreams)
        for (const [server, counts] of servers)
          if (counts[index] > 0) out.push({ labels: { group, server }, value: counts[index] });
      return out;
    };
    tallyCounter(
      registry,
      'cosocket_upstream_requests_total',
      'Tries of each upstream server by the dyups proxy',
      byServer(0),
    );
    tallyCounter(
      registry,
      'cosocket_upstream_failures_total',
      'Tries of each upstream server that failed (connect error, timeout, a status retried on)',
      byServer(1),
    );
    this.scrapedMetrics();
  }

  /** A request on the app listener ended (`seconds` null: its duration is not known, it is only counted). */
  httpRequest(route: string, method: string, status: number, seconds: number | null): void {
    let methods = this.http.get(route);
    if (methods === undefined) this.http.set(route, (methods = new Map<string, StatusTally>()));
    let tally = methods.get(method);
    if (tally === undefined) methods.set(method, (tally = new StatusTally()));
    tally.count(status);
    if (seconds !== null) tally.latency.observe(seconds);
  }

  /** A request on the dyups proxy ended (`group` is '' when the Host named none). */
  proxyRequest(group: string, status: number, seconds: number | null, bodyBytes: number): void {
    let tally = this.proxy.get(group);
    if (tally === undefined) this.proxy.set(group, (tally = new StatusTally()));
    tally.count(status);
    if (seconds !== null) tally.latency.observe(seconds);
    tally.bytes += bodyBytes;
  }

  /** The proxy tried an upstream server. */
  upstreamTry(group: string, server: string, failed: boolean): void {
    let servers = this.upstreams.get(group);
    if (servers === undefined) this.upstreams.set(group, (servers = new Map<string, [number, number]>()));
    let counts = servers.get(server);
    if (counts === undefined) servers.set(server, (counts = [0, 0]));
    counts[0]++;
    if (failed) counts[1]++;
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
