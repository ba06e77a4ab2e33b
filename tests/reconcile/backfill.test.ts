/**
 * The backfill (npm run paddle:backfill, POST /internal/admin/backfill) against the Paddle API
 * stand-in, driven through the official SDK: a few thousand entities over many pages (Paddle's own
 * page sizes: 200 customers or subscriptions, 30 transactions, 50 adjustments), an interruption
 * half-way and the run that resumes it, a run again that changes nothing, a 429 with Retry-After, a
 * dry run that writes nothing, no email events, account links as the original events make them, no
 * card value stored, and the job behind the admin route.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '#src/platform/logger.js'
import type { BackfillPage, BackfillReport } from '#src/reconcile/backfill.js'
import { createReconciler, type Reconciler } from '#src/reconcile/reconciler.js'
import { buildTestApp, LogCapture, TEST_API_TOKEN, testConfig } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { buildPaddleAccount, entityCount, laterChange, type PaddleAccount } from '../helpers/paddle-account.js'
import { startPaddleStandIn, type PaddleStandIn } from '../helpers/paddle-stand-in.js'
import { at, DAY, subscriptionEvent } from '../helpers/scenarios.js'
import { scanAllColumns } from '../helpers/scan.js'
import { plantSentinels, SENTINEL_PATTERN } from '../helpers/sentinels.js'

type Entity = Record<string, any>

const auth = { authorization: `Bearer ${TEST_API_TOKEN}` }
const harness = useHarness({ now: Date.parse(at(80 * DAY)) })
const STATE_TABLES = ['paddle_inbox', 'subscription_items', 'subscriptions', 'customers', 'transactions', 'adjustments', 'email_events', 'job_state', 'backfill_runs']

let standIn: PaddleStandIn
let reconciler: Reconciler
let app: FastifyInstance
const logs = new LogCapture()
/** Delays the Paddle client waited before a retry (it really waits them). */
const retryWaits: number[] = []
const draining: Array<Promise<unknown>> = []

beforeAll(async () => {
  standIn = await startPaddleStandIn()
  const env = standIn.serviceEnv
  const config = testConfig(env)
  const logger = createLogger(config, logs.stream)
  reconciler = createReconciler(config, {
    database: harness.database.handle,
    logger,
    clock: () => harness.now,
    apiOptions: {
      retryBaseMs: 5,
      sleep: async (ms) => {
        retryWaits.push(ms)
        await new Promise((resolve) => setTimeout(resolve, ms))
      },
    },
    backfillStallTimeoutMs: 10_000,
    // As the wake signal does in the service: storing events sets the worker going.
    onStored: () => { draining.push(harness.loops.worker.drain()) },
  }) as Reconciler
  expect(reconciler).not.toBeNull()
  app = (await buildTestApp(harness.database, { env, clock: () => harness.now, dependencies: { logger, reconciler } })).app
})

afterAll(async () => {
  await app?.close()
  await standIn?.close()
})

beforeEach(async () => {
  await Promise.all(draining.splice(0))
  for (const table of STATE_TABLES) await query(`reset_${table}`, `DELETE FROM ${table}`)
  for (const list of [standIn.customers, standIn.subscriptions, standIn.transactions, standIn.adjustments]) list.length = 0
  standIn.requests.length = 0
  retryWaits.length = 0
})

// --- Helpers ----------------------------------------------------------------------------------

const query = async <Row = Entity>(name: string, text: string, values: unknown[] = []): Promise<Row[]> =>
  await harness.database.handle.query<Row>({ name: `backfill_${name}`, text }, values)

const count = async (table: string): Promise<number> =>
  Number((await query<{ count: string }>(`count_${table}`, `SELECT count(*)::text AS count FROM ${table}`))[0]?.count)

function serve (account: PaddleAccount): void {
  standIn.customers.push(...account.customers)
  standIn.subscriptions.push(...account.subscriptions)
  standIn.transactions.push(...account.transactions)
  standIn.adjustments.push(...account.adjustments)
}

