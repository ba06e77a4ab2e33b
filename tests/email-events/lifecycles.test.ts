/**
 * Two of Paddle's documented lifecycles the email events must not get wrong: a customer updating the
 * card of an active subscription (a zero-value checkout, not a charge), and a merchant importing its
 * subscriptions from another platform (set up silently unless EMAIL_EVENTS_ON_IMPORT says otherwise).
 */
import { eq, or } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { emailEventsTable, subscriptionsTable } from '#src/db/schema.js'
import { transactionKind } from '#src/email-events/derive.js'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { useHarness, type Harness } from '../helpers/harness.js'
import { paddleId, readFixture, type PaddleEvent } from '../helpers/paddle.js'
import { at, DAY, freshIds, subscriptionEvent, transactionEvent, type ScenarioIds } from '../helpers/scenarios.js'

const PERIOD = 30 * DAY
const NOW = Date.parse(at(PERIOD + DAY))

async function emailEventTypes (harness: Harness, ids: ScenarioIds): Promise<string[]> {
  const rows = await harness.database.handle.db.select().from(emailEventsTable).where(or(
    eq(emailEventsTable.subscriptionId, ids.subscription),
    eq(emailEventsTable.customerId, ids.customer)
  )).orderBy(emailEventsTable.txId, emailEventsTable.seq)
  return rows.map((row) => row.type)
}

async function subscriptionRow (harness: Harness, id: string) {
  const [row] = await harness.database.handle.db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, id))
  return row
}

async function entitlement (harness: Harness, accountId: string): Promise<{ access: string, reason: string }> {
  const response = await harness.testApp.app.inject({
    method: 'GET', url: `/internal/accounts/${accountId}/entitlement`, headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
  })
  expect(response.statusCode, response.body).toBe(200)
  return response.json()
}

describe('transactionKind: what a transaction is, from its origin', () => {
  it.each([
    ['subscription_recurring', '3000', 'charge'],
    ['subscription_charge', '500', 'charge'],
    ['subscription_update', '1200', 'charge'],
    ['subscription_update', null, 'charge'],
    ['subscription_update', '0', 'other'],
    ['web', '3000', 'checkout'],
    ['api', '3000', 'checkout'],
    ['subscription_payment_method_change', '0', 'payment_method_change'],
    ['something_paddle_adds_later', '3000', 'other'],
    [null, '3000', 'other'],
  ] as const)('%s with grand total %s is a %s', (origin, grandTotal, kind) => {
    expect(transactionKind({ origin, grandTotal })).toBe(kind)
  })
})

describe('email events by transaction origin', () => {
  const harness = useHarness({ now: NOW })

  const withActiveSubscription = async (): Promise<ScenarioIds> => {
    const ids = freshIds()
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }))
    return ids
  }

  // A declined payment on a transaction of an active subscription, as Paddle's transaction.payment_failed carries it.
  it.each([
    ['subscription_recurring', undefined, true],
    ['subscription_charge', undefined, true],
    ['subscription_update', '1200', true],
    ['subscription_update', '0', false],
    ['web', undefined, false],
    ['api', undefined, false],
    ['subscription_payment_method_change', '0', false],
    ['an_undocumented_origin', undefined, false],
  ] as const)('a failed payment on a %s transaction (total %s): payment.failed is %s', async (origin, total, failed) => {
    const ids = await withActiveSubscription()
    await harness.send(transactionEvent('transaction.payment_failed', ids, {
      id: ids.renewal,
      status: 'ready',
      time: PERIOD,
      origin,
      billingPeriod: [PERIOD, 2 * PERIOD],
      payments: [{ status: 'error', errorCode: 'declined' }],
      ...(total === undefined ? {} : { total }),
    }))
    expect((await emailEventTypes(harness, ids)).filter((type) => type === 'payment.failed')).toEqual(failed ? ['payment.failed'] : [])
  })

  it.each([
    ['subscription_recurring', true],
    ['subscription_charge', true],
    ['subscription_update', true],
    ['web', true],
    ['api', true],
    ['subscription_payment_method_change', false],
  ] as const)('a completed %s transaction: payment.succeeded is %s', async (origin, receipt) => {
    const ids = await withActiveSubscription()
    await harness.send(transactionEvent('transaction.completed', ids, {
      id: ids.renewal,
      status: 'completed',
      time: PERIOD,
      origin,
      payments: [{ status: 'captured' }],
      ...(origin === 'subscription_payment_method_change' ? { total: '0' } : {}),
    }))
    expect((await emailEventTypes(harness, ids)).filter((type) => type === 'payment.succeeded')).toEqual(receipt ? ['payment.succeeded'] : [])
  })

  it('a card update declined, then accepted, on an active subscription: no email, the subscription as it was', async () => {
    const ids = await withActiveSubscription()
    const before = await subscriptionRow(harness, ids.subscription)
    const entitled = await entitlement(harness, ids.account)
    const cardUpdate = (eventType: string, time: number, status: 'ready' | 'completed', payments: Array<{ status: string, errorCode?: string }>) =>
      transactionEvent(eventType, ids, {
        id: ids.renewal, status, time, origin: 'subscription_payment_method_change', total: '0', billingPeriod: [2, PERIOD], payments,
      })
    await harness.send(
      cardUpdate('transaction.created', DAY, 'ready', []),
      cardUpdate('transaction.payment_failed', DAY + 60, 'ready', [{ status: 'error', errorCode: 'declined' }]),
      cardUpdate('transaction.completed', DAY + 120, 'completed', [{ status: 'error', errorCode: 'declined' }, { status: 'captured' }])
    )
    expect(await emailEventTypes(harness, ids)).toEqual(['subscription.started'])
    const after = await subscriptionRow(harness, ids.subscription)
    expect({ ...after, rowUpdatedAt: null }).toEqual({ ...before, rowUpdatedAt: null })
    expect(await entitlement(harness, ids.account)).toEqual({ ...entitled, asOf: expect.any(String) })
  })
})

