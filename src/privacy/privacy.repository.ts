/** The privacy feature's SQL: an account's records for export, a customer's erasure, and retention's batch deletes. */
import { and, eq, inArray, isNotNull, lt, notInArray, or, sql } from 'drizzle-orm'
import { selectRows, type Database } from '../db/client.js'
import {
  adjustmentsTable, customersTable, emailEventsTable, entitlementEventsTable, paddleInboxTable, personalDataErasuresTable,
  subscriptionItemsTable, subscriptionsTable, transactionsTable,
} from '../db/schema.js'
import { findAdjustments, findSubscriptions } from '../billing/billing.queries.js'

// Access and portability.

/** Everything stored about an account, as rows. */
export async function readAccountRecords (db: Database, accountId: string) {
  const subscriptions = await findSubscriptions(db, { accountId })
  const transactions = await db.select().from(transactionsTable).where(eq(transactionsTable.accountId, accountId))
    .orderBy(transactionsTable.paddleCreatedAt, transactionsTable.id)
  // The account's customers: linked to it, or the customers of its subscriptions and transactions.
  const customerIds = [...new Set([...subscriptions, ...transactions].map((row) => row.customerId).filter((id): id is string => id !== null))]
  const customers = await db.select().from(customersTable).where(customerIds.length === 0
    ? eq(customersTable.accountId, accountId)
    : or(eq(customersTable.accountId, accountId), inArray(customersTable.id, customerIds))).orderBy(customersTable.id)
  const adjustments = await findAdjustments(db, { transactionIds: transactions.map((row) => row.id) })
  const emailEvents = await db.select().from(emailEventsTable).where(eq(emailEventsTable.accountId, accountId))
    .orderBy(emailEventsTable.txId, emailEventsTable.seq)
  const erasures = customers.length === 0
    ? []
    : await db.select().from(personalDataErasuresTable).where(inArray(personalDataErasuresTable.customerId, customers.map((row) => row.id)))
  return { subscriptions, transactions, customers, adjustments, emailEvents, erasures }
}

// Erasure.

/**
 * Erases the customer's name and email from the customer row (created if the customer is not seen
 * yet: its events, when they come, then arrive already erased) and from the inbox payloads of its
 * customer events, and records that it happened. Returns this erasure's time and the record.
 */
export async function eraseCustomerPersonalData (db: Database, customerId: string) {
  const [customer] = await db.insert(customersTable).values({ id: customerId, erasedAt: sql`now()` })
    .onConflictDoUpdate({
      target: customersTable.id,
      set: { name: null, email: null, erasedAt: sql`now()`, rowUpdatedAt: sql`now()` },
    })
    .returning({ erasedAt: customersTable.erasedAt })

  const { payload } = paddleInboxTable
  await db.update(paddleInboxTable).set({ payload: sql`${payload} - 'name' - 'email'` })
    .where(and(
      eq(paddleInboxTable.customerId, customerId),
      eq(paddleInboxTable.entityType, 'customer'),
      isNotNull(payload),
      sql`(${payload} ? 'name' OR ${payload} ? 'email')`
    ))

  const erasures = personalDataErasuresTable
  const [record] = await db.insert(erasures).values({ customerId })
    .onConflictDoUpdate({ target: erasures.customerId, set: { lastErasedAt: sql`now()`, requests: sql`${erasures.requests} + 1` } })
    .returning({ firstErasedAt: erasures.firstErasedAt, requests: erasures.requests })
  const erasedAt = customer?.erasedAt ?? null
  if (erasedAt === null || record === undefined) throw new Error(`the erasure of ${customerId} returned no row`)
  return { erasedAt, firstErasedAt: record.firstErasedAt, requests: record.requests }
}

// Retention. Each deletes (or empties) at most `limit` rows older than `cutoff` and says how many.

/** Inbox payloads of events done with (the envelope stays, as the subscription's history). */
export async function dropInboxPayloads (db: Database, cutoff: string, limit: number): Promise<number> {
  const inbox = paddleInboxTable
  const batch = db.select({ eventId: inbox.eventId }).from(inbox)
    .where(and(lt(inbox.receivedAt, cutoff), isNotNull(inbox.payload), notInArray(inbox.status, ['pending', 'failed']))).limit(limit)
  return (await db.update(inbox).set({ payload: null }).where(inArray(inbox.eventId, batch)).returning({ eventId: inbox.eventId })).length
}

/**
 * Delivered and suppressed events of an outbox (email_events, entitlement_events); pending ones too
 * when nothing pushes them (they exist for the pull feed only). Dead ones stay for an operator.
 */
export async function deleteOutboxEvents (
  db: Database,
  outbox: typeof emailEventsTable | typeof entitlementEventsTable,
  cutoff: string,
  limit: number,
  options: { keepPending: boolean }
): Promise<number> {
  const statuses = options.keepPending ? ['delivered', 'suppressed'] as const : ['delivered', 'suppressed', 'pending'] as const
  const batch = db.select({ id: outbox.id }).from(outbox).where(and(lt(outbox.createdAt, cutoff), inArray(outbox.status, [...statuses]))).limit(limit)
  return (await db.delete(outbox).where(inArray(outbox.id, batch)).returning({ id: outbox.id })).length
}

export async function deleteAdjustments (db: Database, cutoff: string, limit: number): Promise<number> {
  const a = adjustmentsTable
  const batch = db.select({ id: a.id }).from(a).where(sql`COALESCE(${a.paddleUpdatedAt}, ${a.rowUpdatedAt}) < ${cutoff}`).limit(limit)
  return (await db.delete(a).where(inArray(a.id, batch)).returning({ id: a.id })).length
}

export async function deleteTransactions (db: Database, cutoff: string, limit: number): Promise<number> {
  const t = transactionsTable
  const batch = db.select({ id: t.id }).from(t).where(sql`COALESCE(${t.paddleUpdatedAt}, ${t.paddleCreatedAt}) < ${cutoff}`).limit(limit)
  return (await db.delete(t).where(inArray(t.id, batch)).returning({ id: t.id })).length
}

/** Only subscriptions that ended (canceled) before the cutoff, with their items: a live one is never history. */
export async function deleteEndedSubscriptions (db: Database, cutoff: string, limit: number): Promise<number> {
  const s = subscriptionsTable
  const items = subscriptionItemsTable
  const gone = await selectRows<{ id: string }>(db, sql`WITH gone AS (
      DELETE FROM ${s} WHERE ${s.id} IN (SELECT ${s.id} FROM ${s}
        WHERE ${s.status} = 'canceled' AND COALESCE(${s.canceledAt}, ${s.paddleUpdatedAt}) < ${cutoff} LIMIT ${limit})
      RETURNING ${s.id})
    , deleted_items AS (DELETE FROM ${items} WHERE ${items.subscriptionId} IN (SELECT id FROM gone))
    SELECT id FROM gone`)
  return gone.length
}

/** Inbox rows done with, envelope and all. */
export async function deleteInboxEnvelopes (db: Database, cutoff: string, limit: number): Promise<number> {
  const inbox = paddleInboxTable
  const batch = db.select({ eventId: inbox.eventId }).from(inbox)
    .where(and(lt(inbox.receivedAt, cutoff), notInArray(inbox.status, ['pending', 'failed']))).limit(limit)
  return (await db.delete(inbox).where(inArray(inbox.eventId, batch)).returning({ eventId: inbox.eventId })).length
}
