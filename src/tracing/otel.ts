import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Context, Span, SpanContext, Tracer as ApiTracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type { SpanAttributeValue, SpanAttributes, SpanRole, TraceSpan, Tracer } from '../runtime/tracing.js';

const KINDS: Record<SpanRole, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  internal: SpanKind.INTERNAL,
};

/** version-traceid-parentid-flags (W3C Trace Context, level 1); a later version may add fields after a dash. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The span context a `traceparent` header names, or null when it is not a valid one. */
export function parseTraceparent(header: string): SpanContext | null {
  const match = TRACEPARENT.exec(header.trim());
  if (match === null) return null;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  const context: SpanContext = {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: parseInt(flags!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(context) ? context : null;
}

class OtelSpan implements TraceSpan {
  constructor(readonly span: Span) {}

  get traceparent(): string {
    const { traceId, spanId, traceFlags } = this.span.spanContext();
    return `00-${traceId}-${spanId}-0${(traceFlags & TraceFlags.SAMPLED).toString(16)}`;
  }

  setAttribute(name: string, value: SpanAttributeValue): void {
    this.span.setAttribute(name, value);
  }

  end(error?: unknown): void {
    if (error !== undefined) {
      const message = error instanceof Error ? error.message : typeof error === 'string' ? error : 'failed';
      this.span.setStatus({ code: SpanStatusCode.ERROR, message });
      if (error instanceof Error) this.span.recordException(error);
    }
    this.span.end();
  }
}

/** The runtime's Tracer on the OpenTelemetry SDK: batched, exported as OTLP/HTTP JSON. */
export class OtelTracer implements Tracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: ApiTracer;

  constructor(endpoint: string, serviceName: string, sampleRatio: number) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }))],
    });
    this.tracer = this.provider.getTracer('cosocket');
  }

  startSpan(name: string, role: SpanRole, attributes: SpanAttributes, parent: TraceSpan | string | null): TraceSpan {
    const span = this.tracer.startSpan(name, { kind: KINDS[role], attributes }, parentContext(parent));
    return new OtelSpan(span);
  }

  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

function parentContext(parent: TraceSpan | string | null): Context {
  if (parent === null) return ROOT_CONTEXT;
  if (typeof parent === 'string') {
    const remote = parseTraceparent(parent);
    return remote === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, remote);
  }
  return parent instanceof OtelSpan ? trace.setSpan(ROOT_CONTEXT, parent.span) : ROOT_CONTEXT;
}