/** Paddle's genuine subscription.imported, moved to the scenario's ids and time. */
function imported (ids: ScenarioIds, time: number, overrides: Record<string, unknown> = {}, eventType = 'subscription.imported'): PaddleEvent {
  const fixture = readFixture('subscription.imported.json')
  return {
    ...fixture,
    event_id: paddleId('evt'),
    event_type: eventType,
    notification_id: paddleId('ntf'),
    occurred_at: at(time + 0.001),
    data: {
      ...fixture.data,
      id: ids.subscription,
      customer_id: ids.customer,
      custom_data: { account_id: ids.account },
      created_at: at(time),
      updated_at: at(time),
      started_at: at(time - 200 * DAY),
      first_billed_at: at(time - 200 * DAY),
      current_billing_period: { starts_at: at(time - 10 * DAY), ends_at: at(time + 20 * DAY) },
      next_billed_at: at(time + 20 * DAY),
      ...overrides,
    },
  }
}

describe('subscription.imported (EMAIL_EVENTS_ON_IMPORT unset: false)', () => {
  const harness = useHarness({ now: NOW })

  it('sets up state and entitlement without any email event', async () => {
    const ids = freshIds()
    await harness.send(imported(ids, PERIOD))
    expect(await emailEventTypes(harness, ids)).toEqual([])
    expect(await subscriptionRow(harness, ids.subscription)).toMatchObject({ status: 'active', importedFrom: 'paddle_classic', accountId: ids.account })
    expect(await entitlement(harness, ids.account)).toMatchObject({ access: 'granted', reason: 'active' })
  })

  it('stays silent when a later update of the imported subscription arrives first', async () => {
    const ids = freshIds()
    await harness.send(imported(ids, PERIOD + 60, {}, 'subscription.updated'), imported(ids, PERIOD))
    expect(await emailEventTypes(harness, ids)).toEqual([])
  })

  it('imports a past-due or canceled subscription silently too', async () => {
    const pastDue = freshIds()
    const canceled = freshIds()
    await harness.send(imported(pastDue, PERIOD, { status: 'past_due' }), imported(canceled, PERIOD, { status: 'canceled', canceled_at: at(PERIOD - DAY) }))
    expect(await emailEventTypes(harness, pastDue)).toEqual([])
    expect(await emailEventTypes(harness, canceled)).toEqual([])
  })

  it('tells the real changes that follow the import', async () => {
    const ids = freshIds()
    await harness.send(imported(ids, PERIOD))
    await harness.send(imported(ids, PERIOD + 60, { scheduled_change: { action: 'cancel', effective_at: at(PERIOD + 20 * DAY), resume_at: null } }, 'subscription.updated'))
    expect(await emailEventTypes(harness, ids)).toEqual(['subscription.cancellation_scheduled'])
  })
})

describe('subscription.imported with EMAIL_EVENTS_ON_IMPORT=true', () => {
  const harness = useHarness({ now: NOW, env: { EMAIL_EVENTS_ON_IMPORT: 'true' } })

  it('emits subscription.started as for any new subscription', async () => {
    const ids = freshIds()
    await harness.send(imported(ids, PERIOD))
    expect(await emailEventTypes(harness, ids)).toEqual(['subscription.started'])
  })
})
