/**
 * POST /webhooks/paddle: verify the raw bytes, project the payload onto the allow-list, insert the
 * event once, answer 200 only after the insert committed. Nothing else happens on this path: no
 * state change, no outbound call. Whatever can fail for another reason belongs to the worker.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { FastifyPluginAsync } from 'fastify'
import { parseEnvelope } from '../paddle/envelope.js'
import { projectEvent } from '../paddle/projection.js'
import { verifyPaddleSignature, type SignatureFailureReason } from '../paddle/signature.js'
import type { Clock } from '../platform/clock.js'
import { DatabaseUnavailableError, InvalidEventError, InvalidSignatureError, MigrationsPendingError } from '../platform/errors.js'
import { describeSpan, formatTraceparent, inSpan, inSyncSpan } from '../platform/tracing.js'
import type { InboxWriter } from './inbox-writer.js'

export interface PaddleWebhookRoutesOptions {
  secrets: readonly string[]
  toleranceSeconds: number
  bodyLimitBytes: number
  customDataKeys: readonly string[]
  writer: InboxWriter
  clock: Clock
  /** While the database lacks migrations, nothing is stored: 503 until a deploy step applies them. */
  schema?: { pendingMigrations(): readonly string[] }
  onVerificationFailed?: (reason: SignatureFailureReason) => void
  onReceived?: (eventType: string, outcome: 'stored' | 'duplicate' | 'invalid' | 'error', secretIndex?: number) => void
}

const FAILURE_MESSAGES: Record<SignatureFailureReason, string> = {
  missing_header: 'the Paddle-Signature header is missing',
  malformed_header: 'the Paddle-Signature header is not in the form ts=...;h1=...',
  stale_timestamp: 'the signature timestamp is too old',
  future_timestamp: 'the signature timestamp is in the future',
  no_matching_signature: 'no signature matches',
}

export const paddleWebhookRoutes: FastifyPluginAsync<PaddleWebhookRoutesOptions> = async (app, options) => {
  // Scoped to this plugin: the body stays the exact bytes Paddle signed. Other content types get 415.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, (_request, body, done) => {
    done(null, body)
  })

  app.post('', {
    bodyLimit: options.bodyLimitBytes,
    schema: {
      summary: 'Receive a Paddle Billing webhook',
      tags: ['webhooks'],
      headers: { type: 'object', properties: { 'paddle-signature': { type: 'string' } } },
      response: {
        200: {
          type: 'object',
          properties: { received: { type: 'boolean' }, duplicate: { type: 'boolean' } },
          required: ['received', 'duplicate'],
        },
      },
    },
  }, async (request) => await inSpan('paddle.webhook', { kind: SpanKind.SERVER }, async (span) => {
    // The span's attributes are ids and outcomes only: never the body, the header or a secret.
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    const verdict = inSyncSpan('paddle.webhook.verify', () => verifyPaddleSignature({
      header: headerValues(request.raw.rawHeaders, 'paddle-signature'),
      rawBody,
      secrets: options.secrets,
      nowSeconds: Math.floor(options.clock() / 1000),
      toleranceSeconds: options.toleranceSeconds,
    }))
    if (!verdict.valid) {
      request.log.warn({ reason: verdict.reason, signatureTimestamp: verdict.timestamp }, 'paddle webhook rejected')
      options.onVerificationFailed?.(verdict.reason)
      describeSpan(span, () => ({ 'billing.webhook.outcome': 'rejected', 'billing.webhook.rejection': verdict.reason }))
      throw new InvalidSignatureError(FAILURE_MESSAGES[verdict.reason])
    }

    const parsed = inSyncSpan('paddle.webhook.project', () => {
      const read = parseEnvelope(rawBody)
      return read.ok ? { ...read, projected: projectEvent(read.envelope, { customDataKeys: options.customDataKeys }) } : read
    })
    if (!parsed.ok) {
      request.log.warn({ problem: parsed.problem }, 'verified paddle webhook is not an event envelope')
      options.onReceived?.('invalid', 'invalid', verdict.secretIndex)
      describeSpan(span, () => ({ 'billing.webhook.outcome': 'invalid' }))
      throw new InvalidEventError(parsed.problem)
    }
    const { envelope, projected } = parsed
    const ids = { event_id: envelope.eventId, event_type: envelope.eventType, notification_id: envelope.notificationId }
    request.logFields = ids
    describeSpan(span, () => ({
      'paddle.event_id': envelope.eventId,
      'paddle.event_type': envelope.eventType,
      ...(envelope.notificationId === null ? {} : { 'paddle.notification_id': envelope.notificationId }),
    }))

    const pending = options.schema?.pendingMigrations() ?? []
    if (pending.length > 0) {
      options.onReceived?.(envelope.eventType, 'error', verdict.secretIndex)
      throw new MigrationsPendingError(pending.length)
    }

    let outcome: 'stored' | 'duplicate'
    try {
      outcome = await inSpan('paddle_inbox.insert', {}, async () => await options.writer.insert({
        eventId: envelope.eventId,
        notificationId: envelope.notificationId,
        eventType: envelope.eventType,
        occurredAt: envelope.occurredAt,
        origin: 'webhook',
        ...projected,
        // The worker's processing continues this request's trace (null with tracing off).
        traceparent: formatTraceparent(span.spanContext()),
      }))
    } catch (error) {
      // Whatever the database's trouble, Paddle must retry: 503, never a 2xx or a 4xx.
      request.log.error({ ...ids, err: error }, 'paddle webhook not stored')
      options.onReceived?.(envelope.eventType, 'error', verdict.secretIndex)
      throw new DatabaseUnavailableError()
    }
    // The request's own completion line (info, with the event ids) says it was answered; this adds detail.
    request.log.debug({ ...ids, outcome, secret_index: verdict.secretIndex }, 'paddle webhook accepted')
    options.onReceived?.(envelope.eventType, outcome, verdict.secretIndex)
    describeSpan(span, () => ({ 'billing.webhook.outcome': outcome }))
    if (span.isRecording()) span.setStatus({ code: SpanStatusCode.OK })
    return { received: true, duplicate: outcome === 'duplicate' }
  }))
}

/**
 * The header as sent: one value, or every value when it was repeated. Node joins a repeated header
 * into one string with ", ", which would verify if either copy did; verification refuses a list.
 */
function headerValues (rawHeaders: string[], name: string): string | string[] | undefined {
  const values: string[] = []
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    if (rawHeaders[index]?.toLowerCase() === name) values.push(rawHeaders[index + 1] ?? '')
  }
  return values.length > 1 ? values : values[0]
}
