import type { Metric, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

/**
 * Request counts kept as plain numbers while requests end, and handed to prom-client only when scraped.
 * prom-client's `inc`/`observe` check and hash their labels on every call (four calls per proxied request,
 * a few µs); here a request costs a map lookup and a few additions. What a scrape returns is prom-client's
 * own JSON shape (counters, and histograms with `_bucket`/`_sum`/`_count` series), so its text format and
 * the primary's AggregatorRegistry sum treat these as the counters and histograms they replace.
 */

/** prom-client's default histogram buckets (seconds), as the Histogram they replace had them. */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type LabelValues = Record<string, string | number>;

/** One label set's latency histogram: counts per bucket (not cumulative), their sum and count. */
export class LatencyTally {
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

/** A series as prom-client's JSON has it. */
interface Series {
  labels: LabelValues;
  value: number;
  metricName?: string;
}

/** What a registry asks of a metric when it is scraped (prom-client reads nothing else of it). */
class ScrapedMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly read: () => Series[],
  ) {}

  readonly aggregator = 'sum';

  get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.read(),
    } as unknown as MetricObjectWithValues<MetricValue<string>>);
  }

  reset(): void {
    // the counts are their sources': nothing of its own to reset
  }
}

/** Registers a counter whose series are read from `read` when scraped. */
export function tallyCounter(registry: Registry, name: string, help: string, read: () => Series[]): void {
  registry.registerMetric(new ScrapedMetric(name, help, 'counter', read) as unknown as Metric<string>);
}

/** Registers a histogram whose label sets and their tallies are read from `read` when scraped. */
export function tallyHistogram(
  registry: Registry,
  name: string,
  help: string,
  read: () => Array<[LabelValues, LatencyTally]>,
): void {
  const series = (): Series[] => {
    const out: Series[] = [];
    for (const [labels, tally] of read()) {
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        cumulative += tally.buckets[i]!;
        out.push({ labels: { le: LATENCY_BUCKETS[i]!, ...labels }, value: cumulative, metricName: `${name}_bucket` });
      }
      out.push(
        { labels: { le: '+Inf', ...labels }, value: tally.count, metricName: `${name}_bucket` },
        { labels: { ...labels }, value: tally.sum, metricName: `${name}_sum` },
        { labels: { ...labels }, value: tally.count, metricName: `${name}_count` },
      );
    }
    return out;
  };
  registry.registerMetric(new ScrapedMetric(name, help, 'histogram', series) as unknown as Metric<string>);
}

/** Counts by status under one label set, with its latency. */
export class StatusTally {
  readonly statuses = new Map<number, number>();
  readonly latency = new LatencyTally();
  bytes = 0;

  count(status: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }
}
