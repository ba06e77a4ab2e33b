// Reads behind the internal API.
import { and, asc, desc, eq, getTableColumns, inArray, lt, or, type SQL } from 'drizzle-orm'
import type { Database } from '../db/client.js'
import { adjustmentsTable, customersTable, subscriptionItemsTable, subscriptionsTable, transactionsTable } from '../db/schema.js'
import type { AdjustmentState } from './adjustments.apply.js'
import type { StateOf } from './apply-context.js'
import type { CustomerState } from './customers.apply.js'
import type { SubscriptionItemRow, SubscriptionRow, SubscriptionState } from './subscriptions.apply.js'
import type { TransactionState } from './transactions.apply.js'

const { rowUpdatedAt: _written, ...subscriptionStateColumns } = getTableColumns(subscriptionsTable)

/**
 * Subscriptions (as SubscriptionState, once folded by foldSubscriptionItems) with their items, in one
 * round trip: a left join, one row per item, oldest subscription first.
 */
export function selectSubscriptionsWithItems (db: Database, condition: SQL | undefined) {
  return db.select({ subscription: subscriptionStateColumns, item: subscriptionItemsTable }).from(subscriptionsTable)
    .leftJoin(subscriptionItemsTable, eq(subscriptionItemsTable.subscriptionId, subscriptionsTable.id))
    .where(condition)
    .orderBy(asc(subscriptionsTable.paddleCreatedAt), asc(subscriptionsTable.id))
}

/** The rows of selectSubscriptionsWithItems as subscriptions, in their order, each with its items in price order. */
export function foldSubscriptionItems (rows: ReadonlyArray<{ subscription: StateOf<SubscriptionRow>, item: SubscriptionItemRow | null }>): SubscriptionState[] {
  const states = new Map<string, SubscriptionState>()
  for (const { subscription, item } of rows) {
    let state = states.get(subscription.id)
    if (state === undefined) {
      state = { ...subscription, items: [] }
      states.set(subscription.id, state)
    }
    if (item !== null) state.items.push(item)
  }
  const result = [...states.values()]
  for (const state of result) state.items.sort((a, b) => (a.priceId < b.priceId ? -1 : a.priceId > b.priceId ? 1 : 0))
  return result
}

export async function findSubscriptions (db: Database, where: { ids?: string[], customerId?: string, accountId?: string }): Promise<SubscriptionState[]> {
  const condition = where.ids !== undefined
    ? inArray(subscriptionsTable.id, where.ids)
    : where.customerId !== undefined
      ? eq(subscriptionsTable.customerId, where.customerId)
      : eq(subscriptionsTable.accountId, where.accountId ?? '')
  return foldSubscriptionItems(await selectSubscriptionsWithItems(db, condition))
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
