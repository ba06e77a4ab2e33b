import { getTableColumns } from 'drizzle-orm'
import type { RawStatement, Transaction } from '../db/client.js'
import { subscriptionItemsTable, subscriptionsTable } from '../db/schema.js'
import { tableStatements } from '../db/statements.js'
import { anyAccountsMoved, movedAccountsQuery } from './accounts.repository.js'
import type { ProjectedSubscription } from '../paddle/projection.js'
import { applyVersioned, oneOf, required, withoutRowTime, type ApplyContext, type ApplyResult, type StateOf, type VersionedStore } from './apply-context.js'
import { entityUpdatedAtOf, entityVersion } from './version.js'

export const SUBSCRIPTION_STATUSES = ['active', 'canceled', 'past_due', 'paused', 'trialing'] as const

export type SubscriptionRow = typeof subscriptionsTable.$inferSelect
export type SubscriptionItemRow = typeof subscriptionItemsTable.$inferSelect
/** A subscription with its items, as the email events compare it before and after an event. */
export type SubscriptionState = StateOf<SubscriptionRow> & { items: SubscriptionItemRow[] }

const statements = tableStatements(subscriptionsTable)
const itemColumns = Object.entries(getTableColumns(subscriptionItemsTable))

/**
 * The items' columns as JSON takes them, the amount as text (a numeric(30,0) is past what a JSON
 * number keeps). Built as json from a row (json_agg of a subquery), not jsonb (to_jsonb(i) || ...):
 * the same keys and value forms, at about a third of the database's CPU (measured on 1,125 items).
 */
const ITEM_COLUMNS_AS_JSON = itemColumns.map(([, column]) => column.name === 'unit_price_amount'
  ? `i.${column.name}::text AS ${column.name}`
  : `i.${column.name}`).join(', ')

/** Subscriptions `s` and their items in one round trip: `rest` is what follows FROM. */
const withItems = (name: string, rest: string): RawStatement => ({
  name,
  text: `SELECT s.*, COALESCE((
      SELECT json_agg(item) FROM (SELECT ${ITEM_COLUMNS_AS_JSON} FROM subscription_items i WHERE i.subscription_id = s.id) AS item
    ), '[]') AS items_json
    FROM ${rest}`,
})

/** The subscription and its items, locked for the rest of the transaction. */
const SELECT_WITH_ITEMS = withItems('subscription_with_items_for_update', 'subscriptions s WHERE s.id = $1 FOR UPDATE OF s')

/** Several subscriptions and their items, locked. */
const SELECT_MANY_WITH_ITEMS = withItems('subscriptions_with_items_for_update_many', 'subscriptions s WHERE s.id = ANY($1::text[]) ORDER BY s.id FOR UPDATE OF s')

/** An account's subscriptions and their items, in the order the read API lists them (billing.queries.ts). */
const SELECT_ACCOUNT_WITH_ITEMS = withItems('account_subscriptions_with_items', 'subscriptions s WHERE s.account_id = $1 ORDER BY s.paddle_created_at, s.id')

/**
 * The same, for every account the transaction's last relink moved a subscription from or to
 * (accounts.repository.ts), read after every relink. Nearly always none moved, and then nothing is
 * scanned (a one-time filter): the planner expects a hundred accounts from the array, and chose to
 * scan the whole table for them while it held up to a few thousand subscriptions (auto_explain on
 * the mixed backlog: a tenth of these reads, and 2.9 million rows scanned in 13,600 events).
 */
const SELECT_RELINKED_ACCOUNTS_WITH_ITEMS = withItems('relinked_account_subscriptions_with_items',
  `subscriptions s WHERE ${anyAccountsMoved} AND s.account_id = ANY (ARRAY(${movedAccountsQuery}))
    ORDER BY s.account_id, s.paddle_created_at, s.id`)

type RowWithItems = Record<string, unknown> & { items_json: Array<Record<string, unknown>> }
const KEEP_ORIGIN_TRANSACTION: RawStatement = {
  name: 'subscription_keep_origin_transaction',
  text: 'UPDATE subscriptions SET origin_transaction_id = $2 WHERE id = $1 AND origin_transaction_id IS NULL',
}
const DELETE_ITEMS: RawStatement = { name: 'subscription_items_delete', text: 'DELETE FROM subscription_items WHERE subscription_id = $1' }
const INSERT_ITEMS: RawStatement = {
  name: 'subscription_items_insert',
  text: 'INSERT INTO subscription_items SELECT * FROM jsonb_populate_recordset(NULL::subscription_items, $1::jsonb)',
}

