/**
 * The stored states of a batch's entities, read and locked before the batch is applied: one
 * statement per entity type for the whole batch instead of one per event (the worker holds the
 * entities' and customers' advisory locks from its claim, so nobody else changes them meanwhile).
 *
 * A state read ahead is current until something in the batch writes its row: the event that applies
 * it takes it (once; a second event of the same entity reads the row again), and account resolution,
 * which rewrites the account ids of one customer's rows, makes everything read ahead of that customer
 * stale (forgetCustomers). Whatever is not read ahead, or no longer current, is read as usual.
 */
import type { Transaction } from '../db/client.js'
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
 * Reads ahead the entity types of which the batch holds two entities or more (one alone costs the
 * same statement either way).
 */
export async function prefetchStates (tx: Transaction, events: ReadonlyArray<{ entityType: string, entityId: string | null }>): Promise<PrefetchedStates> {
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
    },
  }
}
