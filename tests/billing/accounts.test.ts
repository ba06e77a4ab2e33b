import { eq } from 'drizzle-orm'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { relinkCustomerAccounts, relinkSubscriptionFact, relinkTransactionFact } from '#src/billing/accounts.repository.js'
import type { RawStatement, Transaction } from '#src/db/client.js'
import { customersTable, subscriptionsTable, transactionsTable } from '#src/db/schema.js'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { paddleId, type PaddleEvent } from '../helpers/paddle.js'
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
  it('reaches the rows a batch read ahead when an earlier event of the batch moved their customer to another account', async () => {
    const ids = freshIds()
    const moved = `acc_${paddleId('x').slice(2, 14)}`
    const transactionsOf = async () => (await Promise.all([ids.checkout, ids.renewal].map(async (id) =>
      (await harness.database.handle.db.select().from(transactionsTable).where(eq(transactionsTable.id, id)))[0]))).map((row) => [row?.status, row?.accountId])
    // Without custom_data or a subscription, the transactions take their customer's account.
    const plain = { customData: null, withSubscription: false } as const
    await harness.send(
      customerEvent('customer.created', ids, { time: 1, customData: { account_id: ids.account } }),
      transactionEvent('transaction.created', ids, { id: ids.checkout, status: 'ready', time: 2, ...plain }),
      transactionEvent('transaction.created', ids, { id: ids.renewal, status: 'ready', time: 3, ...plain })
    )
    expect(await transactionsOf()).toEqual([['ready', ids.account], ['ready', ids.account]])
    // One batch: the customer's account changes, then both transactions change in a way account resolution does not read.
    await harness.send(
      customerEvent('customer.updated', ids, { time: 10, customData: { account_id: moved } }),
      transactionEvent('transaction.updated', ids, { id: ids.checkout, status: 'billed', time: 11, ...plain }),
      transactionEvent('transaction.updated', ids, { id: ids.renewal, status: 'billed', time: 12, ...plain })
    )
    expect(await transactionsOf()).toEqual([['billed', moved], ['billed', moved]])
  })

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

/**
 * Applying an event resolves again only what its fact can reach (accounts.repository.ts). Whatever
 * the facts and their order, that must leave every row as resolving the whole customer from
 * everything stored would: resolving it all again afterwards changes nothing, and the result is the
 * in-order one.
 */
