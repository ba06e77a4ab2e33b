/**
 * Email events come from state transitions, once per real change: each type is produced by the
 * change it names and not again by the duplicates, replays and fan-out of Paddle's events.
 */
import { FormatRegistry } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { eq, or } from 'drizzle-orm'
import fc from 'fast-check'
import { beforeEach, describe, expect, it } from 'vitest'
import { emailEventsTable } from '#src/db/schema.js'
import { EMAIL_EVENT_DATA, type EmailEventType } from '#src/email-events/email-event.schemas.js'
import { parseTimestamp } from '#src/platform/timestamps.js'
import { useHarness } from '../helpers/harness.js'
import { paddleId, type PaddleEvent } from '../helpers/paddle.js'
import {
  adjustmentEvent, at, BASIC, checkoutStream, DAY, freshIds, PRO, subscriptionEvent, transactionEvent, type ScenarioIds,
} from '../helpers/scenarios.js'

const PERIOD = 30 * DAY
// What "date-time" means in these schemas: the canonical microsecond timestamps the service writes.
FormatRegistry.Set('date-time', (value) => parseTimestamp(value) === value)
const NOW = Date.parse(at(PERIOD + 2 * DAY))
const harness = useHarness({ now: NOW, env: { RECEIPT_URL_TEMPLATE: 'https://app.example.com/billing/receipts/{transactionId}' } })
beforeEach(() => { harness.now = NOW })

async function emailEvents (ids: ScenarioIds) {
  const rows = await harness.database.handle.db.select().from(emailEventsTable).where(or(
    eq(emailEventsTable.subscriptionId, ids.subscription),
    eq(emailEventsTable.customerId, ids.customer),
    eq(emailEventsTable.transactionId, ids.checkout),
    eq(emailEventsTable.transactionId, ids.renewal)
  )).orderBy(emailEventsTable.txId, emailEventsTable.seq)
  for (const row of rows) {
    expect(Value.Check(EMAIL_EVENT_DATA[row.type as EmailEventType], row.data), `${row.type} ${JSON.stringify(row.data)}`).toBe(true)
  }
  return rows
}
const types = async (ids: ScenarioIds) => (await emailEvents(ids)).map((row) => row.type)
const replay = (event: PaddleEvent): PaddleEvent => ({ ...event, notification_id: paddleId('ntf') })

describe('email events from the genuine checkout stream', () => {
  const checkoutTime = Date.parse('2024-04-12T13:20:00Z')

  it('are exactly one subscription.started and one payment.succeeded', async () => {
    harness.now = checkoutTime
    const ids = freshIds()
    const events = checkoutStream(ids)
    await harness.send(...events, ...events.map(replay))
    const rows = await emailEvents(ids)
    expect(rows.map((row) => row.type).sort()).toEqual(['payment.succeeded', 'subscription.started'])
    expect(rows.every((row) => row.status === 'pending' && row.accountId === ids.account)).toBe(true)
    const receipt = rows.find((row) => row.type === 'payment.succeeded')
    expect(receipt?.data).toMatchObject({
      invoiceNumber: events.find((event) => event.event_type === 'transaction.completed')?.data.invoice_number,
      currencyCode: 'USD',
      totals: { total: expect.stringMatching(/^\d+$/), grandTotal: expect.stringMatching(/^\d+$/) },
      receiptUrl: `https://app.example.com/billing/receipts/${ids.checkout}`,
    })
  })

  it('have the same idempotency keys whatever the order and the duplicates (property)', async () => {
    harness.now = checkoutTime
    const keysOf = async (order: number[]) => {
      const ids = freshIds()
      const events = checkoutStream(ids)
      for (const index of order) await harness.send(events[index] as PaddleEvent)
      return (await emailEvents(ids)).map((row) => {
        let key = row.idempotencyKey
        for (const [role, id] of Object.entries(ids)) key = key.replaceAll(id, `<${role}>`)
        return key
      }).sort()
    }
    const count = checkoutStream(freshIds()).length
    const expected = await keysOf(Array.from({ length: count }, (_, index) => index))
    expect(expected).toHaveLength(2)
    const orders = fc.array(fc.nat(count - 1), { maxLength: count }).chain((duplicates) => {
      const all = [...Array.from({ length: count }, (_, index) => index), ...duplicates]
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length })
    })
    await fc.assert(fc.asyncProperty(orders, async (order) => {
      expect(await keysOf(order)).toEqual(expected)
    }), { numRuns: 15, seed: 4 })
  }, 120_000)
})

