/**
 * The stored states of a batch's entities, read and locked before the batch is applied: one
 * statement per entity type for the whole batch instead of one per event (the worker holds the
 * entities' and customers' advisory locks from its claim, so nobody else changes them meanwhile).
 *
 * A state read ahead is current until something in the batch writes its row: the event that applies
 * it takes it (once; a second event of the same entity reads the row again), and account resolution,
 * which rewrites the account ids of one customer's rows, makes everything read ahead of that customer
 * stale (forgetCustomers). Whatever is not read ahead, or no longer current, is read as usual.
 *
 * The same read tells which of the batch's transactions and customer events are about a customer of
 * whom nothing is stored yet (a sign-up), and which account the others' customers and subscriptions
 * resolved to: for a sign-up, and for a new transaction that brings the account its customer and
 * subscription already have (a renewal), account resolution has nothing to resolve (see
 * nothingToResolve in apply-event.ts).
 */
import type { RawStatement, Transaction } from '../db/client.js'
import { isTrackedEntityType, type TrackedEntityType } from '../paddle/event-types.js'
import { adjustmentStore } from './adjustments.apply.js'
import type { PrefetchedStates, VersionedStore } from './apply-context.js'
import { customerStore } from './customers.apply.js'
import { subscriptionStore } from './subscriptions.apply.js'
import { transactionStore } from './transactions.apply.js'

const STORES: Record<TrackedEntityType, VersionedStore<any>> = {
  subscription: subscriptionStore,
  transaction: transactionStore,
  adjustment: adjustmentStore,
  customer: customerStore,
}

/** The customer whose rows a state belongs to, as account resolution scopes its rewrites (a customer is its own). */
const OWNER: Record<TrackedEntityType, (state: any) => string | null> = {
  subscription: (state: { customerId: string | null }) => state.customerId,
  transaction: (state: { customerId: string | null }) => state.customerId,
  adjustment: (state: { customerId: string | null }) => state.customerId,
  customer: (state: { id: string }) => state.id,
}

interface ReadAhead { owner: (state: unknown) => string | null, states: Map<string, unknown> }

/**
 * Of the customers ($1) and subscriptions ($2) the batch's transactions and customer events name, those with something
 * stored: everything account resolution reads of a customer (its row, its transactions, its
 * subscriptions), and the subscriptions' own rows, with the accounts the customers' and the
 * subscriptions' rows resolved to (and each subscription's customer). Each lookup is an index probe per
 * id, whatever the tables hold: written as EXISTS, the planner hashed a sequential scan of the whole
 * customers table.
 */
const STORED_LINKS: RawStatement = {
  name: 'prefetch_stored_links',
  text: `SELECT 'customer' AS kind, id, account_id, NULL AS customer_id FROM customers WHERE id = ANY($1::text[])
    UNION ALL
    SELECT 'customer', c.id, NULL, NULL FROM unnest($1::text[]) AS c (id), LATERAL (SELECT 1 FROM transactions t WHERE t.customer_id = c.id LIMIT 1) AS stored
    UNION ALL
    SELECT 'customer', c.id, NULL, NULL FROM unnest($1::text[]) AS c (id), LATERAL (SELECT 1 FROM subscriptions s WHERE s.customer_id = c.id LIMIT 1) AS stored
    UNION ALL
    SELECT 'subscription', id, account_id, customer_id FROM subscriptions WHERE id = ANY($2::text[])`,
}

interface StoredLink { kind: string, id: string, account_id: string | null, customer_id: string | null }

/** What the batch's first read ahead found of the customers and subscriptions it asked about. */
interface StoredLinks {
  /** Nothing stored of them. */
  unstoredCustomers: Set<string>
  unstoredSubscriptions: Set<string>
  /** The account a customer's row resolved to. */
  customerAccounts: Map<string, string>
  /** The account a subscription's row resolved to, and its customer. */
  subscriptionAccounts: Map<string, { accountId: string, customerId: string | null }>
}

/** The customer and subscription a transaction event's payload names. */
function transactionLinks (payload: unknown): { customerId: string | null, subscriptionId: string | null } {
  const links = (payload ?? {}) as { customer_id?: unknown, subscription_id?: unknown }
  return {
    customerId: typeof links.customer_id === 'string' ? links.customer_id : null,
    subscriptionId: typeof links.subscription_id === 'string' ? links.subscription_id : null,
  }
}

/**
 * Which customers and subscriptions the batch's transactions and customer events name have nothing
 * stored, and which accounts those stored resolved to, read with the first read ahead (one round trip),
 * for batches of two such customers or more. One that an earlier event of the batch names is not asked
 * about: by the time the event is applied, that event may have stored or changed something of it
 * (`storing`), so it counts as stored, its account unknown.
 */