// A batch reads ahead which customers have nothing stored, and account resolution leaves out the new
// transactions and customer events of those (billing/prefetch.ts): each case fails if the batch takes a
// customer with something stored for a new one. Every batch also carries other customers' sign-ups, as
// a burst would.
describe('account resolution of sign-ups in a batch', () => {
  const signUp = () => {
    const ids = freshIds()
    return transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, withSubscription: false })
  }
  const accountOfTransaction = async (id: string) => (await harness.database.handle.db.select().from(transactionsTable).where(eq(transactionsTable.id, id)))[0]?.accountId
  const plain = { status: 'completed', withSubscription: false, customData: null } as const

  it('gives a new customer\'s transaction the account a transaction earlier in the same batch brought', async () => {
    const ids = freshIds()
    await harness.send(signUp(),
      transactionEvent('transaction.completed', ids, { id: ids.checkout, time: 1, ...plain }),
      transactionEvent('transaction.completed', ids, { id: ids.renewal, time: 2, status: 'completed', withSubscription: false }),
      signUp())
    expect([await accountOfTransaction(ids.checkout), await accountOfTransaction(ids.renewal)]).toEqual([ids.account, ids.account])
  })

  it('resolves the account of a customer whose transaction, customer or subscription an earlier batch stored', async () => {
    for (const earlier of ['transaction', 'customer', 'subscription'] as const) {
      const ids = freshIds()
      // Stored without an account id of its own, the earlier transaction takes the one the later brings.
      const first = {
        transaction: transactionEvent('transaction.completed', ids, { id: ids.renewal, time: 1, ...plain }),
        customer: customerEvent('customer.created', ids, { time: 1, customData: null }),
        subscription: subscriptionEvent('subscription.created', ids, { status: 'active', time: 1, customData: null }),
      }[earlier]
      await harness.send(signUp(), first, signUp())
      await harness.send(signUp(), transactionEvent('transaction.completed', ids, { id: ids.checkout, time: 2, status: 'completed', withSubscription: false }), signUp())
      const stored = earlier === 'transaction'
        ? await accountOfTransaction(ids.renewal)
        : earlier === 'customer'
          ? (await accountOf(ids)).customer
          : (await accountOf(ids)).subscription
      expect([earlier, stored]).toEqual([earlier, ids.account])
    }
  })

  // A customer event of a customer with nothing stored leaves account resolution out too: these fail if
  // the batch takes a customer whose transaction or subscription an earlier batch stored for a new one.
  it('gives a customer\'s first own event the account its transaction or subscription, stored by an earlier batch, brought', async () => {
    for (const earlier of ['transaction', 'subscription'] as const) {
      const ids = freshIds()
      const first = earlier === 'transaction'
        ? transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, withSubscription: false })
        : subscriptionEvent('subscription.created', ids, { status: 'active', time: 1 })
      await harness.send(signUp(), first, signUp())
      await harness.send(signUp(), customerEvent('customer.created', ids, { time: 2, customData: null }), signUp())
      expect([earlier, (await accountOf(ids)).customer]).toEqual([earlier, ids.account])
    }
  })

  it('gives a new customer the account of its own custom_data, and the transactions after it in the batch the customer\'s', async () => {
    const ids = freshIds()
    await harness.send(signUp(),
      customerEvent('customer.created', ids, { time: 1, customData: { account_id: ids.account } }),
      transactionEvent('transaction.completed', ids, { id: ids.checkout, time: 2, ...plain }),
      signUp())
    expect([(await accountOf(ids)).customer, await accountOfTransaction(ids.checkout)]).toEqual([ids.account, ids.account])
  })

  // A new transaction whose customer and subscription already resolved to the account it brings leaves
  // account resolution out (a renewal): these fail if it is left out when either resolved to another.
  it('gives a customer the account of a new transaction older than the one its account came from', async () => {
    const ids = freshIds()
    const later = { account_id: `${ids.account}_later` }
    await harness.send(signUp(),
      customerEvent('customer.created', ids, { time: 1, customData: null }),
      transactionEvent('transaction.completed', ids, { id: ids.renewal, time: 10, status: 'completed', withSubscription: false, customData: later }),
      signUp())
    expect((await accountOf(ids)).customer).toBe(later.account_id)
    await harness.send(signUp(), transactionEvent('transaction.completed', ids, { id: ids.checkout, time: 5, status: 'completed', withSubscription: false }), signUp())
    expect((await accountOf(ids)).customer).toBe(ids.account)
  })

  it('gives a subscription the account of a new transaction of it older than the one its account came from', async () => {
    const ids = freshIds()
    const later = { account_id: `${ids.account}_later` }
    await harness.send(signUp(),
      customerEvent('customer.created', ids, { time: 1, customData: { account_id: ids.account } }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, customData: null, transactionId: null }),
      transactionEvent('transaction.completed', ids, { id: ids.renewal, time: 10, status: 'completed', customData: later }),
      signUp())
    expect(await accountOf(ids)).toEqual({ customer: ids.account, subscription: later.account_id, checkout: undefined })
    await harness.send(signUp(), transactionEvent('transaction.completed', ids, { id: ids.checkout, time: 5, status: 'completed' }), signUp())
    expect(await accountOf(ids)).toEqual({ customer: ids.account, subscription: ids.account, checkout: ids.account })
  })

  it('gives a new customer\'s transaction the account of the subscription it names, stored for another customer', async () => {
    const owner = freshIds()
    await harness.send(signUp(), subscriptionEvent('subscription.created', owner, { status: 'active', time: 1 }), signUp())
    const ids = { ...freshIds(), subscription: owner.subscription }
    await harness.send(signUp(), transactionEvent('transaction.completed', ids, { id: ids.checkout, time: 2, status: 'completed', customData: null }), signUp())
    expect(await accountOfTransaction(ids.checkout)).toBe(owner.account)
  })
})