export async function loadSubscriptionState (tx: Transaction, id: string): Promise<SubscriptionState | null> {
  const [row] = await tx.query<RowWithItems>(SELECT_WITH_ITEMS, [id])
  return row === undefined ? null : stateFromRow(row)
}

/**
 * Inside a transaction: the account's subscriptions as findSubscriptions({ accountId }) reads them, in
 * one named statement, read as the transaction's data stands now but sent with its next statement
 * (Transaction.deferRead); the states once that round trip has answered.
 */
export function deferAccountSubscriptionStates (tx: Pick<Transaction, 'deferRead'>, accountId: string): () => Promise<SubscriptionState[]> {
  const read = tx.deferRead<RowWithItems>(SELECT_ACCOUNT_WITH_ITEMS, [accountId])
  return async () => (await read.rows()).map(stateFromRow)
}

/**
 * The same for the accounts the transaction's last relink statement moved a subscription from or to
 * (deferred right after it, whose statement locked them): their states by account, in the same order.
 */
export function deferRelinkedAccountSubscriptionStates (tx: Pick<Transaction, 'deferRead'>): () => Promise<Map<string, SubscriptionState[]>> {
  const read = tx.deferRead<RowWithItems>(SELECT_RELINKED_ACCOUNTS_WITH_ITEMS, [])
  return async () => {
    const byAccount = new Map<string, SubscriptionState[]>()
    for (const row of await read.rows()) {
      const state = stateFromRow(row)
      const accountId = state.accountId ?? ''
      const states = byAccount.get(accountId)
      if (states === undefined) byAccount.set(accountId, [state])
      else states.push(state)
    }
    return byAccount
  }
}

function stateFromRow (row: RowWithItems): SubscriptionState {
  return { ...withoutRowTime(statements.fromRow(row)), items: row.items_json.map(itemFromRow).sort(byPriceId) }
}

function itemFromRow (row: Record<string, unknown>): SubscriptionItemRow {
  return Object.fromEntries(itemColumns.map(([key, column]) => {
    const value = row[column.name]
    return [key, value === null || value === undefined ? null : column.mapFromDriverValue(value)]
  })) as SubscriptionItemRow
}

function itemsAsJson (items: SubscriptionItemRow[]): string {
  return JSON.stringify(items.map((item) => Object.fromEntries(itemColumns.map(([key, column]) => {
    const value = item[key as keyof SubscriptionItemRow]
    return [column.name, value === null || value === undefined ? null : column.mapToDriverValue(value)]
  }))))
}

/** A subscription is its row and its items: read together, locked; items rewritten only when they changed. */
export const subscriptionStore: VersionedStore<SubscriptionState> = {
  load: loadSubscriptionState,
  async loadMany (tx, ids) {
    const rows = await tx.query<RowWithItems>(SELECT_MANY_WITH_ITEMS, [ids])
    return new Map(rows.map((row) => {
      const state = stateFromRow(row)
      return [state.id, state]
    }))
  },
  save (tx, after, before) {
    const { items, ...row } = after
    tx.defer(statements.upsert, statements.values(row))
    // Most events leave the items as they were.
    if (before === null || !sameItems(before.items, items)) {
      tx.defer(DELETE_ITEMS, [after.id])
      if (items.length > 0) tx.defer(INSERT_ITEMS, [itemsAsJson(items)])
    }
  },
}

