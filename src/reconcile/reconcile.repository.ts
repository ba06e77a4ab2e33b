/** What the reconcile jobs read of our own state: inbox events by id and the subscriptions Paddle does not list. */
import { asc } from 'drizzle-orm'
import { isAnyOf, isNoneOf } from '../db/array-conditions.js'
import type { Database } from '../db/client.js'
import { paddleInboxTable, subscriptionsTable } from '../db/schema.js'

/** The given events as the inbox holds them (those it holds). */
export async function findInboxEvents (db: Database, eventIds: readonly string[]) {
  const inbox = paddleInboxTable
  return await db.select({ eventId: inbox.eventId, status: inbox.status, outcome: inbox.outcome }).from(inbox)
    .where(isAnyOf(inbox.eventId, eventIds))
}

/** Our subscriptions other than `ids` (every one when `ids` is empty), by id. */
export async function findSubscriptionsOtherThan (db: Database, ids: readonly string[]) {
  const s = subscriptionsTable
  return await db.select({ id: s.id, paddleUpdatedAt: s.paddleUpdatedAt }).from(s).where(isNoneOf(s.id, ids)).orderBy(asc(s.id))
}
