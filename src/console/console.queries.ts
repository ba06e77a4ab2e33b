// Reads behind the console's pages that no other feature needs. Writes (redrive, redeliver) are the admin
// and email-events features' own functions.
import { and, desc, eq, inArray, isNotNull, or, sql, type SQL } from 'drizzle-orm'
import { INBOX_EVENT_COLUMNS } from '../admin/admin.repository.js'
import { readInboxLagSeconds } from '../admin/backlog.repository.js'
import type { Database } from '../db/client.js'
import { emailEventsTable, paddleInboxTable, type InboxStatus } from '../db/schema.js'

export interface InboxSummary { pending: number, failed: number, dead: number, oldestPendingSeconds: number }

/** The backlog as the metrics count it: rows waiting, retrying, dead, and how long the oldest pending one has waited. */
export async function readInboxSummary (db: Database): Promise<InboxSummary> {
  const counts = await db.select({ status: paddleInboxTable.status, count: sql<number>`count(*)::int` })
    .from(paddleInboxTable)
    .where(inArray(paddleInboxTable.status, ['pending', 'failed', 'dead']))
    .groupBy(paddleInboxTable.status)
  const lagSeconds = await readInboxLagSeconds({ db })
  const count = (status: InboxStatus): number => counts.find((row) => row.status === status)?.count ?? 0
  return { pending: count('pending'), failed: count('failed'), dead: count('dead'), oldestPendingSeconds: Math.round(lagSeconds) }
}

export interface InboxFilter {
  status?: InboxStatus | undefined
  eventType?: string | undefined
  /** A subscription, customer, transaction or adjustment id: the events about it. */
  entityId?: string | undefined
  eventId?: string | undefined
  limit: number
}

/**
 * Newest first. An entity id is looked up in the column that has an index for it where one does:
 * a subscription's events (its own and its transactions' and adjustments'), a customer's, else the
 * event's own entity.
 */
export async function listInboxEvents (db: Database, filter: InboxFilter) {
  const inbox = paddleInboxTable
  const conditions: SQL[] = []
  if (filter.status !== undefined) conditions.push(eq(inbox.status, filter.status))
  if (filter.eventType !== undefined) conditions.push(eq(inbox.eventType, filter.eventType))
  if (filter.eventId !== undefined) conditions.push(eq(inbox.eventId, filter.eventId))
  if (filter.entityId !== undefined) {
    const id = filter.entityId
    conditions.push(id.startsWith('sub_')
      ? eq(inbox.subscriptionId, id)
      : id.startsWith('ctm_') ? eq(inbox.customerId, id) : eq(inbox.entityId, id))
  }
  return await db.select({ ...INBOX_EVENT_COLUMNS, payload: inbox.payload }).from(inbox)
    .where(and(...conditions))
    .orderBy(desc(inbox.receivedAt), desc(inbox.eventId))
    .limit(filter.limit)
}

export type ListedInboxEvent = Awaited<ReturnType<typeof listInboxEvents>>[number]

const emailEventColumns = {
  id: emailEventsTable.id,
  type: emailEventsTable.type,
  status: emailEventsTable.status,
  occurredAt: emailEventsTable.occurredAt,
  createdAt: emailEventsTable.createdAt,
  subscriptionId: emailEventsTable.subscriptionId,
  transactionId: emailEventsTable.transactionId,
  sourceEventId: emailEventsTable.sourceEventId,
  attempts: emailEventsTable.attempts,
  nextAttemptAt: emailEventsTable.nextAttemptAt,
  lastError: emailEventsTable.lastError,
  lastStatusCode: emailEventsTable.lastStatusCode,
  deliveredAt: emailEventsTable.deliveredAt,
}

/** Deliveries that failed: dead ones (redeliverable), and pending ones whose last attempt failed (retrying). Newest first. */
export async function listFailedEmailEvents (db: Database, limit: number) {
  const events = emailEventsTable
  return await db.select(emailEventColumns).from(events)
    .where(or(eq(events.status, 'dead'), and(eq(events.status, 'pending'), isNotNull(events.lastError))))
    .orderBy(desc(events.createdAt), desc(events.id))
    .limit(limit)
}

export type ListedEmailEvent = Awaited<ReturnType<typeof listFailedEmailEvents>>[number]

/**
 * A subscription's email events, newest first. Through its customer's index when the customer is
 * known (email_events has no index on subscription_id).
 */
export async function listSubscriptionEmailEvents (db: Database, subscriptionId: string, customerId: string | null, limit: number) {
  const events = emailEventsTable
  return await db.select(emailEventColumns).from(events)
    .where(and(eq(events.subscriptionId, subscriptionId), customerId === null ? undefined : eq(events.customerId, customerId)))
    .orderBy(desc(events.seq))
    .limit(limit)
}
