import type { DatabaseHandle, RawStatement } from '../db/client.js'
import { isTrackedEntityType, TRACKED_ENTITY_TYPES } from '../paddle/event-types.js'
import { canonicalTimestamp } from '../platform/timestamps.js'

interface InboxRow {
  event_id: string
  event_type: string
  entity_type: string
  entity_id: string | null
  customer_id: string | null
  subscription_id: string | null
  origin: string
  occurred_at: string
  received_at: string
  status: string
  outcome: string | null
  note: string | null
  attempts: number
  next_attempt_at: string | null
  last_error: string | null
  processed_at: string | null
}

const COLUMNS = `event_id, event_type, entity_type, entity_id, customer_id, subscription_id, origin, occurred_at, received_at,
  status, outcome, note, attempts, next_attempt_at, last_error, processed_at`

const ts = (value: string | null): string | null => (value === null ? null : canonicalTimestamp(value))

function toEvent (row: InboxRow) {
  return {
    eventId: row.event_id,
    eventType: row.event_type,
    entityType: row.entity_type,
    entityId: row.entity_id,
    customerId: row.customer_id,
    subscriptionId: row.subscription_id,
    origin: row.origin,
    occurredAt: canonicalTimestamp(row.occurred_at),
    receivedAt: canonicalTimestamp(row.received_at),
    status: row.status,
    outcome: row.outcome,
    note: row.note,
    attempts: row.attempts,
    // A retry time means something only while one is scheduled.
    nextAttemptAt: row.status === 'failed' || row.status === 'pending' ? ts(row.next_attempt_at) : null,
    lastError: row.last_error,
    processedAt: ts(row.processed_at),
  }
}

const LIST_BY_STATUS: RawStatement = {
  name: 'admin_events_by_status',
  text: `SELECT ${COLUMNS} FROM paddle_inbox WHERE status = $1 ORDER BY received_at DESC, event_id DESC LIMIT $2`,
}

export async function listEvents (database: DatabaseHandle, status: 'dead' | 'failed' | 'pending', limit: number) {
  return (await database.query<InboxRow>(LIST_BY_STATUS, [status, limit])).map(toEvent)
}

const REDRIVE: RawStatement = {
  name: 'admin_redrive',
  text: `UPDATE paddle_inbox SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
    WHERE event_id = $1 AND status IN ('dead', 'failed') AND (payload IS NOT NULL OR NOT (entity_type = ANY($2::text[])))
    RETURNING event_id`,
}
const STATUS_OF: RawStatement = {
  name: 'admin_status_of',
  text: 'SELECT status, entity_type, payload IS NULL AS payload_gone FROM paddle_inbox WHERE event_id = $1',
}

export async function redrive (database: DatabaseHandle, eventId: string): Promise<'redriven' | 'not_found' | 'not_redrivable' | 'payload_gone'> {
  const [row] = await database.query<{ event_id: string }>(REDRIVE, [eventId, TRACKED_ENTITY_TYPES])
  if (row !== undefined) return 'redriven'
  const [current] = await database.query<{ status: string, entity_type: string, payload_gone: boolean }>(STATUS_OF, [eventId])
  if (current === undefined) return 'not_found'
  if (current.status !== 'dead' && current.status !== 'failed') return 'not_redrivable'
  return current.payload_gone && isTrackedEntityType(current.entity_type) ? 'payload_gone' : 'not_redrivable'
}

const SUBSCRIPTION: RawStatement = {
  name: 'admin_timeline_subscription',
  text: 'SELECT id, status, version, account_id, origin_transaction_id FROM subscriptions WHERE id = $1',
}

// The subscription's own events, its transactions' and adjustments' (subscription_id), and the events
// of its checkout transaction from before Paddle attached the subscription to it.
const TIMELINE: RawStatement = {
  name: 'admin_timeline_events',
  text: `SELECT ${COLUMNS.split(',').map((column) => `i.${column.trim()}`).join(', ')},
      COALESCE((SELECT json_agg(json_build_object('id', e.id, 'type', e.type, 'status', e.status) ORDER BY e.seq)
        FROM email_events e WHERE e.source_event_id = i.event_id), '[]') AS email_events
    FROM paddle_inbox i
    WHERE i.subscription_id = $1 OR (i.entity_type = 'transaction' AND i.entity_id = $2)
    ORDER BY i.occurred_at, i.event_id`,
}

export async function subscriptionTimeline (database: DatabaseHandle, subscriptionId: string) {
  const [subscription] = await database.query<{ id: string, status: string, version: string, account_id: string | null, origin_transaction_id: string | null }>(
    SUBSCRIPTION, [subscriptionId])
  const rows = await database.query<InboxRow & { email_events: Array<{ id: string, type: string, status: string }> }>(
    TIMELINE, [subscriptionId, subscription?.origin_transaction_id ?? null])
  return {
    subscription: subscription === undefined
      ? null
      : { id: subscription.id, status: subscription.status, version: subscription.version, accountId: subscription.account_id },
    events: rows.map((row) => ({ ...toEvent(row), emailEvents: row.email_events })),
  }
}
