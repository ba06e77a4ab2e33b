/**
 * Tracing as the features use it: @opentelemetry/api only. Without a registered SDK (tracing off,
 * the default) every tracer is a no-op, no context manager propagates anything, and the helpers below
 * return at once: no string is formatted, no attribute object built (see README, Tracing).
 *
 * The trace of one Paddle event crosses processes through the database, not through a request: the
 * webhook's span context is stored with the inbox row as a W3C `traceparent` string, the worker's
 * processing span continues it, the email event stores the processing's context, and each delivery
 * continues that one and sends its own `traceparent` to the receiver.
 */
import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
} from '@opentelemetry/api'

/** The instrumentation scope of every span of ours. */
export const tracer = trace.getTracer('tracksera-billing')

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** The span context as a W3C traceparent (version 00), or null when there is none (tracing off). */
export function formatTraceparent (spanContext: SpanContext | undefined): string | null {
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return null
  const flags = (spanContext.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`
}

/** The traceparent of the active span, or null: what a row written now should carry. */
export function activeTraceparent (): string | null {
  const span = trace.getActiveSpan()
  return span === undefined ? null : formatTraceparent(span.spanContext())
}

/** A stored traceparent as a remote span context; undefined when absent or malformed. */
export function parseTraceparent (value: string | null | undefined): SpanContext | undefined {
  if (value === null || value === undefined) return undefined
  const match = TRACEPARENT.exec(value)
  if (match === null) return undefined
  const [, traceId = '', spanId = '', flags = '00'] = match
  const spanContext: SpanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true }
  return isSpanContextValid(spanContext) ? spanContext : undefined
}

/** The context whose span a stored traceparent names: the parent of a span that continues it (a fresh root without one). */
export function contextFromTraceparent (value: string | null | undefined): Context {
  const spanContext = parseTraceparent(value)
  return spanContext === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, spanContext)
}

/** A span of a process without tracing: nothing records it and there is no trace to continue. */
function isOff (span: Span): boolean {
  return !span.isRecording() && !isSpanContextValid(span.spanContext())
}

/** Runs `work` with `span` active (its statements and spans become the span's children). */
export async function withSpan<T> (span: Span, work: () => Promise<T>): Promise<T> {
  if (isOff(span)) return await work()
  return await context.with(trace.setSpan(context.active(), span), work)
}

/** Sets attributes only on a span that records them: with tracing off, the object is never built. */
export function describeSpan (span: Span, attributes: () => Attributes): void {
  if (span.isRecording()) span.setAttributes(attributes())
}

/** Marks the span failed with the error's type only: messages may carry values that have no place in a trace. */
export function failSpan (span: Span, error: unknown): void {
  if (!span.isRecording()) return
  const type = error instanceof Error ? error.name : typeof error
  span.setStatus({ code: SpanStatusCode.ERROR, message: type })
  span.setAttribute('error.type', type)
}

/**
 * Runs `work` in a span made active for it (its database statements become its children), ended when
 * `work` settles; a failure marks it and is rethrown. `parent` defaults to the active context.
 */
export async function inSpan<T> (name: string, options: SpanOptions, work: (span: Span) => Promise<T>, parent: Context = context.active()): Promise<T> {
  const span = tracer.startSpan(name, options, parent)
  try {
    // Tracing off: no context to carry, so none is made.
    if (isOff(span)) return await work(span)
    return await context.with(trace.setSpan(parent, span), work, undefined, span)
  } catch (error) {
    failSpan(span, error)
    throw error
  } finally {
    span.end()
  }
}

/** inSpan for synchronous work. */
export function inSyncSpan<T> (name: string, work: (span: Span) => T): T {
  const parent = context.active()
  const span = tracer.startSpan(name, undefined, parent)
  try {
    if (isOff(span)) return work(span)
    return context.with(trace.setSpan(parent, span), work, undefined, span)
  } catch (error) {
    failSpan(span, error)
    throw error
  } finally {
    span.end()
  }
}
