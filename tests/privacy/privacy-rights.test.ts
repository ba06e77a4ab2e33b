/**
 * Access, portability and erasure of a customer's personal data, and retention: what a data-subject
 * request gets, what an erasure leaves (accounting records) and removes (name and email, everywhere),
 * and that Paddle's old data never brings them back.
 */
import { eq, inArray, sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { selectRows } from '#src/db/client.js'
import {
  customersTable, emailEventsTable, entitlementEventsTable, entitlementStatesTable, paddleInboxTable, personalDataErasuresTable, subscriptionsTable, transactionsTable,
} from '#src/db/schema.js'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { deliver, paddleId } from '../helpers/paddle.js'
import { scanAllColumns } from '../helpers/scan.js'
import {
  adjustmentEvent, at, customerEvent, DAY, freshIds, subscriptionEvent, transactionEvent, type ScenarioIds,
} from '../helpers/scenarios.js'

const harness = useHarness({ now: Date.parse(at(40 * DAY)), env: { EMAIL_EVENT_MAX_AGE_HOURS: '8760' } })
const authorization = `Bearer ${TEST_API_TOKEN}`
const call = async (method: 'GET' | 'DELETE', url: string) => await harness.testApp.app.inject({ method, url, headers: { authorization } })

/** A customer with a checkout, a subscription, a renewal and a refund: everything an export should hold. */
function customerHistory (ids: ScenarioIds, person: { name: string, email: string }) {
  return [
    customerEvent('customer.created', ids, { time: 0, ...person }),
    transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, payments: [{ status: 'captured' }] }),
    subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, transactionId: ids.checkout }),
    transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: 30 * DAY, origin: 'subscription_recurring', billingPeriod: [30 * DAY, 60 * DAY], payments: [{ status: 'captured' }] }),
    adjustmentEvent('adjustment.updated', ids, { time: 31 * DAY, status: 'approved', transactionId: ids.renewal }),
  ]
}

const uniquePerson = () => {
  const tag = paddleId('x').slice(2, 12)
  return { name: `Ada Lovelace ${tag}`, email: `ada.${tag}@example.org` }
}

describe('GET /internal/accounts/:accountId/export', () => {
  it('holds the account\'s customers (two, with name and email), subscriptions, transactions, adjustments and email events, and nothing of another account', async () => {
    const first = freshIds()
    const second = { ...freshIds(), account: first.account } // the same person checked out again with another email
    const other = freshIds()
    const [person, renamed, stranger] = [uniquePerson(), uniquePerson(), uniquePerson()]
    await harness.send(...customerHistory(first, person), ...customerHistory(second, renamed), ...customerHistory(other, stranger))

    const response = await call('GET', `/internal/accounts/${first.account}/export`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-disposition']).toContain('attachment')
    const exported = response.json<Record<string, Array<Record<string, unknown>>>>()
    expect(exported.customers?.map((customer) => [customer.id, customer.name, customer.email]).sort())
      .toEqual([[first.customer, person.name, person.email], [second.customer, renamed.name, renamed.email]].sort())
    expect(exported.subscriptions?.map((row) => row.id).sort()).toEqual([first.subscription, second.subscription].sort())
    expect(exported.transactions?.map((row) => row.id).sort()).toEqual([first.checkout, first.renewal, second.checkout, second.renewal].sort())
    expect(exported.adjustments?.map((row) => row.id).sort()).toEqual([first.adjustment, second.adjustment].sort())
    expect(exported.emailEvents?.map((row) => row.type)).toEqual(expect.arrayContaining(['subscription.started', 'payment.succeeded', 'refund.issued']))
    // Nothing of the other account: none of its ids, name or email anywhere in the document.
    for (const value of [...Object.values(other).filter((id) => id !== first.account), stranger.name, stranger.email]) {
      expect(response.body).not.toContain(value)
    }
  })

  it('answers an unknown account with an empty export, not an error', async () => {
    const response = await call('GET', `/internal/accounts/acc_${paddleId('x').slice(2, 12)}/export`)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ customers: [], subscriptions: [], transactions: [], adjustments: [], emailEvents: [], erasures: [] })
  })
})

