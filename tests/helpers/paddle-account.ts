/**
 * A Paddle account that has been billing for a while, built from the genuine webhook fixtures (the
 * `data` of an entity's webhooks has the shape its list endpoint returns): per customer, the events
 * Paddle sent over time, and the entities as Paddle lists them today (each entity's last event).
 *
 * Customers come in every shape account resolution knows: the account id on the customer, on the
 * checkout only, on the subscription; customers archived (Paddle lists them only when asked), every
 * subscription status, renewals, a failed renewal, refunds, a canceled draft without subscription.
 */
import { randomBytes } from 'node:crypto'
import { paddleId, type PaddleEvent } from './paddle.js'
import { adjustmentEvent, customerEvent, DAY, freshIds, subscriptionEvent, transactionEvent, type ScenarioIds, type SubscriptionSpec } from './scenarios.js'

type Entity = Record<string, any>

export interface PaddleAccount {
  /** Per customer, the events Paddle delivered, in order. */
  histories: Array<{ ids: ScenarioIds, events: PaddleEvent[] }>
  customers: Entity[]
  subscriptions: Entity[]
  transactions: Entity[]
  adjustments: Entity[]
}

const PERIOD = 30 * DAY
const STATUSES: Array<SubscriptionSpec['status']> = ['active', 'active', 'canceled', 'past_due', 'paused']

/** Ids as Paddle makes them: lowercase letters and digits, any order (the lists page by id). */
function entityId (prefix: string): string {
  return `${prefix}_01${[...randomBytes(24)].map((byte) => 'abcdefghijklmnopqrstuvwxyz0123456789'[byte % 36]).join('')}`
}

function history (index: number, transform: (event: PaddleEvent) => PaddleEvent): { ids: ScenarioIds, events: PaddleEvent[] } {
  const ids = { ...freshIds(), customer: entityId('ctm'), subscription: entityId('sub'), checkout: entityId('txn'), renewal: entityId('txn'), adjustment: entityId('adj') }
  const account = { account_id: ids.account }
  const status = STATUSES[index % STATUSES.length] ?? 'active'
  const start = (index % 50) * DAY
  const renewals = [entityId('txn'), entityId('txn')]
  const at = (offset: number) => start + offset
  const events: PaddleEvent[] = []
  // Where the account id is: on the customer (1 in 4), on the subscription (every other), always on the checkout.
  const customer = customerEvent('customer.created', ids, { time: at(0), customData: index % 4 === 0 ? account : null })
  if (index % 7 === 3) customer.data.status = 'archived'
  events.push(customer)
  events.push(transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: at(1), payments: [{ status: 'captured' }], customData: account }))
  const subscriptionData = index % 2 === 0 ? account : null
  events.push(subscriptionEvent('subscription.created', ids, { status: 'active', time: at(2), transactionId: ids.checkout, customData: subscriptionData }))
  renewals.forEach((id, n) => {
    const time = at((n + 1) * PERIOD)
    const failing = status === 'past_due' && n === 1
    events.push(transactionEvent(failing ? 'transaction.past_due' : 'transaction.completed', ids, {
      id,
      status: failing ? 'past_due' : 'completed',
      time,
      origin: 'subscription_recurring',
      billingPeriod: [time, time + PERIOD],
      customData: null,
      payments: [{ status: failing ? 'error' : 'captured', ...(failing ? { errorCode: 'declined' } : {}) }],
    }))
  })
  const last = at(2 * PERIOD + 10)
  const final: SubscriptionSpec = {
    status,
    time: last,
    period: status === 'canceled' || status === 'paused' ? null : [at(2 * PERIOD), at(3 * PERIOD)],
    ...(status === 'canceled' ? { canceledAt: last, nextBilledAt: null } : {}),
    ...(status === 'paused' ? { pausedAt: last, nextBilledAt: null } : {}),
    customData: subscriptionData,
  }
  events.push(subscriptionEvent(`subscription.${status === 'active' ? 'updated' : status}`, ids, final))
  if (index % 3 === 0) events.push(adjustmentEvent('adjustment.updated', ids, { time: at(PERIOD + 100), status: 'approved', transactionId: ids.checkout }))
  if (index % 10 === 5) {
    events.push(transactionEvent('transaction.canceled', ids, { id: entityId('txn'), status: 'canceled', time: at(3), withSubscription: false, customData: null, origin: 'api' }))
  }
  return { ids, events: events.map(transform) }
}

/**
 * `customers` customers and their histories (about 6.5 entities each). `transform` may change each
 * event (plant sentinels, say) before it is recorded and listed.
 */
export function buildPaddleAccount (customers: number, transform: (event: PaddleEvent) => PaddleEvent = (event) => event): PaddleAccount {
  const account: PaddleAccount = { histories: [], customers: [], subscriptions: [], transactions: [], adjustments: [] }
  for (let index = 0; index < customers; index += 1) {
    const built = history(index, transform)
    account.histories.push(built)
    // As listed today: the data of each entity's last event (a subscription lists no transaction_id).
    const latest = new Map<string, PaddleEvent>()
    for (const event of built.events) latest.set(`${event.event_type.split('.')[0] ?? ''}:${String(event.data.id)}`, event)
    for (const [key, event] of latest) {
      const data = structuredClone(event.data)
      const kind = key.split(':')[0]
      if (kind === 'subscription') delete data.transaction_id
      const list = kind === 'customer' ? account.customers : kind === 'subscription' ? account.subscriptions : kind === 'transaction' ? account.transactions : account.adjustments
      list.push(data)
    }
  }
  return account
}

export function entityCount (account: PaddleAccount): number {
  return account.customers.length + account.subscriptions.length + account.transactions.length + account.adjustments.length
}

/** The same event again, as Paddle would send a later change: fresh ids, the entity updated at `updatedAt`. */
export function laterChange (event: PaddleEvent, updatedAt: string): PaddleEvent {
  const copy = structuredClone(event)
  copy.event_id = paddleId('evt')
  copy.notification_id = paddleId('ntf')
  copy.data.updated_at = updatedAt
  copy.occurred_at = updatedAt
  return copy
}