async function backfill (options: { dryRun?: boolean, restart?: boolean, stopAfter?: (page: BackfillPage) => boolean } = {}): Promise<BackfillReport> {
  const stopping = new AbortController()
  const report = await reconciler.backfiller.run({
    dryRun: options.dryRun ?? false,
    restart: options.restart ?? false,
    trigger: 'cli',
    stopping: stopping.signal,
    onPage: (page) => { if (options.stopAfter?.(page) === true) stopping.abort() },
  })
  await Promise.all(draining.splice(0))
  return report
}

/** Everything a run could write: state rows with their versions, the inbox, email events, cursors. */
async function everything (): Promise<Entity> {
  return {
    customers: await query('all_customers', 'SELECT id, account_id, version, row_updated_at::text FROM customers ORDER BY id'),
    subscriptions: await query('all_subscriptions', 'SELECT id, status, account_id, version, row_updated_at::text FROM subscriptions ORDER BY id'),
    items: await query('all_items', 'SELECT subscription_id, price_id, quantity FROM subscription_items ORDER BY 1, 2'),
    transactions: await query('all_transactions', 'SELECT id, status, account_id, version, row_updated_at::text FROM transactions ORDER BY id'),
    adjustments: await query('all_adjustments', 'SELECT id, status, version, row_updated_at::text FROM adjustments ORDER BY id'),
    inbox: await query('all_inbox', 'SELECT event_id, status, outcome FROM paddle_inbox ORDER BY event_id'),
    emailEvents: await query('all_email_events', 'SELECT id FROM email_events ORDER BY id'),
    cursors: await query('all_job_state', 'SELECT name, state FROM job_state ORDER BY name'),
  }
}

/** Which account each customer, subscription and transaction resolved to. */
async function accountLinks (): Promise<Entity> {
  return {
    customers: await query('links_customers', 'SELECT id, account_id FROM customers ORDER BY id'),
    subscriptions: await query('links_subscriptions', 'SELECT id, account_id FROM subscriptions ORDER BY id'),
    transactions: await query('links_transactions', 'SELECT id, account_id FROM transactions ORDER BY id'),
  }
}

const listed = (account: PaddleAccount) => ({
  customers: account.customers.length,
  subscriptions: account.subscriptions.length,
  transactions: account.transactions.length,
  adjustments: account.adjustments.length,
})

// --- Tests ------------------------------------------------------------------------------------

