/**
 * Paddle-shaped event streams for the benchmarks, built from the genuine fixtures: per subscription
 * a customer, a checkout, the subscription's lifecycle and a renewal, as the tests' scenarios do.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseEnvelope } from '../src/paddle/envelope.js'
import { projectEvent } from '../src/paddle/projection.js'
import { addSeconds } from '../src/platform/timestamps.js'
import type { InboxRow } from '../src/intake/inbox-writer.js'
import { PROJECT_ROOT } from './support.js'

const fixture = (name: string): { data: Record<string, any> } =>
  JSON.parse(readFileSync(`${PROJECT_ROOT}tests/fixtures/paddle/${name}`, 'utf8')) as { data: Record<string, any> }

const templates = {
  subscription: fixture('subscription.updated.json').data,
  transaction: fixture('transaction.completed.json').data,
  customer: fixture('customer.updated.json').data,
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
export const benchId = (prefix: string): string => `${prefix}_${[...randomBytes(26)].map((byte) => ALPHABET[byte % 36]).join('')}`

export interface BenchEvent { event_id: string, event_type: string, occurred_at: string, notification_id: string, data: Record<string, any> }

const BASE = '2026-01-01T00:00:00.000000Z'
const DAY = 86_400

/** occurred_at: a millisecond after the entity's updated_at, as Paddle's own events look. */
function event (eventType: string, data: Record<string, any>): BenchEvent {
  return { event_id: benchId('evt'), event_type: eventType, occurred_at: addSeconds(data.updated_at ?? BASE, 0.001), notification_id: benchId('ntf'), data }
}

/**
 * Eight events about one new subscription: customer, checkout, creation, a scheduled cancel and its
 * removal, a renewal. `start` (seconds) spreads the lifecycles of many subscriptions in time.
 */
export function subscriptionLifecycle (accountId: string, start = 0): BenchEvent[] {
  const t = (seconds: number): string => addSeconds(BASE, start + seconds)
  const ids = { customer: benchId('ctm'), subscription: benchId('sub'), checkout: benchId('txn'), renewal: benchId('txn') }
  const subscription = (status: string, time: number, extra: Record<string, unknown> = {}) => ({
    ...templates.subscription,
    id: ids.subscription,
    customer_id: ids.customer,
    status,
    updated_at: t(time),
    current_billing_period: { starts_at: t(time - time % (30 * DAY)), ends_at: t(time - time % (30 * DAY) + 30 * DAY) },
    custom_data: { account_id: accountId },
    ...extra,
  })
  const transaction = (id: string, status: string, time: number) => ({
    ...templates.transaction,
    id,
    status,
    customer_id: ids.customer,
    subscription_id: ids.subscription,
    created_at: t(time - 1),
    updated_at: t(time),
    custom_data: { account_id: accountId },
  })
  return [
    event('customer.created', { ...templates.customer, id: ids.customer, updated_at: t(0), email: `${ids.customer}@example.com` }),
    event('transaction.completed', transaction(ids.checkout, 'completed', 1)),
    event('subscription.created', { ...subscription('active', 2), transaction_id: ids.checkout }),
    event('subscription.activated', subscription('active', 2)),
    event('subscription.updated', subscription('active', DAY, { scheduled_change: { action: 'cancel', effective_at: t(30 * DAY), resume_at: null } })),
    event('subscription.updated', subscription('active', 2 * DAY)),
    event('transaction.completed', transaction(ids.renewal, 'completed', 30 * DAY)),
    event('subscription.updated', subscription('active', 30 * DAY + 1)),
  ]
}

/** The inbox row the intake would store for an event. */
export function toInboxRow (body: BenchEvent): InboxRow {
  const parsed = parseEnvelope(JSON.stringify(body))
  if (!parsed.ok) throw new Error(parsed.problem)
  const { envelope } = parsed
  return {
    eventId: envelope.eventId,
    notificationId: envelope.notificationId,
    eventType: envelope.eventType,
    occurredAt: envelope.occurredAt,
    origin: 'webhook',
    ...projectEvent(envelope, { customDataKeys: ['account_id'] }),
  }
}

/**
 * For each transaction.completed, one of the same customer and subscription created a day earlier: what
 * makes each customer of a backlog a known one (something stored) once these are applied first.
 */
export function earlierTransactions (events: BenchEvent[]): BenchEvent[] {
  return events.map((later) => {
    const time = (seconds: number): string => addSeconds(later.data.created_at, seconds - DAY)
    return event('transaction.completed', { ...later.data, id: benchId('txn'), created_at: time(0), updated_at: time(1) })
  })
}

/**
 * `count` transaction.completed events, each a new transaction: each of its own customer (and
 * subscription), or all of one customer and one subscription (a customer with a long history:
 * an agency, seat-based B2B, usage add-ons). Created a minute apart, in order.
 */
export function completedTransactions (count: number, options: { oneCustomer: boolean }): BenchEvent[] {
  const shared = { customer: benchId('ctm'), subscription: benchId('sub'), account: benchId('acc') }
  return Array.from({ length: count }, (_, index) => {
    const owner = options.oneCustomer ? shared : { customer: benchId('ctm'), subscription: benchId('sub'), account: benchId('acc') }
    const time = (seconds: number): string => addSeconds(BASE, index * 60 + seconds)
    return event('transaction.completed', {
      ...templates.transaction,
      id: benchId('txn'),
      status: 'completed',
      origin: 'subscription_recurring',
      customer_id: owner.customer,
      subscription_id: owner.subscription,
      created_at: time(0),
      updated_at: time(1),
      custom_data: { account_id: owner.account },
    })
  })
}
