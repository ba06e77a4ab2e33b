/**
 * Builders for Paddle event streams: genuine fixture bodies with the ids, statuses, periods and
 * timestamps a scenario needs. Times are offsets in seconds from BASE_TIME, so scenarios read as
 * timelines and every run can use fresh ids.
 */
import { addSeconds } from '#src/platform/timestamps.js'
import { paddleId, readFixture, type PaddleEvent } from './paddle.js'

export const BASE_TIME = '2026-03-01T09:00:00.000000Z'
export const at = (seconds: number): string => addSeconds(BASE_TIME, seconds)
export const DAY = 86_400

export interface ScenarioIds {
  account: string
  customer: string
  subscription: string
  checkout: string
  renewal: string
  adjustment: string
}

export function freshIds (): ScenarioIds {
  return {
    account: `acc_${paddleId('x').slice(2, 14)}`,
    customer: paddleId('ctm'),
    subscription: paddleId('sub'),
    checkout: paddleId('txn'),
    renewal: paddleId('txn'),
    adjustment: paddleId('adj'),
  }
}

export interface ItemSpec { priceId: string, productId: string, quantity: number, amount?: string, trialEndsAt?: string | null }

export const BASIC: ItemSpec = { priceId: 'pri_01basicmonthly0000000000000', productId: 'pro_01basic00000000000000000000', quantity: 1, amount: '1500' }
export const PRO: ItemSpec = { priceId: 'pri_01promonthly00000000000000', productId: 'pro_01pro0000000000000000000000', quantity: 1, amount: '4500' }

export interface SubscriptionSpec {
  status: 'active' | 'trialing' | 'past_due' | 'paused' | 'canceled'
  /** Seconds from BASE_TIME: the entity's updated_at and the event's occurred_at (plus occurredDelay). */
  time: number
  occurredDelay?: number
  period?: [number, number] | null
  nextBilledAt?: number | null
  items?: ItemSpec[]
  scheduledChange?: { action: 'cancel' | 'pause' | 'resume', effectiveAt: number, resumeAt?: number | null } | null
  pausedAt?: number | null
  canceledAt?: number | null
  customData?: Record<string, string> | null
  transactionId?: string | null
}

const subscriptionTemplate = readFixture('subscription.updated.json')
const transactionTemplate = readFixture('transaction.completed.json')
const customerTemplate = readFixture('customer.updated.json')
const adjustmentTemplate = readFixture('adjustment.updated.json')

function envelope (eventType: string, occurredAt: string, data: Record<string, any>): PaddleEvent {
  return { event_id: paddleId('evt'), event_type: eventType, occurred_at: occurredAt, notification_id: paddleId('ntf'), data }
}

export function subscriptionEvent (eventType: string, ids: ScenarioIds, spec: SubscriptionSpec): PaddleEvent {
  const data = structuredClone(subscriptionTemplate.data)
  const items = spec.items ?? [BASIC]
  const period: [number, number] | null = spec.period === undefined ? [spec.time, spec.time + 30 * DAY] : spec.period
  const templateItem = data.items[0]
  Object.assign(data, {
    id: ids.subscription,
    customer_id: ids.customer,
    status: spec.status,
    updated_at: at(spec.time),
    created_at: at(0),
    started_at: at(0),
    first_billed_at: spec.status === 'trialing' ? null : at(0),
    current_billing_period: period === null ? null : { starts_at: at(period[0]), ends_at: at(period[1]) },
    next_billed_at: spec.nextBilledAt === undefined ? (period === null ? null : at(period[1])) : spec.nextBilledAt === null ? null : at(spec.nextBilledAt),
    paused_at: spec.pausedAt === undefined || spec.pausedAt === null ? null : at(spec.pausedAt),
    canceled_at: spec.canceledAt === undefined || spec.canceledAt === null ? null : at(spec.canceledAt),
    scheduled_change: spec.scheduledChange === undefined || spec.scheduledChange === null
      ? null
      : {
          action: spec.scheduledChange.action,
          effective_at: at(spec.scheduledChange.effectiveAt),
          resume_at: spec.scheduledChange.resumeAt === undefined || spec.scheduledChange.resumeAt === null ? null : at(spec.scheduledChange.resumeAt),
        },
    custom_data: spec.customData === undefined ? { account_id: ids.account } : spec.customData,
    items: items.map((item) => ({
      ...structuredClone(templateItem),
      status: item.trialEndsAt === undefined || item.trialEndsAt === null ? 'active' : 'trialing',
      quantity: item.quantity,
      trial_dates: item.trialEndsAt === undefined || item.trialEndsAt === null ? null : { starts_at: at(0), ends_at: item.trialEndsAt },
      price: { ...structuredClone(templateItem.price), id: item.priceId, product_id: item.productId, unit_price: { amount: item.amount ?? '1000', currency_code: 'USD' } },
      product: { ...structuredClone(templateItem.product), id: item.productId },
    })),
  })
  if (spec.transactionId !== undefined && spec.transactionId !== null) data.transaction_id = spec.transactionId
  else delete data.transaction_id
  return envelope(eventType, at(spec.time + (spec.occurredDelay ?? 0.001)), data)
}

