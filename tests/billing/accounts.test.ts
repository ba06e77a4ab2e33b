import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { customersTable, subscriptionsTable, transactionsTable } from '#src/db/schema.js'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { paddleId } from '../helpers/paddle.js'
import { at, customerEvent, DAY, freshIds, subscriptionEvent, transactionEvent, type ScenarioIds } from '../helpers/scenarios.js'
import { useHarness } from '../helpers/harness.js'

const harness = useHarness({ now: Date.parse(at(5 * DAY)) })
const accountOf = async (ids: ScenarioIds) => ({
  subscription: (await harness.database.handle.db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, ids.subscription)))[0]?.accountId,
  checkout: (await harness.database.handle.db.select().from(transactionsTable).where(eq(transactionsTable.id, ids.checkout)))[0]?.accountId,
  customer: (await harness.database.handle.db.select().from(customersTable).where(eq(customersTable.id, ids.customer)))[0]?.accountId,
})
const entitlement = async (accountId: string) => (await harness.testApp.app.inject({
  url: `/internal/accounts/${accountId}/entitlement`,
  headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
})).json<{ access: string, reason: string, subscription: { id: string } | null }>()

describe('account links', () => {
  it('takes the account from the subscription\'s own custom_data', async () => {
    const ids = freshIds()
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY }))
    expect((await accountOf(ids)).subscription).toBe(ids.account)
    expect(await entitlement(ids.account)).toMatchObject({ access: 'granted', subscription: { id: ids.subscription } })
  })

  it('links a subscription without custom_data through its checkout transaction, whichever arrives first', async () => {
    for (const transactionFirst of [true, false]) {
      const ids = freshIds()
      const subscription = subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY, customData: null, transactionId: ids.checkout })
      const checkout = transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: DAY - 10, withSubscription: false })
      await harness.send(...(transactionFirst ? [checkout, subscription] : [subscription, checkout]))
      expect(await accountOf(ids)).toEqual({ subscription: ids.account, checkout: ids.account, customer: undefined })
    }
  })

  it('keeps the state of a customer whose account is unknown, and links it as soon as a transaction names it', async () => {
    const ids = freshIds()
    await harness.send(
      customerEvent('customer.created', ids, { time: DAY }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY, customData: null })
    )
    expect(await accountOf(ids)).toEqual({ subscription: null, checkout: undefined, customer: null })
    expect(await entitlement(ids.account)).toMatchObject({ reason: 'no_subscription' })

    // A later renewal transaction of the same customer carries the account id.
    await harness.send(transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: 2 * DAY, withSubscription: false }))
    expect(await accountOf(ids)).toMatchObject({ subscription: ids.account, customer: ids.account })
    expect(await entitlement(ids.account)).toMatchObject({ access: 'granted', subscription: { id: ids.subscription } })
  })

  it('links by hand with PUT /internal/customers/:id/account, before or after the customer\'s events arrive', async () => {
    const ids = freshIds()
    const put = await harness.testApp.app.inject({
      method: 'PUT',
      url: `/internal/customers/${ids.customer}/account`,
      headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
      payload: { accountId: ids.account },
    })
    expect(put.statusCode).toBe(200)
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY, customData: null }))
    expect(await accountOf(ids)).toMatchObject({ subscription: ids.account, customer: ids.account })
    // A customer event arriving later (without an account id of its own) keeps the manual link.
    await harness.send(customerEvent('customer.updated', ids, { time: 2 * DAY }))
    expect((await accountOf(ids)).customer).toBe(ids.account)
  })

  it('loses no subscription when one account has several Paddle customers', async () => {
    const first = freshIds()
    const second = { ...freshIds(), account: first.account }
    await harness.send(
      subscriptionEvent('subscription.created', first, { status: 'canceled', time: DAY, period: null, canceledAt: DAY }),
      subscriptionEvent('subscription.created', second, { status: 'active', time: 2 * DAY }),
      customerEvent('customer.created', first, { time: DAY, email: 'ada@old.example.com' }),
      customerEvent('customer.created', second, { time: 2 * DAY, email: 'ada@new.example.com' })
    )
    expect(await entitlement(first.account)).toMatchObject({ access: 'granted', subscription: { id: second.subscription } })
    const rows = await harness.database.handle.db.select().from(subscriptionsTable).where(eq(subscriptionsTable.accountId, first.account))
    expect(rows.map((row) => row.id).sort()).toEqual([first.subscription, second.subscription].sort())
  })

  it('prefers the subscription\'s own account id over the customer\'s', async () => {
    const ids = freshIds()
    const otherAccount = `acc_${paddleId('x').slice(2, 12)}`
    await harness.send(
      customerEvent('customer.created', ids, { time: DAY, customData: { account_id: otherAccount } }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY })
    )
    expect(await accountOf(ids)).toMatchObject({ subscription: ids.account, customer: otherAccount })
  })
})