describe('a failed renewal', () => {
  const renewalPeriod: [number, number] = [PERIOD, 2 * PERIOD]
  const fanOut = (ids: ScenarioIds) => [
    subscriptionEvent('subscription.updated', ids, { status: 'active', time: PERIOD, period: renewalPeriod }),
    subscriptionEvent('subscription.updated', ids, { status: 'past_due', time: PERIOD + 60, period: renewalPeriod }),
    subscriptionEvent('subscription.past_due', ids, { status: 'past_due', time: PERIOD + 60, occurredDelay: 0.01, period: renewalPeriod }),
    transactionEvent('transaction.payment_failed', ids, {
      id: ids.renewal, status: 'past_due', time: PERIOD + 30, origin: 'subscription_recurring', billingPeriod: renewalPeriod, payments: [{ status: 'error', errorCode: 'declined' }],
    }),
  ]

  it('yields one payment.failed whatever the order of its fan-out, and its recovery one payment.recovered', async () => {
    for (const order of [[0, 1, 2, 3], [3, 2, 1, 0], [2, 3, 0, 1], [1, 3, 3, 0, 2, 1]]) {
      const ids = freshIds()
      await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }))
      const events = fanOut(ids)
      for (const index of order) await harness.send(events[index] as PaddleEvent)
      const failed = (await emailEvents(ids)).filter((row) => row.type === 'payment.failed')
      expect(failed, `order ${order.join(',')}`).toHaveLength(1)
      expect(failed[0]?.idempotencyKey).toBe(`payment.failed:${ids.subscription}:${at(PERIOD)}`)

      await harness.send(
        transactionEvent('transaction.completed', ids, {
          id: ids.renewal,
          status: 'completed',
          time: PERIOD + DAY,
          origin: 'subscription_recurring',
          billingPeriod: renewalPeriod,
          payments: [{ status: 'captured' }, { status: 'error', errorCode: 'declined' }],
        }),
        subscriptionEvent('subscription.updated', ids, { status: 'active', time: PERIOD + DAY + 1, period: renewalPeriod })
      )
      expect((await types(ids)).filter((type) => type === 'payment.recovered')).toEqual(['payment.recovered'])
      expect((await types(ids)).filter((type) => type === 'payment.failed')).toHaveLength(1)
    }
  })
})