describe('account resolution of the facts an event brings', () => {
  const ACCOUNTS = ['acc_a', 'acc_b', null] as const
  const custom = (account: string | null, ids: ScenarioIds) => account === null ? null : { account_id: `${account}_${ids.customer.slice(4, 12)}` }
  const fact = fc.record({
    customer: fc.option(fc.constantFrom(...ACCOUNTS), { nil: undefined }),
    subscriptions: fc.array(fc.record({
      account: fc.constantFrom(...ACCOUNTS),
      changedAccount: fc.option(fc.constantFrom(...ACCOUNTS), { nil: undefined }),
      checkout: fc.option(fc.nat(3), { nil: undefined }),
      time: fc.integer({ min: 1, max: 50 }),
    }), { minLength: 1, maxLength: 2 }),
    transactions: fc.array(fc.record({
      account: fc.constantFrom(...ACCOUNTS),
      changedAccount: fc.option(fc.constantFrom(...ACCOUNTS), { nil: undefined }),
      subscription: fc.option(fc.nat(1), { nil: undefined }),
      time: fc.integer({ min: 1, max: 50 }),
    }), { minLength: 1, maxLength: 4 }),
  })

  type Fact = typeof fact extends fc.Arbitrary<infer T> ? T : never

  function eventsOf (facts: Fact, ids: ScenarioIds, subscriptionIds: string[], transactionIds: string[]) {
    const events = []
    if (facts.customer !== undefined) events.push(customerEvent('customer.created', ids, { time: 1, customData: custom(facts.customer, ids) }))
    facts.subscriptions.forEach((spec, index) => {
      const subject = { ...ids, subscription: subscriptionIds[index] ?? '' }
      const checkout = spec.checkout === undefined ? null : transactionIds[spec.checkout] ?? null
      events.push(subscriptionEvent('subscription.created', subject, { status: 'active', time: spec.time, customData: custom(spec.account, ids), transactionId: checkout }))
      if (spec.changedAccount !== undefined) {
        events.push(subscriptionEvent('subscription.updated', subject, { status: 'active', time: spec.time + 100, customData: custom(spec.changedAccount, ids) }))
      }
    })
    facts.transactions.forEach((spec, index) => {
      const subject = { ...ids, subscription: spec.subscription === undefined ? '' : subscriptionIds[spec.subscription] ?? '' }
      const base = { id: transactionIds[index] ?? '', status: 'completed' as const, withSubscription: spec.subscription !== undefined && subject.subscription !== '' }
      events.push(transactionEvent('transaction.completed', subject, { ...base, time: spec.time, customData: custom(spec.account, ids) }))
      if (spec.changedAccount !== undefined) {
        // Paddle never changes when a transaction was created.
        events.push(transactionEvent('transaction.updated', subject, { ...base, time: spec.time + 100, createdAt: spec.time - 1, customData: custom(spec.changedAccount, ids) }))
      }
    })
    return events
  }

  async function accountsOf (ids: ScenarioIds, subscriptionIds: string[], transactionIds: string[]) {
    const { db } = harness.database.handle
    const normalise = (account: string | null | undefined) => account?.replace(`_${ids.customer.slice(4, 12)}`, '') ?? null
    const customer = (await db.select().from(customersTable).where(eq(customersTable.id, ids.customer)))[0]?.accountId
    const subscriptions = await Promise.all(subscriptionIds.map(async (id) => (await db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, id)))[0]?.accountId))
    const transactions = await Promise.all(transactionIds.map(async (id) => (await db.select().from(transactionsTable).where(eq(transactionsTable.id, id)))[0]?.accountId))
    return { customer: normalise(customer), subscriptions: subscriptions.map(normalise), transactions: transactions.map(normalise) }
  }

  it('leaves what resolving everything would, in any order (property)', async () => {
    const scenario = fact.chain((facts) => {
      const count = eventsOf(facts, freshIds(), ['s0', 's1'], ['t0', 't1', 't2', 't3']).length
      const order = fc.array(fc.nat(count - 1), { maxLength: 3 }).chain((duplicates) => {
        const all = [...Array.from({ length: count }, (_, index) => index), ...duplicates]
        return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length })
      })
      return fc.tuple(fc.constant(facts), order)
    })
    await fc.assert(fc.asyncProperty(scenario, async ([facts, order]) => {
      const run = async (indexes: number[]) => {
        const ids = freshIds()
        const subscriptionIds = [paddleId('sub'), paddleId('sub')]
        const transactionIds = [paddleId('txn'), paddleId('txn'), paddleId('txn'), paddleId('txn')]
        const events = eventsOf(facts, ids, subscriptionIds, transactionIds)
        for (const index of indexes) await harness.send(events[index] as PaddleEvent)
        return { ids, subscriptionIds, transactionIds }
      }
      const inOrder = await run(eventsOf(facts, freshIds(), ['s0', 's1'], ['t0', 't1', 't2', 't3']).map((_, index) => index))
      const shuffled = await run(order)
      const incremental = await accountsOf(shuffled.ids, shuffled.subscriptionIds, shuffled.transactionIds)
      await harness.database.handle.transaction(async (tx) => { await relinkCustomerAccounts(tx, shuffled.ids.customer).accounts() })
      expect(await accountsOf(shuffled.ids, shuffled.subscriptionIds, shuffled.transactionIds)).toEqual(incremental)
      expect(incremental).toEqual(await accountsOf(inOrder.ids, inOrder.subscriptionIds, inOrder.transactionIds))
    }), { numRuns: 60, seed: 13 })
  }, 300_000)

  // One batch with other customers' sign-ups: the batch reads ahead which customers have nothing stored
  // yet, and account resolution leaves out a new transaction of such a customer (billing/prefetch.ts).
  it('leaves what resolving everything would when the facts arrive in one batch among sign-ups (property)', async () => {
    await fc.assert(fc.asyncProperty(fact, async (facts) => {
      const ids = freshIds()
      const subscriptionIds = [paddleId('sub'), paddleId('sub')]
      const transactionIds = [paddleId('txn'), paddleId('txn'), paddleId('txn'), paddleId('txn')]
      const signUp = freshIds()
      await harness.send(
        transactionEvent('transaction.completed', signUp, { id: signUp.checkout, status: 'completed', time: 1, withSubscription: false }),
        ...eventsOf(facts, ids, subscriptionIds, transactionIds))
      const oneBatch = await accountsOf(ids, subscriptionIds, transactionIds)
      await harness.database.handle.transaction(async (tx) => { await relinkCustomerAccounts(tx, ids.customer).accounts() })
      expect(await accountsOf(ids, subscriptionIds, transactionIds)).toEqual(oneBatch)
      expect((await harness.database.handle.db.select().from(transactionsTable).where(eq(transactionsTable.id, signUp.checkout)))[0]?.accountId).toBe(signUp.account)
    }), { numRuns: 40, seed: 21 })
  }, 300_000)

  // The second batch reads ahead the accounts the first left, and account resolution leaves out a new
  // transaction whose customer and subscription already resolved to the account it brings.
  it('leaves what resolving everything would when a later batch among sign-ups brings the rest of the facts (property)', async () => {
    await fc.assert(fc.asyncProperty(fact, fc.nat(), async (facts, cut) => {
      const ids = freshIds()
      const subscriptionIds = [paddleId('sub'), paddleId('sub')]
      const transactionIds = [paddleId('txn'), paddleId('txn'), paddleId('txn'), paddleId('txn')]
      const events = eventsOf(facts, ids, subscriptionIds, transactionIds)
      const split = cut % (events.length + 1)
      const signUp = () => {
        const other = freshIds()
        return transactionEvent('transaction.completed', other, { id: other.checkout, status: 'completed', time: 1, withSubscription: false })
      }
      await harness.send(signUp(), ...events.slice(0, split))
      await harness.send(signUp(), ...events.slice(split))
      const twoBatches = await accountsOf(ids, subscriptionIds, transactionIds)
      await harness.database.handle.transaction(async (tx) => { await relinkCustomerAccounts(tx, ids.customer).accounts() })
      expect(await accountsOf(ids, subscriptionIds, transactionIds)).toEqual(twoBatches)
    }), { numRuns: 60, seed: 34 })
  }, 300_000)
})

