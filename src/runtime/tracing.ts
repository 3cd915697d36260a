import type { EffectTrace, Operable, Operation, SpanAttributeValue, SpanAttributes } from './types.js';
import { runningFiber } from './run-loop.js';
import type { ContextValues } from './run-loop.js';

/**
 * The runtime's side of tracing: what a tracer (src/tracing, OpenTelemetry) must do, the one installed,
 * and the span each coroutine runs under — a context value its children inherit. Off (no tracer) costs a
 * null check where a span could start, and no span object is made.
 */

export type { EffectTrace, SpanAttributeValue, SpanAttributes } from './types.js';

/** What a span is to the caller: `server` for a request served, `client` for one sent, `internal` for work. */
export type SpanRole = 'server' | 'client' | 'internal';

/** An open span. */
export interface TraceSpan {
  /** The W3C `traceparent` header naming this span, for a request sent on its behalf. */
  readonly traceparent: string;
  setAttribute(name: string, value: SpanAttributeValue): void;
  /** Ends it; an `error` marks it failed (its message is kept). */
  end(error?: unknown): void;
}

export interface Tracer {
  /**
   * Opens a span under `parent`: a span of this process, a `traceparent` header a request came with (an
   * invalid one is ignored), or null for a new trace.
   */
  startSpan(name: string, role: SpanRole, attributes: SpanAttributes, parent: TraceSpan | string | null): TraceSpan;
}

let installed: Tracer | null = null;

/** Installs the tracer spans are opened with from now on (null: tracing off). */
export function setTracer(tracer: Tracer | null): void {
  installed = tracer;
}

/** The tracer installed, or null when tracing is off. */
export function activeTracer(): Tracer | null {
  return installed;
}

/** The key of the span among a coroutine's context values (context.ts keeps user contexts the same way). */
const SPAN_KEY = {};

/** The span of the coroutine running now (its own, else its parent's at spawn), or null. */
export function currentSpan(): TraceSpan | null {
  const fiber = runningFiber();
  return fiber === null ? null : spanIn(fiber.contextValues);
}

/** The span among a coroutine's context values, or null. */
export function spanIn(values: ContextValues | null): TraceSpan | null {
  for (let node = values; node !== null; node = node.next) if (node.key === SPAN_KEY) return node.value as TraceSpan;
  return null;
}

/** Runs `op` with `span` as the coroutine's span: what it opens, and the children it spawns, are under it. */
export function* runInSpan<T>(span: TraceSpan, op: Operable<T>): Operation<T> {
  const fiber = runningFiber()!;
  const outer = fiber.contextValues;
  fiber.contextValues = { key: SPAN_KEY, value: span, next: outer };
  try {
    return yield* op;
  } finally {
    fiber.contextValues = outer;
  }
}

/** A `client` span under the running coroutine's span, or null when tracing is off. */
export function startClientSpan(name: string, attributes: SpanAttributes): TraceSpan | null {
  const tracer = installed;
  return tracer === null ? null : tracer.startSpan(name, 'client', attributes, currentSpan());
}

/** @internal The fiber opens the span of an effect whose kind traces (see EffectKind.trace). */
export function startEffectSpan(trace: EffectTrace, values: ContextValues | null): TraceSpan | null {
  const tracer = installed;
  return tracer === null ? null : tracer.startSpan(trace.name, 'client', trace.attributes, spanIn(values));
}

/**
 * A server span's HTTP attributes: the method and the path without its query, plus one more (the app's
 * `http.route`, the proxy's `server.address`) when the request has it.
 */
export function serverSpanAttributes(
  method: string,
  url: string,
  extraName: string,
  extraValue: string | undefined,
): Record<string, string> {
  const attributes: Record<string, string> = { 'http.request.method': method, 'url.path': url.split('?', 1)[0]! };
  if (extraValue !== undefined) attributes[extraName] = extraValue;
  return attributes;
}

/** An incoming request's W3C `traceparent` header, when it sent one (once: a repeated header is not one). */
export function incomingTraceparent(headers: Readonly<Record<string, string | string[] | undefined>>): string | null {
  const header = headers.traceparent;
  return typeof header === 'string' ? header : null;
}
