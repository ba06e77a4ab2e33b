import { parseTimestamp } from '../platform/timestamps.js'

/** The part of every Paddle webhook body that the service reads before projecting `data`. */
export interface PaddleEnvelope {
  eventId: string
  eventType: string
  /** Canonical microsecond timestamp. */
  occurredAt: string
  notificationId: string | null
  data: Record<string, unknown>
}

export type EnvelopeResult =
  | { ok: true, envelope: PaddleEnvelope }
  | { ok: false, problem: string }

const MAX_ID_LENGTH = 200
const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

/** Parses a verified body; the problem text is safe to send back (it never quotes the body). */
export function parseEnvelope (rawBody: Buffer | string): EnvelopeResult {
  let body: unknown
  try {
    body = JSON.parse(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'))
  } catch {
    return { ok: false, problem: 'body is not valid JSON' }
  }
  return envelopeFrom(body)
}

/** Checks a parsed event: a webhook body, or an entity of Paddle's event log (which has no notification id). */
export function envelopeFrom (body: unknown): EnvelopeResult {
  if (!isRecord(body)) return { ok: false, problem: 'body is not a JSON object' }
  const { event_id: eventId, event_type: eventType, occurred_at: occurredAt, notification_id: notificationId, data } = body
  if (!isId(eventId)) return { ok: false, problem: 'event_id must be a non-empty string' }
  if (typeof eventType !== 'string' || !EVENT_TYPE.test(eventType) || eventType.length > MAX_ID_LENGTH) {
    return { ok: false, problem: 'event_type must be a dotted event name such as "transaction.completed"' }
  }
  const occurredAtCanonical = parseTimestamp(occurredAt)
  if (occurredAtCanonical === null) return { ok: false, problem: 'occurred_at must be an RFC 3339 timestamp' }
  if (!isRecord(data)) return { ok: false, problem: 'data must be an object' }
  if (notificationId !== undefined && notificationId !== null && !isId(notificationId)) {
    return { ok: false, problem: 'notification_id must be a string or null' }
  }
  return {
    ok: true,
    envelope: {
      eventId,
      eventType,
      occurredAt: occurredAtCanonical,
      notificationId: notificationId ?? null,
      data,
    },
  }
}

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Paddle's ids are printable ASCII (`evt_01h…`); anything else could not be stored or logged safely. */
const ID = /^[\x21-\x7e]+$/

function isId (value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ID_LENGTH && ID.test(value)
}
