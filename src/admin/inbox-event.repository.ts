/** One inbox event with what the service kept of it: read by operators and by `paddle:send --again`. */
import { eq } from 'drizzle-orm'
import type { DatabaseHandle } from '../db/client.js'
import { paddleInboxTable } from '../db/schema.js'

export async function findInboxEvent (database: Pick<DatabaseHandle, 'db'>, eventId: string) {
  const [row] = await database.db.select().from(paddleInboxTable).where(eq(paddleInboxTable.eventId, eventId))
  if (row === undefined) return null
  return {
    eventId: row.eventId,
    notificationId: row.notificationId,
    eventType: row.eventType,
    entityType: row.entityType,
    entityId: row.entityId,
    customerId: row.customerId,
    subscriptionId: row.subscriptionId,
    origin: row.origin,
    occurredAt: row.occurredAt,
    receivedAt: row.receivedAt,
    status: row.status,
    outcome: row.outcome,
    note: row.note,
    attempts: row.attempts,
    // A retry time means something only while one is scheduled (as in the lists).
    nextAttemptAt: row.status === 'failed' || row.status === 'pending' ? row.nextAttemptAt : null,
    lastError: row.lastError,
    processedAt: row.processedAt,
    payload: row.payload ?? null,
  }
}
