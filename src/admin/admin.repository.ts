import { and, asc, desc, eq, inArray, isNotNull, notInArray, or, sql } from 'drizzle-orm'
import { isAnyOf } from '../db/array-conditions.js'
import type { DatabaseHandle } from '../db/client.js'
import { emailEventsTable, paddleInboxTable, subscriptionsTable } from '../db/schema.js'
import { isTrackedEntityType, TRACKED_ENTITY_TYPES } from '../paddle/event-types.js'

const inbox = paddleInboxTable

/** What an operator sees of an inbox row: everything but the payload (and the notification id). */
export const INBOX_EVENT_COLUMNS = {
  eventId: inbox.eventId,
  eventType: inbox.eventType,
  entityType: inbox.entityType,
  entityId: inbox.entityId,
  customerId: inbox.customerId,
  subscriptionId: inbox.subscriptionId,
  origin: inbox.origin,
  occurredAt: inbox.occurredAt,
  receivedAt: inbox.receivedAt,
  status: inbox.status,
  outcome: inbox.outcome,
  note: inbox.note,
  attempts: inbox.attempts,
  nextAttemptAt: inbox.nextAttemptAt,
  lastError: inbox.lastError,
  processedAt: inbox.processedAt,
}

type EventRow = Omit<typeof paddleInboxTable.$inferSelect, 'notificationId' | 'payload' | 'traceparent'>

function toEvent (row: EventRow) {
  return {
    ...row,
    // A retry time means something only while one is scheduled.
    nextAttemptAt: row.status === 'failed' || row.status === 'pending' ? row.nextAttemptAt : null,
  }
}

export async function listEvents (database: DatabaseHandle, status: 'dead' | 'failed' | 'pending', limit: number) {
  const rows = await database.db.select(INBOX_EVENT_COLUMNS).from(inbox).where(eq(inbox.status, status))
    .orderBy(desc(inbox.receivedAt), desc(inbox.eventId)).limit(limit)
  return rows.map(toEvent)
}

export async function redrive (database: DatabaseHandle, eventId: string): Promise<'redriven' | 'not_found' | 'not_redrivable' | 'payload_gone'> {
  const [row] = await database.db.update(inbox)
    .set({ status: 'pending', attempts: 0, nextAttemptAt: sql`now()`, lastError: null })
    .where(and(
      eq(inbox.eventId, eventId),
      inArray(inbox.status, ['dead', 'failed']),
      // An event of a tracked entity whose payload retention dropped has nothing left to apply.
      or(isNotNull(inbox.payload), notInArray(inbox.entityType, [...TRACKED_ENTITY_TYPES]))
    ))
    .returning({ eventId: inbox.eventId })
  if (row !== undefined) return 'redriven'
  const [current] = await database.db.select({ status: inbox.status, entityType: inbox.entityType, payloadGone: sql<boolean>`${inbox.payload} IS NULL` })
    .from(inbox).where(eq(inbox.eventId, eventId))
  if (current === undefined) return 'not_found'
  if (current.status !== 'dead' && current.status !== 'failed') return 'not_redrivable'
  return current.payloadGone && isTrackedEntityType(current.entityType) ? 'payload_gone' : 'not_redrivable'
}

export async function subscriptionTimeline (database: DatabaseHandle, subscriptionId: string) {
  const { db } = database
  const [subscription] = await db.select({
    id: subscriptionsTable.id,
    status: subscriptionsTable.status,
    version: subscriptionsTable.version,
    accountId: subscriptionsTable.accountId,
    originTransactionId: subscriptionsTable.originTransactionId,
  }).from(subscriptionsTable).where(eq(subscriptionsTable.id, subscriptionId))
  // The subscription's own events, its transactions' and adjustments' (subscription_id), and the events
  // of its checkout transaction from before Paddle attached the subscription to it.
  const checkout = subscription?.originTransactionId ?? null
  const rows = await db.select(INBOX_EVENT_COLUMNS).from(inbox)
    .where(or(
      eq(inbox.subscriptionId, subscriptionId),
      checkout === null ? undefined : and(eq(inbox.entityType, 'transaction'), eq(inbox.entityId, checkout))
    ))
    .orderBy(asc(inbox.occurredAt), asc(inbox.eventId))
  // The email events each of them produced, in the order they were written.
  const emails = rows.length === 0
    ? []
    : await db.select({ id: emailEventsTable.id, type: emailEventsTable.type, status: emailEventsTable.status, sourceEventId: emailEventsTable.sourceEventId })
      .from(emailEventsTable).where(isAnyOf(emailEventsTable.sourceEventId, rows.map((row) => row.eventId)))
      .orderBy(asc(emailEventsTable.seq))
  const emailsBySource = new Map<string, Array<{ id: string, type: string, status: string }>>()
  for (const { sourceEventId, ...email } of emails) {
    if (sourceEventId === null) continue
    const list = emailsBySource.get(sourceEventId) ?? []
    list.push(email)
    emailsBySource.set(sourceEventId, list)
  }
  return {
    subscription: subscription === undefined
      ? null
      : { id: subscription.id, status: subscription.status, version: subscription.version, accountId: subscription.accountId },
    events: rows.map((row) => ({ ...toEvent(row), emailEvents: emailsBySource.get(row.eventId) ?? [] })),
  }
}