export async function applySubscriptionEvent (
  context: ApplyContext,
  payload: ProjectedSubscription
): Promise<ApplyResult<SubscriptionState>> {
  const id = required(payload.id, 'id')
  const status = oneOf(payload.status, SUBSCRIPTION_STATUSES, 'status')
  const version = entityVersion(payload.updated_at, context.occurredAt, context.eventId)
  const { tx } = context

  return await applyVersioned(context, subscriptionStore, version, id, (before) => {
    const customAccountId = payload.custom_data?.[context.accountIdKey] ?? null
    const importMeta = payload.import_meta ?? null
    return {
      id,
      customerId: payload.customer_id,
      customAccountId,
      // Resolved again by relinkAccounts in the same transaction.
      accountId: customAccountId ?? before?.accountId ?? null,
      // Only subscription.created carries transaction_id; later events must not erase it.
      originTransactionId: payload.transaction_id ?? before?.originTransactionId ?? null,
      status,
      currencyCode: payload.currency_code,
      collectionMode: payload.collection_mode,
      billingInterval: payload.billing_cycle?.interval ?? null,
      billingFrequency: payload.billing_cycle?.frequency ?? null,
      currentPeriodStartsAt: payload.current_billing_period?.starts_at ?? null,
      currentPeriodEndsAt: payload.current_billing_period?.ends_at ?? null,
      nextBilledAt: payload.next_billed_at,
      startedAt: payload.started_at,
      firstBilledAt: payload.first_billed_at,
      pausedAt: payload.paused_at,
      canceledAt: payload.canceled_at,
      trialEndsAt: latest(payload.items.map((item) => item.trial_dates?.ends_at ?? null)),
      scheduledChangeAction: payload.scheduled_change?.action ?? null,
      scheduledChangeEffectiveAt: payload.scheduled_change?.effective_at ?? null,
      scheduledChangeResumeAt: payload.scheduled_change?.resume_at ?? null,
      discountId: payload.discount?.id ?? null,
      // Paddle never un-imports a subscription; a payload projected before this field was kept has none.
      importedFrom: importMeta === null ? before?.importedFrom ?? null : importMeta.imported_from ?? 'unknown',
      paddleCreatedAt: payload.created_at,
      paddleUpdatedAt: payload.updated_at,
      version,
      items: subscriptionItemsOf(id, payload.items),
    }
  }, {
    // Only subscription.created names the checkout transaction, and it may lose the version race to
    // .activated (same entity updated_at): the link is a fact, not state, so it is kept either way.
    whenOlder: async (stored) => {
      if (stored.originTransactionId !== null || payload.transaction_id === null) return null
      tx.defer(KEEP_ORIGIN_TRANSACTION, [id, payload.transaction_id])
      return { outcome: 'stale', note: `older than the stored version ${stored.version}; kept its checkout transaction id`, relink: true }
    },
    // Canceled is terminal at Paddle: only a strictly newer entity may move a subscription out of it,
    // never a re-sent or fanned-out event that carries the same entity updated_at.
    refuse: (stored) => stored.status === 'canceled' && status !== 'canceled' &&
      (payload.updated_at ?? '') <= entityUpdatedAtOf(stored.version)
      ? 'the subscription is canceled and this event is not strictly newer'
      : null,
    needsRelink: (before, after) => before === null || before.customerId !== after.customerId ||
      before.customAccountId !== after.customAccountId || before.originTransactionId !== after.originTransactionId,
  })
}

const ITEM_FIELDS = ['priceId', 'productId', 'quantity', 'status', 'recurring', 'unitPriceAmount', 'unitPriceCurrencyCode',
  'billingInterval', 'billingFrequency', 'trialStartsAt', 'trialEndsAt', 'previouslyBilledAt', 'nextBilledAt'] as const

/** Both lists sorted by price id. */
/**
 * The items as stored: those with a price, quantity 1 when Paddle leaves it out, in price order.
 * The drift report compares Paddle's items the same way (reconcile/subscription-drift.ts).
 */
export function subscriptionItemsOf (id: string, items: ProjectedSubscription['items']): SubscriptionItemRow[] {
  return items
    .filter((item) => item.price_id !== null)
    .map((item) => ({
      subscriptionId: id,
      priceId: item.price_id ?? '',
      productId: item.product_id,
      quantity: item.quantity ?? 1,
      status: item.status,
      recurring: item.recurring,
      unitPriceAmount: item.unit_price?.amount ?? null,
      unitPriceCurrencyCode: item.unit_price?.currency_code ?? null,
      billingInterval: item.billing_cycle?.interval ?? null,
      billingFrequency: item.billing_cycle?.frequency ?? null,
      trialStartsAt: item.trial_dates?.starts_at ?? null,
      trialEndsAt: item.trial_dates?.ends_at ?? null,
      previouslyBilledAt: item.previously_billed_at,
      nextBilledAt: item.next_billed_at,
    }))
    .sort(byPriceId)
}

function sameItems (a: SubscriptionItemRow[], b: SubscriptionItemRow[]): boolean {
  return a.length === b.length && a.every((item, index) => ITEM_FIELDS.every((field) => item[field] === b[index]?.[field]))
}

function byPriceId (a: { priceId: string }, b: { priceId: string }): number {
  return a.priceId < b.priceId ? -1 : a.priceId > b.priceId ? 1 : 0
}

function latest (values: Array<string | null>): string | null {
  let result: string | null = null
  for (const value of values) if (value !== null && (result === null || value > result)) result = value
  return result
}
