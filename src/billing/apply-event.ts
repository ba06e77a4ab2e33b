/** Applies one inbox event to the state tables, inside the caller's transaction. */
import type { Transaction } from '../db/client.js'
import type { InboxOrigin, InboxOutcome } from '../db/schema.js'
import { isTrackedEntityType, type TrackedEntityType } from '../paddle/event-types.js'
import { relinkCustomerAccounts, relinkSubscriptionFact, relinkTransactionFact, type Relink } from './accounts.repository.js'
import { applyAdjustmentEvent, type AdjustmentState } from './adjustments.apply.js'
import { InvalidPayloadError, type ApplyContext, type ApplyResult, type PrefetchedStates } from './apply-context.js'
import { applyCustomerEvent, type CustomerState } from './customers.apply.js'
import { applySubscriptionEvent, type SubscriptionState } from './subscriptions.apply.js'
import { applyTransactionEvent, type TransactionState } from './transactions.apply.js'

/** The inbox columns applying needs. */
export interface InboxEvent {
  eventId: string
  eventType: string
  entityType: string
  entityId: string | null
  customerId: string | null
  occurredAt: string
  origin: InboxOrigin
  payload: unknown
}

/** A state change, before and after, for whoever derives consequences from it (the email events). */
export type Transition =
  | { entity: 'subscription', before: SubscriptionState | null, after: SubscriptionState }
  | { entity: 'transaction', before: TransactionState | null, after: TransactionState }
  | { entity: 'adjustment', before: AdjustmentState | null, after: AdjustmentState }
  | { entity: 'customer', before: CustomerState | null, after: CustomerState }

export interface AppliedEvent {
  outcome: InboxOutcome
  note: string | null
  /** Null when nothing changed: stale, ignored, or a version already applied. */
  transition: Transition | null
  /** Accounts whose subscriptions this event changed: their entitlement inputs. */
  entitlementAccounts: string[]
  /**
   * Account resolution the event ran, deferred (its statement travels with the batch's next round
   * trip): the accounts it moved a subscription from or to, whose entitlement inputs changed too.
   * The transaction's statements deferred right after it can name them (movedAccountsQuery).
   */
  relinked: Relink | null
}

export interface ApplyOptions {
  accountIdKey: string
  /** The batch's stored states, read ahead (billing/prefetch.ts). */
  prefetched?: PrefetchedStates
}

const APPLIERS = {
  subscription: applySubscriptionEvent,
  transaction: applyTransactionEvent,
  adjustment: applyAdjustmentEvent,
  customer: applyCustomerEvent,
} satisfies Record<TrackedEntityType, unknown>

/**
 * Applies the event. The caller holds the locks of the entity and of its customer (whose account
 * links it may change): the worker takes them as it claims the row (processing/worker.ts, CLAIM).
 */
export async function applyInboxEvent (tx: Transaction, event: InboxEvent, options: ApplyOptions): Promise<AppliedEvent> {
  const applied = await applyTracked(tx, event, options)
  if (options.prefetched !== undefined) {
    const named = namedBy(event, applied.transition)
    options.prefetched.storing(named.customers, named.subscriptions)
  }
  return applied
}

/**
 * The customers and subscriptions an applied event names, in its inbox row and in the state it left:
 * from now on the batch may have stored something of each (PrefetchedStates.storing).
 */
function namedBy (event: InboxEvent, transition: Transition | null): { customers: Array<string | null>, subscriptions: Array<string | null> } {
  const customers = [event.customerId]
  const subscriptions = [event.entityType === 'subscription' ? event.entityId : null]
  if (transition === null) return { customers, subscriptions }
  if (transition.entity === 'customer') {
    customers.push(transition.after.id)
  } else {
    customers.push(transition.after.customerId, transition.before?.customerId ?? null)
  }
  if (transition.entity === 'transaction' || transition.entity === 'adjustment') subscriptions.push(transition.after.subscriptionId)
  return { customers, subscriptions }
}