describe('DELETE /internal/customers/:customerId/personal-data', () => {
  it('erases the name and email from every table and log, keeps the accounting records, and records the erasure without the values', async () => {
    const ids = freshIds()
    const person = uniquePerson()
    const history = customerHistory(ids, person)
    await harness.send(...history)
    const pattern = `${person.name}|${person.email}`
    expect((await scanAllColumns(harness.database.handle.db, pattern)).hits.length).toBeGreaterThan(0)

    const erased = await call('DELETE', `/internal/customers/${ids.customer}/personal-data`)
    expect(erased.statusCode).toBe(200)
    expect(erased.json()).toMatchObject({ customerId: ids.customer, requests: 1, erasedAt: expect.any(String) })

    expect((await scanAllColumns(harness.database.handle.db, pattern)).hits).toEqual([])
    // Accounting keeps the ids, amounts, invoice numbers and dates.
    const transaction = (await call('GET', `/internal/transactions/${ids.renewal}`)).json<Record<string, unknown>>()
    expect(transaction).toMatchObject({ id: ids.renewal, customerId: ids.customer, invoiceNumber: `INV-${ids.renewal}`, totals: { total: '65215' } })
    expect((await call('GET', `/internal/customers/${ids.customer}`)).json()).toMatchObject({ id: ids.customer, name: null, email: null, accountId: ids.account })
    const [record] = await harness.database.handle.db.select().from(personalDataErasuresTable).where(eq(personalDataErasuresTable.customerId, ids.customer))
    expect(record).toMatchObject({ customerId: ids.customer, requests: 1 })
    expect(JSON.stringify(record)).not.toMatch(new RegExp(pattern))

    // Idempotent: a repeat erases nothing new and says it was asked twice.
    const again = await call('DELETE', `/internal/customers/${ids.customer}/personal-data`)
    expect(again.json()).toMatchObject({ requests: 2, firstErasedAt: erased.json<{ firstErasedAt: string }>().firstErasedAt })
    expect(harness.testApp.logs.text()).not.toMatch(new RegExp(pattern))
  })

  it('keeps them erased when Paddle\'s old events come again, and takes new ones from a customer Paddle changed afterwards', async () => {
    const ids = freshIds()
    const person = uniquePerson()
    const history = customerHistory(ids, person)
    await harness.send(...history)
    await call('DELETE', `/internal/customers/${ids.customer}/personal-data`)
    const pattern = `${person.name}|${person.email}`

    // A replay (same event, new notification), and the same old data as a new event (a late delivery, a catch-up).
    const [created] = history
    if (created === undefined) throw new Error('no customer event')
    expect((await deliver(harness.testApp.app, { ...created, notification_id: paddleId('ntf') }, { timestamp: Math.floor(harness.now / 1000) })).json()).toMatchObject({ duplicate: true })
    await harness.send({ ...customerEvent('customer.updated', ids, { time: DAY, ...person }) })
    expect((await scanAllColumns(harness.database.handle.db, pattern)).hits).toEqual([])
    expect((await call('GET', `/internal/customers/${ids.customer}`)).json()).toMatchObject({ name: null, email: null })

    // Paddle changed the customer after the erasure: that data is new, and kept.
    const fresh = uniquePerson()
    harness.now = Date.now() + 60_000
    await harness.send(customerEvent('customer.updated', ids, { time: (Date.now() + 30_000 - Date.parse(at(0))) / 1000, ...fresh }))
    expect((await call('GET', `/internal/customers/${ids.customer}`)).json()).toMatchObject({ name: fresh.name, email: fresh.email })
    harness.now = Date.parse(at(40 * DAY))
  })

  it('records an erasure for a customer not seen yet, whose events then arrive erased', async () => {
    const ids = freshIds()
    const person = uniquePerson()
    expect((await call('DELETE', `/internal/customers/${ids.customer}/personal-data`)).statusCode).toBe(200)
    await harness.send(...customerHistory(ids, person))
    expect((await scanAllColumns(harness.database.handle.db, `${person.name}|${person.email}`)).hits).toEqual([])
    const [row] = await harness.database.handle.db.select().from(customersTable).where(eq(customersTable.id, ids.customer))
    expect(row).toMatchObject({ name: null, email: null, status: 'active', erasedAt: expect.any(String) })
  })

  it('answers 400 to a malformed customer id and 401 without a token', async () => {
    expect((await call('DELETE', '/internal/customers/ada@example.org/personal-data')).statusCode).toBe(400)
    expect((await harness.testApp.app.inject({ method: 'DELETE', url: `/internal/customers/${paddleId('ctm')}/personal-data` })).statusCode).toBe(401)
  })
})