describe('a backfill of a few thousand entities', () => {
  it('pages through every list, resumes after an interruption, applies everything once, and a run again changes nothing', async () => {
    const account = buildPaddleAccount(380)
    serve(account)
    const total = entityCount(account)
    expect(total).toBeGreaterThan(2000)
    expect(account.customers.some((customer) => customer.status === 'archived')).toBe(true)

    // Interrupted half-way through the transactions (a shutdown, Ctrl-C): the page in hand finishes.
    const first = await backfill({ stopAfter: (page) => page.entity === 'transaction' && page.page === 20 })
    expect(first.status).toBe('interrupted')
    expect(first.entities.customers).toMatchObject({ listed: account.customers.length, created: account.customers.length, done: true })
    expect(first.entities.subscriptions).toMatchObject({ listed: account.subscriptions.length, created: account.subscriptions.length, done: true })
    expect(first.entities.transactions).toMatchObject({ pages: 20, listed: 600, created: 600, done: false })
    expect(first.entities.adjustments.listed).toBe(0)
    expect(await count('transactions')).toBe(600)
    const customerRequests = standIn.count('customers')

    // Resumed: the customers and subscriptions are done, the transactions go on after the cursor.
    const second = await backfill()
    expect(second).toMatchObject({ status: 'completed', resumed: true })
    expect(standIn.count('customers')).toBe(customerRequests)
    expect(second.entities.customers.listed).toBe(0)
    expect(second.entities.transactions).toMatchObject({ listed: account.transactions.length - 600, created: account.transactions.length - 600, done: true })
    expect(second.entities.adjustments).toMatchObject({ listed: account.adjustments.length, created: account.adjustments.length })
    // Paddle's page sizes: at most 30 transactions and 50 adjustments a page, 200 of the others.
    expect(second.entities.transactions.pages).toBe(Math.ceil((account.transactions.length - 600) / 30))
    expect(second.entities.adjustments.pages).toBe(Math.ceil(account.adjustments.length / 50))
    expect(first.totals.created + second.totals.created).toBe(total)
    expect(first.totals.failed + second.totals.failed).toBe(0)

    // Everything once, everything applied, every status (archived customers included).
    expect({
      customers: await count('customers'),
      subscriptions: await count('subscriptions'),
      transactions: await count('transactions'),
      adjustments: await count('adjustments'),
    }).toEqual(listed(account))
    expect(await count('paddle_inbox')).toBe(total)
    expect(await query('inbox_not_applied', "SELECT event_id FROM paddle_inbox WHERE status <> 'processed' OR outcome <> 'applied' OR origin <> 'backfill'")).toEqual([])
    expect(await query('archived', "SELECT count(*)::int AS count FROM customers WHERE status = 'archived'"))
      .toEqual([{ count: account.customers.filter((customer) => customer.status === 'archived').length }])
    // No customer-facing email event for imported history.
    expect(await count('email_events')).toBe(0)

    // A run again: listed again, nothing stored, nothing written.
    const before = await everything()
    const third = await backfill()
    expect(third).toMatchObject({ status: 'completed', resumed: false })
    expect(third.totals).toEqual({ listed: total, created: 0, updated: 0, unchanged: total, stale: 0, failed: 0 })
    expect(await everything()).toEqual(before)

    // What operators follow: a line per page with its counts, and the runs' records.
    const pageLines = logs.records().filter((line) => line.msg === 'backfill page' && line.run_id === third.runId)
    expect(pageLines.length).toBe(Object.values(third.entities).reduce((sum, entity) => sum + entity.pages, 0))
    expect(pageLines[0]).toMatchObject({ entity: 'customer', page: 1, listed: 200, unchanged: 200, created: 0 })
    const runs = await get('/internal/admin/backfill')
    expect(runs.json().runs.map((run: Entity) => [run.id, run.status])).toEqual([
      [third.runId, 'completed'], [second.runId, 'completed'], [first.runId, 'interrupted'],
    ])
    expect(runs.json().runs[0].totals).toEqual(third.totals)
  }, 240_000)
})

