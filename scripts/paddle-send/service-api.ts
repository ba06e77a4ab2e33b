/**
 * The running service's internal API, as paddle:send reads it (bearer token from INTERNAL_API_TOKENS).
 * Going through HTTP rather than the database works against any running instance, including
 * `npm run dev`, whose embedded database only its own process can open.
 */
import { reason, UsageError, type JsonObject } from './common.js'

export interface StoredItem { priceId: string, productId: string | null, quantity: number, status: string | null }
export interface Period { startsAt: string, endsAt: string }

/** GET /internal/subscriptions/:id */
export interface StoredSubscription {
  id: string
  status: string
  customerId: string | null
  accountId: string | null
  items: StoredItem[]
  currencyCode: string | null
  billingCycle: { interval: string, frequency: number } | null
  currentBillingPeriod: Period | null
  nextBilledAt: string | null
  startedAt: string | null
  firstBilledAt: string | null
  pausedAt: string | null
  canceledAt: string | null
  scheduledChange: { action: string, effectiveAt: string | null, resumeAt: string | null } | null
  trialEndsAt: string | null
  updatedAt: string | null
}

/** GET /internal/transactions/:id (the parts used here) */
export interface StoredTransaction {
  id: string
  status: string
  origin: string | null
  subscriptionId: string | null
  invoiceNumber: string | null
  currencyCode: string | null
  totals: { subtotal: string | null, tax: string | null, total: string | null, grandTotal: string | null }
  billingPeriod: Period | null
  updatedAt: string | null
}

/** An inbox row as the admin routes show it. */
export interface InboxEvent {
  eventId: string
  eventType: string
  entityType: string
  entityId: string | null
  occurredAt: string
  status: string
  outcome: string | null
}

/** GET /internal/admin/events/:id: the row and the allow-listed projection kept of it. */
export interface StoredEvent extends InboxEvent { notificationId: string | null, customerId: string | null, payload: JsonObject | null }

export interface ServiceApi {
  subscription(id: string): Promise<StoredSubscription | null>
  transaction(id: string): Promise<StoredTransaction | null>
  /** The subscription's own events and its transactions' and adjustments', oldest first. */
  timeline(subscriptionId: string): Promise<{ subscription: { version: string } | null, events: InboxEvent[] } | null>
  event(eventId: string): Promise<StoredEvent | null>
}

export function serviceApi (baseUrl: string, token: string): ServiceApi {
  async function get<T> (path: string): Promise<T | null> {
    const url = new URL(path, baseUrl).href
    let response: Response
    try {
      response = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    } catch (error) {
      throw new Error(`cannot reach ${url} (${reason(error)}): is the service running? (npm run dev)`)
    }
    if (response.status === 404) return null
    if (response.status === 401) {
      throw new UsageError(`${url} refused the token (401): set INTERNAL_API_TOKENS to one of the service's tokens`)
    }
    if (!response.ok) throw new Error(`${url} answered ${response.status}: ${(await response.text()).trim()}`)
    return await response.json() as T
  }
  const id = encodeURIComponent
  return {
    subscription: async (subscriptionId) => await get(`/internal/subscriptions/${id(subscriptionId)}`),
    transaction: async (transactionId) => await get(`/internal/transactions/${id(transactionId)}`),
    timeline: async (subscriptionId) => await get(`/internal/subscriptions/${id(subscriptionId)}/timeline`),
    event: async (eventId) => await get(`/internal/admin/events/${id(eventId)}`),
  }
}