async function applyTracked (tx: Transaction, event: InboxEvent, options: ApplyOptions): Promise<AppliedEvent> {
  if (!isTrackedEntityType(event.entityType)) {
    return { outcome: 'ignored', note: `${event.entityType} events do not change billing state`, transition: null, entitlementAccounts: [], relinked: null }
  }
  if (event.payload === null || typeof event.payload !== 'object') {
    throw new InvalidPayloadError('the stored payload is missing')
  }
  const context: ApplyContext = {
    tx,
    eventId: event.eventId,
    eventType: event.eventType,
    occurredAt: event.occurredAt,
    origin: event.origin,
    accountIdKey: options.accountIdKey,
    ...(options.prefetched === undefined ? {} : { prefetched: options.prefetched }),
  }
  // The inbox stores each tracked entity's projection as it is (see projection.ts).
  const apply = APPLIERS[event.entityType] as (context: ApplyContext, payload: unknown) => Promise<ApplyResult<unknown>>
  const result = await apply(context, event.payload)
  if (result.outcome === 'stale') {
    // Only a subscription's checkout transaction id is kept from a stale event.
    let relinked: Relink | null = null
    if (result.relink === true && event.entityType === 'subscription' && event.entityId !== null) {
      relinked = relinkSubscriptionFact(tx, { subscriptionId: event.entityId, customerId: event.customerId })
      options.prefetched?.forgetCustomers([event.customerId])
    }
    return { outcome: 'stale', note: result.note, transition: null, entitlementAccounts: [], relinked }
  }
  if (result.before === result.after) return { outcome: 'applied', note: result.note ?? null, transition: null, entitlementAccounts: [], relinked: null }
  const transition = { entity: event.entityType, before: result.before, after: result.after } as Transition
  const accounts = new Set<string>()
  let relinked: Relink | null = null
  if (result.relink === true && !nothingToResolve(transition, options.prefetched)) {
    const relinks = relink(tx, transition)
    // All but the last are waited for (rare: a row that moved to another customer, or lost its account
    // id); the last travels with the batch's next round trip.
    relinked = relinks.pop() ?? null
    for (const earlier of relinks) for (const account of await earlier.accounts()) accounts.add(account)
    options.prefetched?.forgetCustomers(transition.entity === 'customer'
      ? [transition.after.id]
      : [transition.before?.customerId ?? null, transition.after.customerId])
  }
  if (transition.entity === 'subscription') {
    for (const account of [transition.before?.accountId, transition.after.accountId]) if (account != null) accounts.add(account)
  }
  return { outcome: 'applied', note: result.note ?? null, transition, entitlementAccounts: [...accounts], relinked }
}

/**
 * Facts whose account resolution could change nothing, so its statement (and the entitlement read
 * after it) is left out. Read ahead for the batch (prefetch.ts); the worker holds the customer's lock,
 * so nobody else stores or relinks something of it meanwhile.
 *
 * - The first fact of a customer of whom nothing is stored (no row of its own, no transaction, no
 *   subscription; for a transaction, nor a row of the subscription it names): a sign-up, the usual
 *   customer.created, or transaction.created or .completed, of a burst of new customers. Resolution
 *   would find the fact's own account id or none, which is what its row was written with, and nothing
 *   else to move. A customer row that a manual link or an erasure wrote first counts as stored.
 * - A new transaction with an account id of its own whose customer and subscription (if it names one)
 *   already resolved to that same account: a renewal. Its own row was written with it; the customer's
 *   account and the subscription's can only stay what they are or become this transaction's, which is
 *   the same; and so every fact that falls back to them keeps its account.
 */
function nothingToResolve (transition: Transition, prefetched: PrefetchedStates | undefined): boolean {
  if (transition.before !== null || prefetched === undefined) return false
  switch (transition.entity) {
    case 'transaction': {
      const { customerId, subscriptionId, customAccountId } = transition.after
      return prefetched.nothingStoredOf(customerId, subscriptionId) ||
        (customAccountId !== null && prefetched.resolvedTo(customAccountId, customerId, subscriptionId))
    }
    case 'customer':
      return prefetched.nothingStoredOf(transition.after.id, null)
    default:
      return false
  }
}

/**
 * Account resolution for what the applied change can reach (see accounts.repository.ts). The
 * customer's own account is resolved from everything when a customer changes, and when a
 * transaction or subscription takes an account id away from it or moves to another customer: the
 * narrow statements only tell whether the fact as it is now decides it.
 */
function relink (tx: Transaction, transition: Transition): Relink[] {
  switch (transition.entity) {
    case 'customer':
      return [relinkCustomerAccounts(tx, transition.after.id)]
    case 'adjustment':
      return []
    case 'transaction':
    case 'subscription': {
      const { before, after } = transition
      // Rare: a row that moved to another customer, or whose account id changed or went away, may have
      // been what its customer's account rested on. Everything of those customers is resolved again.
      const wholeCustomers = new Set<string>()
      if (before?.customerId != null && before.customerId !== after.customerId) wholeCustomers.add(before.customerId)
      if (before?.customAccountId != null && before.customAccountId !== after.customAccountId && after.customerId !== null) {
        wholeCustomers.add(after.customerId)
      }
      const relinks = [...wholeCustomers].map((customerId) => relinkCustomerAccounts(tx, customerId))
      if (after.customerId !== null && wholeCustomers.has(after.customerId)) return relinks
      if (transition.entity === 'transaction') {
        relinks.push(relinkTransactionFact(tx, {
          transactionId: transition.after.id,
          customerId: transition.after.customerId,
          previousSubscriptionId: transition.before?.subscriptionId ?? null,
        }))
      } else {
        relinks.push(relinkSubscriptionFact(tx, { subscriptionId: transition.after.id, customerId: transition.after.customerId }))
      }
      return relinks
    }
  }
}
