/**
 * POST /webhooks/paddle: verify the raw bytes, project the payload onto the allow-list, insert the
 * event once, answer 200 only after the insert committed. Nothing else happens on this path: no
 * state change, no outbound call. Whatever can fail for another reason belongs to the worker.
 */
import type { FastifyPluginAsync } from 'fastify'
import { parseEnvelope } from '../paddle/envelope.js'
import { projectEvent } from '../paddle/projection.js'
import { verifyPaddleSignature, type SignatureFailureReason } from '../paddle/signature.js'
import type { Clock } from '../platform/clock.js'
import { DatabaseUnavailableError, InvalidEventError, InvalidSignatureError, MigrationsPendingError } from '../platform/errors.js'
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
  }, async (request) => {
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    const verdict = verifyPaddleSignature({
      header: headerValues(request.raw.rawHeaders, 'paddle-signature'),
      rawBody,
      secrets: options.secrets,
      nowSeconds: Math.floor(options.clock() / 1000),
      toleranceSeconds: options.toleranceSeconds,
    })
    if (!verdict.valid) {
      request.log.warn({ reason: verdict.reason, signatureTimestamp: verdict.timestamp }, 'paddle webhook rejected')
      options.onVerificationFailed?.(verdict.reason)
      throw new InvalidSignatureError(FAILURE_MESSAGES[verdict.reason])
    }

    const parsed = parseEnvelope(rawBody)
    if (!parsed.ok) {
      request.log.warn({ problem: parsed.problem }, 'verified paddle webhook is not an event envelope')
      options.onReceived?.('invalid', 'invalid', verdict.secretIndex)
      throw new InvalidEventError(parsed.problem)
    }
    const { envelope } = parsed
    const ids = { event_id: envelope.eventId, event_type: envelope.eventType, notification_id: envelope.notificationId }
    request.logFields = ids

    const pending = options.schema?.pendingMigrations() ?? []
    if (pending.length > 0) {
      options.onReceived?.(envelope.eventType, 'error', verdict.secretIndex)
      throw new MigrationsPendingError(pending.length)
    }

    const projected = projectEvent(envelope, { customDataKeys: options.customDataKeys })
    let outcome: 'stored' | 'duplicate'
    try {
      outcome = await options.writer.insert({
        eventId: envelope.eventId,
        notificationId: envelope.notificationId,
        eventType: envelope.eventType,
        occurredAt: envelope.occurredAt,
        origin: 'webhook',
        ...projected,
      })
    } catch (error) {
      // Whatever the database's trouble, Paddle must retry: 503, never a 2xx or a 4xx.
      request.log.error({ ...ids, err: error }, 'paddle webhook not stored')
      options.onReceived?.(envelope.eventType, 'error', verdict.secretIndex)
      throw new DatabaseUnavailableError()
    }
    // The request's own completion line (info, with the event ids) says it was answered; this adds detail.
    request.log.debug({ ...ids, outcome, secret_index: verdict.secretIndex }, 'paddle webhook accepted')
    options.onReceived?.(envelope.eventType, outcome, verdict.secretIndex)
    return { received: true, duplicate: outcome === 'duplicate' }
  })
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