export interface TransactionSpec {
  id: string
  status: 'draft' | 'ready' | 'billed' | 'paid' | 'completed' | 'canceled' | 'past_due'
  time: number
  /** When Paddle created it (default: a second before `time`); the same on every event of one transaction. */
  createdAt?: number
  occurredDelay?: number
  origin?: string
  withSubscription?: boolean
  billingPeriod?: [number, number] | null
  customData?: Record<string, string> | null
  payments?: Array<{ status: string, errorCode?: string | null }>
  invoiceNumber?: string | null
  total?: string
  customer?: boolean
}

export function transactionEvent (eventType: string, ids: ScenarioIds, spec: TransactionSpec): PaddleEvent {
  const data = structuredClone(transactionTemplate.data)
  const cardPayment = transactionTemplate.data.payments[0]
  Object.assign(data, {
    id: spec.id,
    status: spec.status,
    origin: spec.origin ?? 'web',
    customer_id: spec.customer === false ? null : ids.customer,
    subscription_id: spec.withSubscription === false ? null : ids.subscription,
    invoice_number: spec.invoiceNumber === undefined ? (spec.status === 'completed' ? `INV-${spec.id}` : null) : spec.invoiceNumber,
    created_at: at(spec.createdAt ?? spec.time - 1),
    updated_at: at(spec.time),
    billed_at: spec.status === 'billed' || spec.status === 'paid' || spec.status === 'completed' ? at(spec.time) : null,
    billing_period: spec.billingPeriod === undefined || spec.billingPeriod === null ? null : { starts_at: at(spec.billingPeriod[0]), ends_at: at(spec.billingPeriod[1]) },
    custom_data: spec.customData === undefined ? { account_id: ids.account } : spec.customData,
    payments: (spec.payments ?? []).map((payment, index) => ({
      ...structuredClone(cardPayment),
      payment_attempt_id: `${spec.id}-attempt-${index}`,
      status: payment.status,
      error_code: payment.errorCode ?? null,
      created_at: at(spec.time - 0.5),
      captured_at: payment.status === 'captured' ? at(spec.time - 0.4) : null,
    })),
  })
  if (spec.total !== undefined) data.details.totals = { ...data.details.totals, total: spec.total, grand_total: spec.total }
  return envelope(eventType, at(spec.time + (spec.occurredDelay ?? 0.002)), data)
}

export function customerEvent (eventType: string, ids: ScenarioIds, spec: { time: number, email?: string, name?: string | null, customData?: Record<string, string> | null }): PaddleEvent {
  const data = structuredClone(customerTemplate.data)
  Object.assign(data, {
    id: ids.customer,
    email: spec.email ?? `${ids.customer}@example.com`,
    name: spec.name === undefined ? 'Ada Lovelace' : spec.name,
    updated_at: at(spec.time),
    created_at: at(0),
    custom_data: spec.customData ?? null,
  })
  return envelope(eventType, at(spec.time + 0.003), data)
}

