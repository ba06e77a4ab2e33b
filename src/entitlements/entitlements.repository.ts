import { eq, sql } from 'drizzle-orm'
import { foldSubscriptionItems, selectSubscriptionsWithItems } from '../billing/billing.queries.js'
import { toSubscriptionResponse } from '../billing/billing.serializers.js'
import { deferAccountSubscriptionStates, deferRelinkedAccountSubscriptionStates, type SubscriptionState } from '../billing/subscriptions.apply.js'
import type { Database, DatabaseHandle, Transaction } from '../db/client.js'
import { subscriptionsTable } from '../db/schema.js'
import type { EntitlementSubscription } from './decide.js'

const STATEMENT_NAME = 'entitlement_account_subscriptions'

/** The account's subscriptions with their items: the same query as GET /internal/subscriptions/:id's, by account. */
const accountSubscriptions = (db: Database) =>
  selectSubscriptionsWithItems(db, eq(subscriptionsTable.accountId, sql.placeholder('accountId')))

/**
 * The hottest read in the service (behind the in-memory cache, entitlement-cache.ts), so it is a
 * prepared, named statement: parsed and planned once per connection.
 */
const prepare = (db: Database) => accountSubscriptions(db).prepare(STATEMENT_NAME)
const prepared = new WeakMap<Database, ReturnType<typeof prepare>>()

/** What the decision reads, and the subscription as the answer shows it, as JSON text serialised once. */
export type AccountSubscription = EntitlementSubscription & { json: string }

export async function findAccountSubscriptions (database: Pick<DatabaseHandle, 'db'>, accountId: string): Promise<AccountSubscription[]> {
  let query = prepared.get(database.db)
  if (query === undefined) {
    query = prepare(database.db)
    prepared.set(database.db, query)
  }
  return foldSubscriptionItems(await query.execute({ accountId })).map(toAccountSubscription)
}

/**
 * The same subscriptions, read inside a transaction that writes (the worker's, the time-driven
 * check's) with a named statement of its own: the builder's prepared query belongs to one Drizzle
 * instance, and a transaction's is made afresh each time. The read is deferred: it sees the
 * transaction's data as it is now and travels with the transaction's next statement, so reading
 * after every event of a batch costs no round trip of its own.
 */
export function deferAccountSubscriptionsIn (tx: Pick<Transaction, 'deferRead'>, accountId: string): () => Promise<AccountSubscription[]> {
  const states = deferAccountSubscriptionStates(tx, accountId)
  return async () => (await states()).map(toAccountSubscription)
}

/** The same for the accounts the transaction's last relink moved a subscription from or to (deferred right after it): `of(accountId)`. */
export function deferRelinkedAccountSubscriptionsIn (tx: Pick<Transaction, 'deferRead'>): () => Promise<(accountId: string) => AccountSubscription[]> {
  const states = deferRelinkedAccountSubscriptionStates(tx)
  return async () => {
    const byAccount = await states()
    return (accountId) => (byAccount.get(accountId) ?? []).map(toAccountSubscription)
  }
}

function toAccountSubscription (state: SubscriptionState): AccountSubscription {
  return {
    id: state.id,
    status: state.status,
    currentPeriodStartsAt: state.currentPeriodStartsAt,
    currentPeriodEndsAt: state.currentPeriodEndsAt,
    nextBilledAt: state.nextBilledAt,
    trialEndsAt: state.trialEndsAt,
    scheduledChangeAction: state.scheduledChangeAction,
    scheduledChangeEffectiveAt: state.scheduledChangeEffectiveAt,
    scheduledChangeResumeAt: state.scheduledChangeResumeAt,
    // The one serializer of the subscription shape: the answer embeds it exactly as
    // GET /internal/subscriptions/:id shows it, and the cache keeps the text, not the object.
    json: JSON.stringify(toSubscriptionResponse(state)),
  }
}

/** The lookup as PostgreSQL receives it: the benchmark's straight-SQL baseline. */
export function accountSubscriptionsStatement (db: Database): { name: string, text: string } {
  return { name: STATEMENT_NAME, text: accountSubscriptions(db).toSQL().sql }
}