describe('what a backfill stores', () => {
  it('resolves account links exactly as the original events did, and gives access and invoice history', async () => {
    const account = buildPaddleAccount(40)
    // The original events, delivered as webhooks, in order.
    for (const { events } of account.histories) await harness.send(...events)
    const fromEvents = await accountLinks()
    const emailEventsFromEvents = await count('email_events')
    expect(emailEventsFromEvents).toBeGreaterThan(0)
    expect(fromEvents.subscriptions.filter((row: Entity) => row.account_id === null)).toEqual([])

    for (const table of STATE_TABLES) await query(`wipe_${table}`, `DELETE FROM ${table}`)
    serve(account)
    const report = await backfill()
    expect(report.totals.created).toBe(entityCount(account))
    expect(await accountLinks()).toEqual(fromEvents)
    expect(await count('email_events')).toBe(0)

    // The entitlement API answers for paying customers, and their invoices older than 90 days are there.
    const active = account.histories[0]
    expect(active).toBeDefined()
    const entitlement = await get(`/internal/accounts/${active?.ids.account ?? ''}/entitlement`)
    expect(entitlement.json()).toMatchObject({ access: 'granted', reason: 'active' })
    const invoices = await get(`/internal/accounts/${active?.ids.account ?? ''}/transactions`)
    expect(invoices.json().transactions.map((transaction: Entity) => transaction.id).sort())
      .toEqual([active?.ids.checkout, ...account.transactions.filter((transaction) => transaction.customer_id === active?.ids.customer && transaction.id !== active?.ids.checkout).map((transaction) => transaction.id)].sort())

    // Real changes after the backfill are told as usual.
    const history = account.histories[0]
    const latest = [...history?.events ?? []].reverse().find((event) => event.event_type.startsWith('subscription.'))
    if (history === undefined || latest === undefined) throw new Error('no subscription in the history')
    await harness.send(laterChange(subscriptionEvent('subscription.updated', history.ids, {
      status: 'active', time: 100 * DAY, scheduledChange: { action: 'cancel', effectiveAt: 130 * DAY }, customData: latest.data.custom_data,
    }), at(100 * DAY)))
    expect(await query('told', 'SELECT type FROM email_events')).toEqual([{ type: 'subscription.cancellation_scheduled' }])
  }, 120_000)

  it('keeps no card, address or other value outside the allow-list', async () => {
    serve(buildPaddleAccount(30, plantSentinels))
    const report = await backfill()
    expect(report.totals.failed).toBe(0)
    const scan = await scanAllColumns(harness.database.handle.db, SENTINEL_PATTERN)
    expect(scan.columnsScanned).toBeGreaterThan(50)
    expect(scan.hits).toEqual([])
    // The payment method's type is kept, nothing else of it.
    expect(await query('method_types', "SELECT DISTINCT p->>'methodType' AS type FROM transactions, jsonb_array_elements(payments) p")).toEqual([{ type: 'card' }])
  })

  it('leaves alone what a webhook made newer, and updates what Paddle changed since', async () => {
    const account = buildPaddleAccount(10)
    serve(account)
    await backfill()
    const [newerHere, changedAtPaddle] = account.histories
    if (newerHere === undefined || changedAtPaddle === undefined) throw new Error('too few histories')
    // A webhook newer than what Paddle lists (it came after Paddle was listed).
    await harness.send(laterChange(subscriptionEvent('subscription.updated', newerHere.ids, { status: 'past_due', time: 110 * DAY }), at(110 * DAY)))
    // Paddle changed a subscription since the last backfill, and the webhook never came.
    const listedSubscription = standIn.subscriptions.find((subscription) => subscription.id === changedAtPaddle.ids.subscription)
    if (listedSubscription === undefined) throw new Error('not listed')
    Object.assign(listedSubscription, { status: 'canceled', updated_at: at(105 * DAY), canceled_at: at(105 * DAY), next_billed_at: null, current_billing_period: null })

    const dry = await backfill({ dryRun: true })
    expect(dry.entities.subscriptions).toMatchObject({ listed: 10, updated: 1, stale: 1, unchanged: 8 })
    const report = await backfill()
    expect(report.entities.subscriptions).toMatchObject({ listed: 10, updated: 1, stale: 1, unchanged: 8, created: 0 })
    expect(await query('two_states', 'SELECT id, status FROM subscriptions WHERE id = ANY($1) ORDER BY id', [[newerHere.ids.subscription, changedAtPaddle.ids.subscription]]))
      .toEqual([{ id: newerHere.ids.subscription, status: 'past_due' }, { id: changedAtPaddle.ids.subscription, status: 'canceled' }]
        .sort((a, b) => (a.id < b.id ? -1 : 1)))
    // The cancellation is history Paddle already told the customer about: no email event from the backfill.
    expect(await query('canceled_told', 'SELECT type FROM email_events WHERE subscription_id = $1', [changedAtPaddle.ids.subscription])).toEqual([])
  }, 60_000)
})

describe('dry run', () => {
  it('reports what a real run would change and writes nothing', async () => {
    const account = buildPaddleAccount(40)
    serve(account)
    const before = await everything()
    const dry = await backfill({ dryRun: true })
    expect(dry).toMatchObject({ dryRun: true, status: 'completed' })
    expect(dry.totals).toEqual({ listed: entityCount(account), created: entityCount(account), updated: 0, unchanged: 0, stale: 0, failed: 0 })
    // Only its own record (counts, no entity data): no state, inbox rows, email events or cursors.
    expect(await everything()).toEqual(before)
    expect(await count('backfill_runs')).toBe(1)
    const real = await backfill()
    expect(real.totals).toEqual(dry.totals)
  }, 60_000)
})