export function adjustmentEvent (eventType: string, ids: ScenarioIds, spec: { time: number, status: string, action?: string, transactionId?: string, total?: string }): PaddleEvent {
  const data = structuredClone(adjustmentTemplate.data)
  Object.assign(data, {
    id: ids.adjustment,
    action: spec.action ?? 'refund',
    status: spec.status,
    transaction_id: spec.transactionId ?? ids.checkout,
    subscription_id: ids.subscription,
    customer_id: ids.customer,
    updated_at: at(spec.time),
    created_at: at(spec.time - 10),
  })
  if (spec.total !== undefined) data.totals = { ...data.totals, total: spec.total }
  return envelope(eventType, at(spec.time + 0.004), data)
}

/** A scenario: a name, its events in Paddle's order, and the time at which to ask for the entitlement. */
export interface Scenario {
  name: string
  events: (ids: ScenarioIds) => PaddleEvent[]
  entitlementAt: number
}

const PERIOD = 30 * DAY

export const SCENARIOS: Scenario[] = [
  {
    name: 'renewal',
    entitlementAt: PERIOD + 5 * DAY,
    events: (ids) => [
      customerEvent('customer.created', ids, { time: 0 }),
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, payments: [{ status: 'captured' }] }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, transactionId: ids.checkout }),
      subscriptionEvent('subscription.activated', ids, { status: 'active', time: 2, occurredDelay: 0.001 }),
      transactionEvent('transaction.billed', ids, { id: ids.renewal, status: 'billed', time: PERIOD, origin: 'subscription_recurring', billingPeriod: [PERIOD, 2 * PERIOD] }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: PERIOD + 1, period: [PERIOD, 2 * PERIOD] }),
      transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: PERIOD + 2, origin: 'subscription_recurring', billingPeriod: [PERIOD, 2 * PERIOD], payments: [{ status: 'captured' }] }),
    ],
  },
  {
    name: 'failed renewal, past due, recovered',
    entitlementAt: PERIOD + 3 * DAY,
    events: (ids) => [
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, payments: [{ status: 'captured' }] }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, transactionId: ids.checkout }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: PERIOD, period: [PERIOD, 2 * PERIOD] }),
      transactionEvent('transaction.payment_failed', ids, { id: ids.renewal, status: 'billed', time: PERIOD + 1, origin: 'subscription_recurring', billingPeriod: [PERIOD, 2 * PERIOD], payments: [{ status: 'error', errorCode: 'declined' }] }),
      subscriptionEvent('subscription.updated', ids, { status: 'past_due', time: PERIOD + 2, period: [PERIOD, 2 * PERIOD] }),
      subscriptionEvent('subscription.past_due', ids, { status: 'past_due', time: PERIOD + 2, occurredDelay: 0.002, period: [PERIOD, 2 * PERIOD] }),
      transactionEvent('transaction.past_due', ids, { id: ids.renewal, status: 'past_due', time: PERIOD + 3, origin: 'subscription_recurring', billingPeriod: [PERIOD, 2 * PERIOD], payments: [{ status: 'error', errorCode: 'declined' }] }),
      transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: PERIOD + 2 * DAY, origin: 'subscription_recurring', billingPeriod: [PERIOD, 2 * PERIOD], payments: [{ status: 'captured' }, { status: 'error', errorCode: 'declined' }] }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: PERIOD + 2 * DAY + 1, period: [PERIOD, 2 * PERIOD] }),
    ],
  },
  {
    name: 'pause then resume',
    entitlementAt: 40 * DAY,
    events: (ids) => [
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 10 * DAY, scheduledChange: { action: 'pause', effectiveAt: PERIOD + 2 } }),
      subscriptionEvent('subscription.paused', ids, { status: 'paused', time: PERIOD + 2, period: null, nextBilledAt: null, pausedAt: PERIOD + 2 }),
      subscriptionEvent('subscription.resumed', ids, { status: 'active', time: 35 * DAY, period: [35 * DAY, 65 * DAY] }),
    ],
  },
  {
    name: 'cancellation scheduled then removed',
    entitlementAt: PERIOD + DAY,
    events: (ids) => [
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 5 * DAY, scheduledChange: { action: 'cancel', effectiveAt: PERIOD + 2 } }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 6 * DAY, scheduledChange: null }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: PERIOD + 2, period: [PERIOD + 2, 2 * PERIOD + 2] }),
    ],
  },
  {
    name: 'cancellation scheduled then effective',
    entitlementAt: PERIOD + DAY,
    events: (ids) => [
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 5 * DAY, scheduledChange: { action: 'cancel', effectiveAt: PERIOD + 2 } }),
      subscriptionEvent('subscription.canceled', ids, { status: 'canceled', time: PERIOD + 2, period: null, nextBilledAt: null, canceledAt: PERIOD + 2 }),
      subscriptionEvent('subscription.updated', ids, { status: 'canceled', time: PERIOD + 2, occurredDelay: 0.01, period: null, nextBilledAt: null, canceledAt: PERIOD + 2 }),
    ],
  },
  {
    name: 'plan change',
    entitlementAt: 20 * DAY,
    events: (ids) => [
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, items: [BASIC] }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 10 * DAY, items: [PRO] }),
      transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: 10 * DAY + 5, origin: 'subscription_update', payments: [{ status: 'captured' }], total: '1500' }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 12 * DAY, items: [{ ...PRO, quantity: 3 }] }),
    ],
  },
  {
    name: 'trial to active',
    entitlementAt: 20 * DAY,
    events: (ids) => [
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, total: '0', payments: [] }),
      subscriptionEvent('subscription.created', ids, { status: 'trialing', time: 2, period: [0, 14 * DAY], items: [{ ...BASIC, trialEndsAt: at(14 * DAY) }], transactionId: ids.checkout }),
      subscriptionEvent('subscription.trialing', ids, { status: 'trialing', time: 2, occurredDelay: 0.002, period: [0, 14 * DAY], items: [{ ...BASIC, trialEndsAt: at(14 * DAY) }] }),
      transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: 14 * DAY + 1, origin: 'subscription_recurring', billingPeriod: [14 * DAY, 44 * DAY], payments: [{ status: 'captured' }] }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 14 * DAY + 2, period: [14 * DAY, 44 * DAY] }),
      subscriptionEvent('subscription.activated', ids, { status: 'active', time: 14 * DAY + 2, occurredDelay: 0.003, period: [14 * DAY, 44 * DAY] }),
    ],
  },
]