function readStoredLinks (tx: Transaction, events: ReadonlyArray<PrefetchEvent>): (() => Promise<StoredLinks>) | null {
  const named = { customers: new Set<string>(), subscriptions: new Set<string>() }
  const customers = new Set<string>()
  const subscriptions = new Set<string>()
  for (const event of events) {
    const links = event.entityType === 'transaction'
      ? transactionLinks(event.payload)
      : { customerId: event.entityType === 'customer' ? event.entityId : null, subscriptionId: null }
    if (links.customerId !== null && !named.customers.has(links.customerId)) {
      customers.add(links.customerId)
      if (links.subscriptionId !== null && !named.subscriptions.has(links.subscriptionId)) subscriptions.add(links.subscriptionId)
    }
    for (const id of [event.customerId, links.customerId]) if (id !== null) named.customers.add(id)
    for (const id of [event.entityType === 'subscription' ? event.entityId : null, links.subscriptionId]) if (id !== null) named.subscriptions.add(id)
  }
  if (customers.size < 2) return null
  const stored = tx.deferRead<StoredLink>(STORED_LINKS, [[...customers], [...subscriptions]])
  return async () => {
    const links: StoredLinks = { unstoredCustomers: customers, unstoredSubscriptions: subscriptions, customerAccounts: new Map(), subscriptionAccounts: new Map() }
    for (const { kind, id, account_id: accountId, customer_id: customerId } of await stored.rows()) {
      if (kind === 'customer') {
        customers.delete(id)
        if (accountId !== null) links.customerAccounts.set(id, accountId)
      } else {
        subscriptions.delete(id)
        if (accountId !== null) links.subscriptionAccounts.set(id, { accountId, customerId })
      }
    }
    return links
  }
}

export interface PrefetchEvent { entityType: string, entityId: string | null, customerId: string | null, payload: unknown }

/**
 * Reads ahead the entity types of which the batch holds two entities or more (one alone costs the
 * same statement either way).
 */
export async function prefetchStates (tx: Transaction, events: ReadonlyArray<PrefetchEvent>): Promise<PrefetchedStates> {
  const storedLinks = readStoredLinks(tx, events)
  const ids = new Map<TrackedEntityType, Set<string>>()
  for (const { entityType, entityId } of events) {
    if (!isTrackedEntityType(entityType) || entityId === null) continue
    let set = ids.get(entityType)
    if (set === undefined) ids.set(entityType, set = new Set())
    set.add(entityId)
  }
  const read = new Map<VersionedStore<unknown>, ReadAhead>()
  for (const [entityType, entityIds] of ids) {
    if (entityIds.size < 2) continue
    const store = STORES[entityType]
    const found = await store.loadMany(tx, [...entityIds])
    // Ids without a row are known to have none: null.
    const states = new Map<string, unknown>([...entityIds].map((id) => [id, found.get(id) ?? null]))
    read.set(store, { owner: OWNER[entityType], states })
  }
  // Customers and subscriptions with nothing stored when the batch began, and the accounts of those
  // stored; dropped as the batch stores or relinks something of them.
  const links = await storedLinks?.() ?? { unstoredCustomers: new Set<string>(), unstoredSubscriptions: new Set<string>(), customerAccounts: new Map(), subscriptionAccounts: new Map() }
  return {
    take<State> (store: VersionedStore<State>, id: string): State | null | undefined {
      const ahead = read.get(store as VersionedStore<unknown>)
      if (ahead === undefined || !ahead.states.has(id)) return undefined
      const state = ahead.states.get(id) as State | null
      ahead.states.delete(id)
      return state
    },
    forgetCustomers (customerIds) {
      for (const { owner, states } of read.values()) {
        for (const [id, state] of states) {
          // A row that was not there is not rewritten (only its own event inserts it).
          if (state !== null && customerIds.includes(owner(state))) states.delete(id)
        }
      }
      for (const id of customerIds) if (id !== null) links.customerAccounts.delete(id)
      for (const [id, { customerId }] of links.subscriptionAccounts) if (customerIds.includes(customerId)) links.subscriptionAccounts.delete(id)
    },
    nothingStoredOf (customerId, subscriptionId) {
      return customerId !== null && links.unstoredCustomers.has(customerId) && (subscriptionId === null || links.unstoredSubscriptions.has(subscriptionId))
    },
    resolvedTo (accountId, customerId, subscriptionId) {
      if (customerId === null || links.customerAccounts.get(customerId) !== accountId) return false
      if (subscriptionId === null) return true
      const subscription = links.subscriptionAccounts.get(subscriptionId)
      return subscription !== undefined && subscription.accountId === accountId && subscription.customerId === customerId
    },
    storing (customerIds, subscriptionIds) {
      for (const id of customerIds) {
        if (id === null) continue
        links.unstoredCustomers.delete(id)
        links.customerAccounts.delete(id)
      }
      for (const id of subscriptionIds) {
        if (id === null) continue
        links.unstoredSubscriptions.delete(id)
        links.subscriptionAccounts.delete(id)
      }
    },
  }
}