describe('each email event type, once per change', () => {
  it('subscription.started: on the first activation only, not on the duplicate .activated or a renewal', async () => {
    const ids = freshIds()
    const created = subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 })
    await harness.send(created, replay(created), subscriptionEvent('subscription.activated', ids, { status: 'active', time: 2, occurredDelay: 0.01 }))
    await harness.send(subscriptionEvent('subscription.updated', ids, { status: 'active', time: PERIOD, period: [PERIOD, 2 * PERIOD] }))
    expect(await types(ids)).toEqual(['subscription.started'])
  })

  it('trial.started on a trial, then subscription.started when it converts', async () => {
    const ids = freshIds()
    const trial = { status: 'trialing' as const, period: [0, 14 * DAY] as [number, number], items: [{ ...BASIC, trialEndsAt: at(14 * DAY) }] }
    await harness.send(subscriptionEvent('subscription.created', ids, { ...trial, time: 2 }), subscriptionEvent('subscription.trialing', ids, { ...trial, time: 2, occurredDelay: 0.01 }))
    expect(await types(ids)).toEqual(['trial.started'])
    await harness.send(subscriptionEvent('subscription.activated', ids, { status: 'active', time: 14 * DAY + 1, period: [14 * DAY, 44 * DAY] }))
    expect(await types(ids)).toEqual(['trial.started', 'subscription.started'])
  })

  it('payment.succeeded once per transaction, however many completed updates follow', async () => {
    const ids = freshIds()
    const completed = transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, payments: [{ status: 'captured' }] })
    await harness.send(completed, replay(completed), transactionEvent('transaction.updated', ids, { id: ids.checkout, status: 'completed', time: 5, payments: [{ status: 'captured' }] }))
    expect(await types(ids)).toEqual(['payment.succeeded'])
  })

  it('a scheduled cancellation, its removal, and a new one for another date', async () => {
    const ids = freshIds()
    const scheduled = (time: number, effectiveAt: number) => subscriptionEvent('subscription.updated', ids, { status: 'active', time, scheduledChange: { action: 'cancel', effectiveAt } })
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }), scheduled(DAY, PERIOD), scheduled(2 * DAY, PERIOD))
    await harness.send(subscriptionEvent('subscription.updated', ids, { status: 'active', time: 3 * DAY, scheduledChange: null }))
    await harness.send(scheduled(4 * DAY, PERIOD + 5))
    expect(await types(ids)).toEqual(['subscription.started', 'subscription.cancellation_scheduled', 'subscription.cancellation_reverted', 'subscription.cancellation_scheduled'])
  })

  it('subscription.canceled once, and no reverted when the scheduled cancellation takes effect', async () => {
    const ids = freshIds()
    await harness.send(
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY, scheduledChange: { action: 'cancel', effectiveAt: PERIOD } }),
      subscriptionEvent('subscription.canceled', ids, { status: 'canceled', time: PERIOD, period: null, canceledAt: PERIOD }),
      subscriptionEvent('subscription.updated', ids, { status: 'canceled', time: PERIOD + 10, period: null, canceledAt: PERIOD })
    )
    expect(await types(ids)).toEqual(['subscription.started', 'subscription.cancellation_scheduled', 'subscription.canceled'])
  })

  it('subscription.paused and subscription.resumed once each', async () => {
    const ids = freshIds()
    const paused = subscriptionEvent('subscription.paused', ids, { status: 'paused', time: PERIOD, period: null, pausedAt: PERIOD })
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }), paused, replay(paused),
      subscriptionEvent('subscription.updated', ids, { status: 'paused', time: PERIOD + 10, period: null, pausedAt: PERIOD }))
    await harness.send(subscriptionEvent('subscription.resumed', ids, { status: 'active', time: PERIOD + DAY, period: [PERIOD + DAY, 2 * PERIOD + DAY] }))
    expect(await types(ids)).toEqual(['subscription.started', 'subscription.paused', 'subscription.resumed'])
  })

  it('subscription.plan_changed with its direction, once per change', async () => {
    const ids = freshIds()
    const withItems = (time: number, items: typeof BASIC[]) => subscriptionEvent('subscription.updated', ids, { status: 'active', time, items })
    const upgrade = withItems(DAY, [PRO])
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, items: [BASIC] }), upgrade, replay(upgrade))
    await harness.send(withItems(2 * DAY, [{ ...PRO, quantity: 3 }]), withItems(3 * DAY, [BASIC]), withItems(4 * DAY, [BASIC]))
    const changes = (await emailEvents(ids)).filter((row) => row.type === 'subscription.plan_changed').map((row) => row.data.direction)
    expect(changes).toEqual(['upgrade', 'upgrade', 'downgrade'])
  })

  it('refund.issued when a refund is approved, once; not for a pending refund or a credit', async () => {
    const ids = freshIds()
    await harness.send(adjustmentEvent('adjustment.created', ids, { time: DAY, status: 'pending_approval' }))
    expect(await types(ids)).toEqual([])
    const approved = adjustmentEvent('adjustment.updated', ids, { time: 2 * DAY, status: 'approved' })
    await harness.send(approved, replay(approved), adjustmentEvent('adjustment.updated', ids, { time: 3 * DAY, status: 'approved' }))
    expect(await types(ids)).toEqual(['refund.issued'])
    const credit = freshIds()
    await harness.send(adjustmentEvent('adjustment.updated', credit, { time: 2 * DAY, status: 'approved', action: 'credit' }))
    expect(await types(credit)).toEqual([])
  })

  it('trial.ending_soon from the scheduled check, once per trial end, not when the trial is set to cancel', async () => {
    const ids = freshIds()
    const canceling = freshIds()
    const trial = (subject: ScenarioIds, extra = {}) => subscriptionEvent('subscription.created', subject, {
      status: 'trialing', time: 2, period: [0, PERIOD + 4 * DAY], items: [{ ...BASIC, trialEndsAt: at(PERIOD + 4 * DAY) }], ...extra,
    })
    await harness.send(trial(ids), trial(canceling, { scheduledChange: { action: 'cancel', effectiveAt: PERIOD + 4 * DAY } }))
    const job = 'trial-ending-notices'
    expect(await harness.loops.scheduler.runNow(job)).toBe(true)
    expect(await harness.loops.scheduler.runNow(job)).toBe(true)
    const notices = (await emailEvents(ids)).filter((row) => row.type === 'trial.ending_soon')
    expect(notices.map((row) => row.data)).toEqual([{ trialEndsAt: at(PERIOD + 4 * DAY), nextBilledAt: at(PERIOD + 4 * DAY) }])
    expect((await types(canceling)).filter((type) => type === 'trial.ending_soon')).toEqual([])
  })
})

describe('what is not emailed', () => {
  it('a stale event emits nothing', async () => {
    const ids = freshIds()
    await harness.send(subscriptionEvent('subscription.updated', ids, { status: 'canceled', time: 5 * DAY, period: null, canceledAt: 5 * DAY }))
    // Older, and delivered later: it would have scheduled the cancellation, but the state is newer.
    await harness.send(subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY, scheduledChange: { action: 'cancel', effectiveAt: 5 * DAY } }))
    expect(await types(ids)).toEqual(['subscription.canceled'])
  })

  it('a change older than EMAIL_EVENT_MAX_AGE_HOURS (72 h) is recorded but suppressed', async () => {
    harness.now = Date.parse(at(10 * DAY))
    const scheduled = (ids: ScenarioIds, time: number) => [
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time, scheduledChange: { action: 'cancel', effectiveAt: PERIOD } }),
    ]
    const [old, fresh] = [freshIds(), freshIds()]
    await harness.send(...scheduled(old, 6 * DAY), ...scheduled(fresh, 8 * DAY))
    const statusOf = async (ids: ScenarioIds) => (await emailEvents(ids)).map((row) => [row.type, row.status])
    // The subscriptions started ten days ago: that news is stale too.
    expect(await statusOf(old)).toEqual([['subscription.started', 'suppressed'], ['subscription.cancellation_scheduled', 'suppressed']])
    expect(await statusOf(fresh)).toEqual([['subscription.started', 'suppressed'], ['subscription.cancellation_scheduled', 'pending']])
  })
})