/**
 * The genuine checkout stream of the shared fixtures, with fresh ids for a run: the checkout
 * transactions carry TrackSera's account id in custom_data, as a TrackSera checkout would.
 */
export function checkoutStream (ids: ScenarioIds): PaddleEvent[] {
  const files = ['01-transaction.created', '02-customer.created', '03-address.created', '04-transaction.updated', '05-transaction.ready',
    '06-transaction.paid', '07-transaction.updated', '08-subscription.activated', '09-subscription.created', '10-transaction.updated',
    '11-transaction.updated', '12-transaction.completed']
  const original = readFixture('checkout-sequence/09-subscription.created.json').data
  const originalTransaction = readFixture('checkout-sequence/01-transaction.created.json').data.id as string
  const replacements: Array<[string, string]> = [
    [original.id, ids.subscription],
    [original.customer_id, ids.customer],
    [originalTransaction, ids.checkout],
  ]
  return files.map((file) => {
    let text = JSON.stringify(readFixture(`checkout-sequence/${file}.json`))
    for (const [from, to] of replacements) text = text.replaceAll(from, to)
    const event = JSON.parse(text) as PaddleEvent
    event.event_id = paddleId('evt')
    event.notification_id = paddleId('ntf')
    if (event.event_type.startsWith('transaction.')) event.data.custom_data = { account_id: ids.account }
    return event
  })
}