describe('the cost of account resolution', () => {
  interface PlanNode { 'Node Type': string, 'Relation Name'?: string, 'Actual Rows'?: number, 'Actual Loops'?: number, 'Rows Removed by Filter'?: number, Plans?: PlanNode[] }
  /** Rows the plan's scans of `table` went through: returned, or read and filtered out. */
  const rowsScanned = (node: PlanNode, table: string): number =>
    (node['Relation Name'] === table ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0)) * (node['Actual Loops'] ?? 1) : 0) +
    (node.Plans ?? []).reduce((sum, child) => sum + rowsScanned(child, table), 0)
  const HISTORY = 1_500

  /** Gives the customer (and subscription) of `ids.checkout` HISTORY more transactions like it, a day apart, and fresh statistics. */
  async function longHistory (ids: ScenarioIds): Promise<void> {
    const { handle } = harness.database
    await handle.query({
      name: 'test_long_history',
      text: `INSERT INTO transactions
        SELECT (jsonb_populate_record(NULL::transactions, to_jsonb(t) || jsonb_build_object('id', t.id || '_' || g, 'paddle_created_at', t.paddle_created_at + g * interval '1 day'))).*
        FROM transactions t, generate_series(1, ${HISTORY}) AS g WHERE t.id = $1`,
    }, [ids.checkout])
    await handle.vacuum('transactions')
  }

  /** The plans, custom and generic, of the relink statement `relink` defers, run on the test database. */
  async function relinkPlans (relink: (tx: Pick<Transaction, 'deferRead'>) => unknown): Promise<PlanNode[]> {
    let captured: { statement: RawStatement, values: unknown[] } | undefined
    relink({
      deferRead: (statement: RawStatement, values: unknown[]) => {
        captured = { statement, values }
        return { rows: async () => [] }
      },
    })
    if (captured === undefined) throw new Error('no relink statement')
    const { statement, values } = captured
    const { handle } = harness.database
    const planOf = (rows: Array<Record<string, unknown>>): PlanNode => {
      const json = rows[0]?.['QUERY PLAN']
      return (typeof json === 'string' ? JSON.parse(json) : json)[0].Plan
    }
    const literal = (value: unknown): string => value === null ? 'NULL' : `'${String(value).replace(/'/g, "''")}'`
    const custom = planOf(await handle.query({
      name: `test_${statement.name}_custom`,
      text: `EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text.replace(/\$(\d)/g, (_, n: string) => `${literal(values[Number(n) - 1])}::text`)}`,
    }, []))
    const generic = await handle.transaction(async (tx) => {
      await tx.query({ name: 'test_generic_plans', text: 'SET LOCAL plan_cache_mode = force_generic_plan' }, [])
      await tx.query({ name: `test_${statement.name}_prepare`, text: `PREPARE test_relink (${values.map(() => 'text').join(', ')}) AS ${statement.text}` }, [])
      const plan = planOf(await tx.query({ name: `test_${statement.name}_generic`, text: `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE test_relink (${values.map(literal).join(', ')})` }, []))
      await tx.query({ name: 'test_relink_deallocate', text: 'DEALLOCATE test_relink' }, [])
      return plan
    })
    return [custom, generic]
  }

  // A relink statement decides which rows to reach only as it runs, so the planner must not pick a plan
  // sized for the whole customer or subscription (a hashed scan of the table, or every transaction of
  // the subscription read and filtered out), whatever the statistics say: the cost of an event would
  // grow with its customer's history again. Only the transactions are counted: the other tables hold a
  // few hundred rows here, which the planner may rightly scan whole.
  it('reads a handful of rows for a new transaction of a customer with a long history, in a custom and a generic plan', async () => {
    const ids = freshIds()
    await harness.send(transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1 }))
    await longHistory(ids)
    await harness.send(transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: HISTORY * DAY }))
    for (const plan of await relinkPlans((tx) => relinkTransactionFact(tx, { transactionId: ids.renewal, customerId: ids.customer, previousSubscriptionId: null }))) {
      expect(rowsScanned(plan, 'transactions')).toBeLessThan(20)
      expect(rowsScanned(plan, 'transactions')).toBeGreaterThan(0)
    }
    expect((await harness.database.handle.db.select().from(transactionsTable).where(eq(transactionsTable.id, ids.renewal)))[0]?.accountId).toBe(ids.account)
  })

  it('reads a handful of rows for a change to a subscription with a long history, in a custom and a generic plan', async () => {
    const ids = freshIds()
    await harness.send(
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 1 }),
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1 }))
    await longHistory(ids)
    await harness.send(subscriptionEvent('subscription.updated', ids, { status: 'active', time: HISTORY * DAY, customData: null }))
    for (const plan of await relinkPlans((tx) => relinkSubscriptionFact(tx, { subscriptionId: ids.subscription, customerId: ids.customer }))) {
      expect(rowsScanned(plan, 'transactions')).toBeLessThan(20)
    }
    // Without custom_data of its own now, the subscription takes its account from its earliest transaction.
    expect((await harness.database.handle.db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, ids.subscription)))[0]?.accountId).toBe(ids.account)
  })
})
