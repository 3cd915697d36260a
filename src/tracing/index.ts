import { InvalidArgumentError } from '../errors/index.js';
import { setTracer } from '../runtime/tracing.js';
import { checkEndpoint } from './endpoint.js';

/** Where spans go and which are kept: the `tracing` section of the config, checked. */
export interface TracingOptions {
  /** OTLP/HTTP traces URL (`http://collector:4318/v1/traces`); null: tracing off. */
  readonly endpoint: string | null;
  /** The resource's `service.name`. */
  readonly serviceName: string;
  /** The share of new traces kept, 0 to 1; a request that comes with a traceparent follows its sampled flag. */
  readonly sampleRatio: number;
}

/**
 * Tracing while on: `flush()` sends what is buffered (it rejects when the collector does not take it);
 * `shutdown()` turns tracing off and sends the last spans, resolving even if they cannot be sent.
 */
export interface Tracing {
  readonly endpoint: string;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The OpenTelemetry variable naming a base URL for every signal: traces go to its `/v1/traces`. */
const BASE_ENDPOINT_ENV = 'OTEL_EXPORTER_OTLP_ENDPOINT';

/**
 * `options` with the endpoint OTEL_EXPORTER_OTLP_ENDPOINT names when the options name none (the
 * traces path appended, as the OpenTelemetry exporters do).
 */
export function withEnvironmentEndpoint(
  options: TracingOptions,
  env: Readonly<Record<string, string | undefined>>,
): TracingOptions {
  const base = env[BASE_ENDPOINT_ENV];
  if (options.endpoint !== null || base === undefined || base === '') return options;
  const endpoint = `${checkEndpoint(BASE_ENDPOINT_ENV, base).replace(/\/+$/, '')}/v1/traces`;
  return { ...options, endpoint };
}

let running: Tracing | null = null;

/**
 * Turns tracing on: loads the OpenTelemetry SDK (only now: off, no part of it is loaded) and installs
 * its tracer, so requests, Redis commands, upstream calls and file reads get spans exported over
 * OTLP/HTTP (JSON). Null when `options.endpoint` is null. One at a time: shut the last one down first.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing | null> {
  if (options.endpoint === null) return null;
  checkEndpoint('tracing.endpoint', options.endpoint);
  if (!(options.sampleRatio >= 0 && options.sampleRatio <= 1))
    throw new InvalidArgumentError(`tracing.sampleRatio must be a number from 0 to 1, got ${options.sampleRatio}`);
  if (running !== null) throw new InvalidArgumentError('tracing is on already: shut it down before starting it again');
  const { OtelTracer } = await import('./otel.js');
  const tracer = new OtelTracer(options.endpoint, options.serviceName, options.sampleRatio);
  setTracer(tracer);
  const tracing: Tracing = {
    endpoint: options.endpoint,
    flush: () => tracer.flush(),
    shutdown: async () => {
      if (running !== tracing) return;
      running = null;
      setTracer(null);
      // spans a collector did not take are lost, as with any failed export: stopping does not fail for them
      await tracer.shutdown().catch(() => undefined);
    },
  };
  running = tracing;
  return tracing;
}
