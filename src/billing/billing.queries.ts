// Reads behind the internal API.
import { and, asc, desc, eq, inArray, lt, or } from 'drizzle-orm'
import type { Database } from '../db/client.js'
import { adjustmentsTable, customersTable, subscriptionItemsTable, subscriptionsTable, transactionsTable } from '../db/schema.js'
import type { AdjustmentState } from './adjustments.apply.js'
import type { CustomerState } from './customers.apply.js'
import type { SubscriptionItemRow, SubscriptionState } from './subscriptions.apply.js'
import type { TransactionState } from './transactions.apply.js'

export async function findSubscriptions (db: Database, where: { ids?: string[], customerId?: string, accountId?: string }): Promise<SubscriptionState[]> {
  const condition = where.ids !== undefined
    ? inArray(subscriptionsTable.id, where.ids)
    : where.customerId !== undefined
      ? eq(subscriptionsTable.customerId, where.customerId)
      : eq(subscriptionsTable.accountId, where.accountId ?? '')
  const rows = await db.select().from(subscriptionsTable).where(condition).orderBy(asc(subscriptionsTable.paddleCreatedAt), asc(subscriptionsTable.id))
  if (rows.length === 0) return []
  const items = await db.select().from(subscriptionItemsTable)
    .where(inArray(subscriptionItemsTable.subscriptionId, rows.map((row) => row.id)))
  const itemsBySubscription = new Map<string, SubscriptionItemRow[]>()
  for (const item of items) {
    const list = itemsBySubscription.get(item.subscriptionId) ?? []
    list.push(item)
    itemsBySubscription.set(item.subscriptionId, list)
  }
  return rows.map(({ rowUpdatedAt: _written, ...row }) => ({
    ...row,
    items: (itemsBySubscription.get(row.id) ?? []).sort((a, b) => (a.priceId < b.priceId ? -1 : a.priceId > b.priceId ? 1 : 0)),
  }))
}

export async function findCustomer (db: Database, id: string): Promise<CustomerState | null> {
  const [row] = await db.select().from(customersTable).where(eq(customersTable.id, id))
  if (row === undefined) return null
  const { rowUpdatedAt: _written, ...state } = row
  return state
}

export async function findTransaction (db: Database, id: string): Promise<TransactionState | null> {
  const [row] = await db.select().from(transactionsTable).where(eq(transactionsTable.id, id))
  if (row === undefined) return null
  const { rowUpdatedAt: _written, ...state } = row
  return state
}

export interface TransactionCursor { createdAt: string, id: string }

/** Newest first, by Paddle's created_at then id; `after` continues from the last row of the previous page. */
export async function listAccountTransactions (db: Database, accountId: string, limit: number, after: TransactionCursor | null): Promise<TransactionState[]> {
  const { paddleCreatedAt: createdAt, id } = transactionsTable
  const rows = await db.select().from(transactionsTable)
    .where(and(
      eq(transactionsTable.accountId, accountId),
      after === null ? undefined : or(lt(createdAt, after.createdAt), and(eq(createdAt, after.createdAt), lt(id, after.id)))
    ))
    .orderBy(desc(createdAt), desc(id))
    .limit(limit)
  return rows.map(({ rowUpdatedAt: _written, ...row }) => row)
}

export async function findAdjustments (db: Database, where: { transactionIds: string[] }): Promise<AdjustmentState[]> {
  if (where.transactionIds.length === 0) return []
  const rows = await db.select().from(adjustmentsTable).where(inArray(adjustmentsTable.transactionId, where.transactionIds))
  return rows.map(({ rowUpdatedAt: _written, ...row }) => row)
}