describe('Paddle\'s failures', () => {
  it('waits out a 429 for its Retry-After and carries on', async () => {
    serve(buildPaddleAccount(20))
    standIn.failNext('transactions', { status: 429, retryAfterSeconds: 1 }, 1, { afterServed: 2 })
    const started = Date.now()
    const report = await backfill()
    expect(report.status).toBe('completed')
    expect(report.totals.failed).toBe(0)
    expect(retryWaits).toEqual([1000])
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    // The refused page was asked for again, with the same cursor.
    const transactionRequests = standIn.requests.filter((request) => request.path === '/transactions')
    expect(transactionRequests[3]?.query.get('after')).toBe(transactionRequests[2]?.query.get('after'))
    expect(await count('transactions')).toBe(standIn.transactions.length)
  })

  it('fails on an error it cannot wait out, and the next run resumes after the last page done', async () => {
    const account = buildPaddleAccount(30)
    serve(account)
    standIn.failNext('transactions', { status: 403 }, 1, { afterServed: 3 })
    await expect(backfill()).rejects.toThrow(/forbidden/)
    const [failed] = (await get('/internal/admin/backfill')).json().runs
    expect(failed).toMatchObject({ status: 'failed', entities: { transactions: { pages: 3, listed: 90, done: false } } })
    expect(failed.error).toContain('unauthorized')
    const resumed = await backfill()
    expect(resumed).toMatchObject({ status: 'completed', resumed: true })
    expect(resumed.entities.transactions.listed).toBe(account.transactions.length - 90)
    expect(await count('transactions')).toBe(account.transactions.length)
  })
})

describe('POST /internal/admin/backfill', () => {
  it('starts a job, answers 202 with its run, refuses a second one with 409, and GET follows it to the end', async () => {
    const account = buildPaddleAccount(30)
    serve(account)
    standIn.responseDelayMs = 30
    try {
      const started = await app.inject({ method: 'POST', url: '/internal/admin/backfill?dryRun=false', headers: auth })
      expect(started.statusCode, started.body).toBe(202)
      const run = started.json()
      expect(run).toMatchObject({ dryRun: false, trigger: 'api', status: 'running' })
      expect(started.headers.location).toBe(`/internal/admin/backfill/${String(run.id)}`)

      const second = await app.inject({ method: 'POST', url: '/internal/admin/backfill?dryRun=true', headers: auth })
      expect(second.statusCode, second.body).toBe(409)

      const state = await finished(run.id)
      expect(state).toMatchObject({ status: 'completed', error: null, totals: { listed: entityCount(account), created: entityCount(account), failed: 0 } })
      expect(state.entities.transactions).toMatchObject({ done: true, listed: account.transactions.length, cursor: expect.any(String) })
    } finally {
      standIn.responseDelayMs = 0
    }
    await Promise.all(draining.splice(0))
  })

  it('defaults to a dry run; 404 for an unknown run, 401 without a token, 501 without PADDLE_API_KEY', async () => {
    serve(buildPaddleAccount(5))
    const started = await app.inject({ method: 'POST', url: '/internal/admin/backfill', headers: auth })
    expect(started.statusCode).toBe(202)
    expect(started.json().dryRun).toBe(true)
    expect(await finished(started.json().id)).toMatchObject({ status: 'completed', dryRun: true })
    expect(await count('subscriptions')).toBe(0)
    expect((await get('/internal/admin/backfill/bfr_unknown')).statusCode).toBe(404)
    expect((await app.inject({ method: 'POST', url: '/internal/admin/backfill' })).statusCode).toBe(401)
    const offline = await buildTestApp(harness.database)
    try {
      const answer = await offline.app.inject({ method: 'POST', url: '/internal/admin/backfill?dryRun=false', headers: auth })
      expect(answer.statusCode).toBe(501)
    } finally {
      await offline.app.close()
    }
  })
})

/** The run's record once it is no longer running. */
async function finished (runId: string): Promise<Entity> {
  for (let waited = 0; waited < 60_000; waited += 50) {
    const state = (await get(`/internal/admin/backfill/${runId}`)).json()
    if (state.status !== 'running') return state
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`backfill run ${runId} still running after a minute`)
}

async function get (url: string) {
  return await app.inject({ url, headers: auth })
}
