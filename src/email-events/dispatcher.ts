/**
 * Pushes an outbox's events (email events to EMAIL_EVENTS_URL, entitlement events to
 * ENTITLEMENT_EVENTS_URL: one dispatcher per stream), signed with Standard Webhooks. At least once: an event is
 * marked delivered only after a 2xx, and a dispatcher that dies mid-delivery leaves a lease that
 * expires. Failures back off exponentially with jitter (honouring Retry-After on 429/503), 410 gives
 * up at once, and after maxAttempts the event is dead until POST /internal/<stream>-events/:id/redeliver.
 * It shares nothing with the intake or the worker but the database: a slow or dead receiver holds up
 * neither.
 */
import { isSpanContextValid, propagation, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api'
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import type { WakeSignal } from '../db/wake-signal.js'
import { createWorkLoop } from '../db/work-loop.js'
import { backoffWithJitter } from '../platform/backoff.js'
import { describeError, errorSummary } from '../platform/safe-error.js'
import { contextFromTraceparent, describeSpan, tracer } from '../platform/tracing.js'
import { claimDeliverable, EMAIL_STREAM, markDelivered, markFailed, type ClaimedEvent, type OutboxStream } from './email-events.repository.js'
import { standardWebhookHeaders } from './signing.js'

const EVENTS_PER_SLOT = 4

export interface DispatcherOptions {
  /** Which outbox, and its channel and name (email events when absent). */
  stream?: OutboxStream
  database: DatabaseHandle
  logger: Logger
  url: string
  signingSecret: string
  maxAttempts: number
  timeoutMs: number
  concurrency: number
  pollIntervalMs: number
  wake?: WakeSignal
  /** Retry delay for the given attempt number, in seconds (Retry-After overrides it). */
  retryDelaySeconds?: (attempt: number) => number
  onAttempt?: (outcome: 'delivered' | 'retry' | 'dead') => void
  fetch?: typeof fetch
}

export interface Dispatcher {
  start(): Promise<void>
  stop(): Promise<void>
  /** Delivers one batch of due events; how many it attempted. */
  dispatchOnce(): Promise<number>
}

/** 45 s, 90 s, 3 min... capped at 6 h, with up to half as jitter: 12 attempts span about a day. */
export function defaultDeliveryDelaySeconds (attempt: number, random: () => number = Math.random): number {
  return backoffWithJitter(attempt, { first: 45, max: 6 * 3600 }, random)
}

/** Retry-After in seconds (delay-seconds or an HTTP-date), capped at a day; null when absent or unreadable. */
export function parseRetryAfter (value: string | null, nowMs: number): number | null {
  const text = value?.trim() ?? ''
  let seconds = Number.NaN
  if (/^\d+$/.test(text)) seconds = Number(text)
  // An HTTP-date begins with a day name ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse alone reads "1.5" as a date.
  else if (/^[A-Za-z]{3}, /.test(text)) seconds = (Date.parse(text) - nowMs) / 1000
  if (!Number.isFinite(seconds)) return null
  return Math.min(86_400, Math.max(0, seconds))
}

type Outcome =
  | { kind: 'delivered', statusCode: number }
  | { kind: 'failed', statusCode: number | null, error: string, retryAfter: number | null, final: boolean }

export function createDispatcher (options: DispatcherOptions): Dispatcher {
  const { database, logger } = options
  const stream = options.stream ?? EMAIL_STREAM
  const send = options.fetch ?? fetch
  const retryDelay = options.retryDelaySeconds ?? ((attempt: number) => defaultDeliveryDelaySeconds(attempt))
  // A slot delivers up to EVENTS_PER_SLOT events of a batch one after another, each within the
  // timeout, and the batch is marked delivered at its end: the lease must outlast all of that.
  const leaseSeconds = Math.ceil(options.timeoutMs * EVENTS_PER_SLOT / 1000) + 30
  let running = false

  /**
   * One attempt, in a span that continues the trace of the processing that wrote the event; its
   * context goes to the receiver as `traceparent` (with tracing off, no header is added).
   */
  async function deliver (event: ClaimedEvent): Promise<Outcome> {
    const parent = contextFromTraceparent(event.traceparent)
    const span = tracer.startSpan(`${stream.name}_event.deliver`, { kind: SpanKind.CLIENT }, parent)
    describeSpan(span, () => ({
      [`billing.${stream.name}_event.id`]: event.body.id,
      [`billing.${stream.name}_event.type`]: event.body.type,
      'billing.delivery.attempt': event.attempts,
      'server.address': new URL(options.url).host,
    }))
    const outcome = await attempt(event, isSpanContextValid(span.spanContext()) ? trace.setSpan(parent, span) : null)
    describeSpan(span, () => ({
      'billing.delivery.outcome': outcome.kind,
      ...(outcome.statusCode === null ? {} : { 'http.response.status_code': outcome.statusCode }),
    }))
    if (span.isRecording()) span.setStatus(outcome.kind === 'delivered' ? { code: SpanStatusCode.OK } : { code: SpanStatusCode.ERROR, message: outcome.error })
    span.end()
    return outcome
  }

  async function attempt (event: ClaimedEvent, traced: Context | null): Promise<Outcome> {
    const body = JSON.stringify(event.body)
    const headers: Record<string, string> = standardWebhookHeaders(options.signingSecret, event.body.id, Math.floor(Date.now() / 1000), body)
    if (traced !== null) propagation.inject(traced, headers)
    try {
      const response = await send(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'tracksera-billing', ...headers },
        body,
        signal: AbortSignal.timeout(options.timeoutMs),
      })
      await response.body?.cancel().catch(() => {})
      if (response.status >= 200 && response.status < 300) return { kind: 'delivered', statusCode: response.status }
      const retryAfter = response.status === 429 || response.status === 503
        ? parseRetryAfter(response.headers.get('retry-after'), Date.now())
        : null
      return { kind: 'failed', statusCode: response.status, error: `receiver answered ${response.status}`, retryAfter, final: response.status === 410 }
    } catch (error) {
      const safe = describeError(error)
      const timedOut = safe.type === 'TimeoutError' || safe.type === 'AbortError'
      return { kind: 'failed', statusCode: null, error: timedOut ? `no answer within ${options.timeoutMs} ms` : errorSummary(error), retryAfter: null, final: false }
    }
  }

  async function dispatchOnce (): Promise<number> {
    const claimed = await claimDeliverable(database, stream, options.concurrency * EVENTS_PER_SLOT, leaseSeconds)
    if (claimed.length === 0) return 0
    const delivered: Array<{ id: string, statusCode: number }> = []
    let next = 0
    await Promise.all(Array.from({ length: Math.min(options.concurrency, claimed.length) }, async () => {
      for (let index = next++; index < claimed.length; index = next++) {
        const event = claimed[index] as ClaimedEvent
        const outcome = await deliver(event)
        if (outcome.kind === 'delivered') {
          delivered.push({ id: event.body.id, statusCode: outcome.statusCode })
          options.onAttempt?.('delivered')
          continue
        }
        const dead = outcome.final || event.attempts >= options.maxAttempts
        const retryInSeconds = outcome.retryAfter ?? retryDelay(event.attempts)
        await markFailed(database, stream, { id: event.body.id, dead, retryInSeconds, error: outcome.error, statusCode: outcome.statusCode })
        options.onAttempt?.(dead ? 'dead' : 'retry')
        const line = { stream: stream.name, [`${stream.name}_event_id`]: event.body.id, type: event.body.type, attempts: event.attempts, status_code: outcome.statusCode, problem: outcome.error }
        if (dead) logger.error(line, `${stream.name} event dead: not delivered`)
        else logger.warn({ ...line, retry_in_seconds: Math.round(retryInSeconds) }, `${stream.name} event delivery failed; will retry`)
      }
    }))
    await markDelivered(database, stream, delivered)
    return claimed.length
  }

  const loop = createWorkLoop({
    name: `${stream.name} event dispatcher`,
    database,
    logger,
    channel: stream.channel,
    pollIntervalMs: options.pollIntervalMs,
    wake: options.wake,
    slots: 1,
    work: async () => await dispatchOnce() > 0,
  })

  return {
    dispatchOnce,
    async start () {
      if (running) return
      running = true
      await loop.start()
      logger.info({ stream: stream.name, url: new URL(options.url).origin }, `${stream.name} event dispatcher started`)
    },
    async stop () {
      if (!running) return
      running = false
      // Deliveries in flight finish (bounded by the timeout) and are recorded; nothing is left leased.
      await loop.stop()
      logger.info({ stream: stream.name }, `${stream.name} event dispatcher stopped`)
    },
  }
}