describe('retention', () => {
  it('drops old inbox payloads (not pending ones), deletes old delivered email and entitlement events, and keeps billing records 10 years', async () => {
    const [recent, old, ancient] = [freshIds(), freshIds(), freshIds()]
    for (const ids of [recent, old, ancient]) await harness.send(...customerHistory(ids, uniquePerson()))
    const { db } = harness.database.handle
    const backdate = async (ids: ScenarioIds, inbox: string, emails: string) => {
      await db.execute(sql`UPDATE paddle_inbox SET received_at = now() - ${inbox}::interval WHERE customer_id = ${ids.customer}`)
      await db.execute(sql`UPDATE email_events SET created_at = now() - ${emails}::interval, status = 'delivered' WHERE customer_id = ${ids.customer}`)
      await db.execute(sql`UPDATE entitlement_events SET created_at = now() - ${emails}::interval, status = 'delivered' WHERE account_id = ${ids.account}`)
    }
    // Past the payload retention (30 days) and the delivered email events' (90 days)...
    await backdate(old, '40 days', '100 days')
    // ...and past the billing records' (10 years).
    await backdate(ancient, '11 years', '11 years')
    // Delivered 60 days ago: within the 90 days, kept.
    await backdate(recent, '1 day', '60 days')
    await db.execute(sql`UPDATE transactions SET paddle_created_at = now() - interval '11 years', paddle_updated_at = now() - interval '11 years' WHERE customer_id = ${ancient.customer}`)
    await db.execute(sql`UPDATE adjustments SET paddle_updated_at = now() - interval '11 years' WHERE customer_id = ${ancient.customer}`)
    await db.execute(sql`UPDATE subscriptions SET status = 'canceled', canceled_at = now() - interval '11 years' WHERE customer_id = ${ancient.customer}`)
    // A pending row, however old, is work still to do: never dropped.
    const pending = subscriptionEvent('subscription.updated', old, { status: 'active', time: 35 * DAY })
    expect((await deliver(harness.testApp.app, pending, { timestamp: Math.floor(harness.now / 1000) })).statusCode).toBe(200)
    await db.execute(sql`UPDATE paddle_inbox SET received_at = now() - interval '40 days' WHERE event_id = ${pending.event_id}`)

    harness.now = Date.now()
    expect(await harness.loops.scheduler.runNow('retention')).toBe(true)
    harness.now = Date.parse(at(40 * DAY))

    const inbox = async (ids: ScenarioIds) => await db.select({ id: paddleInboxTable.eventId, payload: paddleInboxTable.payload, status: paddleInboxTable.status })
      .from(paddleInboxTable).where(eq(paddleInboxTable.customerId, ids.customer))
    expect((await inbox(recent)).every((row) => row.payload !== null)).toBe(true)
    const oldRows = await inbox(old)
    expect(oldRows.filter((row) => row.status === 'processed').every((row) => row.payload === null)).toBe(true)
    expect(oldRows.find((row) => row.id === pending.event_id)?.payload).not.toBeNull()
    expect(await inbox(ancient)).toEqual([])

    const emails = async (ids: ScenarioIds) => (await db.select().from(emailEventsTable).where(eq(emailEventsTable.customerId, ids.customer))).length
    expect(await emails(recent)).toBeGreaterThan(0)
    expect(await emails(old)).toBe(0)
    // Entitlement events alike (90 days too); each account's last answer stays.
    const entitlementEvents = async (ids: ScenarioIds) => (await db.select().from(entitlementEventsTable).where(eq(entitlementEventsTable.accountId, ids.account))).length
    expect(await entitlementEvents(recent)).toBeGreaterThan(0)
    expect(await entitlementEvents(old)).toBe(0)
    expect(await db.select().from(entitlementStatesTable).where(eq(entitlementStatesTable.accountId, old.account))).toHaveLength(1)
    // Billing records: the 40-day-old ones stay, the 11-year-old ones go.
    const transactions = async (ids: ScenarioIds) => (await db.select().from(transactionsTable).where(inArray(transactionsTable.id, [ids.checkout, ids.renewal]))).length
    expect(await transactions(old)).toBe(2)
    expect(await transactions(ancient)).toBe(0)
    expect(await db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, ancient.subscription))).toEqual([])
    expect((await db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, old.subscription))).length).toBe(1)
    const [counted] = await selectRows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM subscription_items WHERE subscription_id = ${ancient.subscription}`)
    expect(counted?.n).toBe(0)
  })
})
