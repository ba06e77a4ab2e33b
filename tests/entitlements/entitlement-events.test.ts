/**
 * entitlement.changed: every change of an account's answer, as the read API shows it, told once and
 * in order, whatever order and duplicates Paddle delivers in; the changes time alone makes, told
 * once by whichever process finds them; delivered by the shared dispatcher (signed) and the feed.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { asc, eq, sql } from 'drizzle-orm'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { entitlementEventsTable, entitlementStatesTable } from '#src/db/schema.js'
import { createDispatcher } from '#src/email-events/dispatcher.js'
import { verifyStandardWebhook } from '#src/email-events/signing.js'
import { ENTITLEMENT_STREAM, recordDueChanges } from '#src/entitlements/entitlement-events.js'
import { createEntitlementTimer } from '#src/entitlements/entitlement-timer.js'
import { silentLogger, TEST_API_TOKEN } from '../helpers/app.js'
import { usesPostgres } from '../helpers/database.js'
import { useHarness, type Harness } from '../helpers/harness.js'
import { deliver, paddleId, type PaddleEvent } from '../helpers/paddle.js'
import { at, checkoutStream, DAY, freshIds, SCENARIOS, subscriptionEvent, transactionEvent, type Scenario, type ScenarioIds } from '../helpers/scenarios.js'

const SECRET = 'whsec_' + Buffer.alloc(32, 9).toString('base64')
const POLICY = { pastDueGraceDays: 14, pausedAccess: false, trialAccess: true }
const harness = useHarness({ now: Date.parse(at(0)) })

type Answer = Record<string, unknown>

async function answer (h: Harness, accountId: string): Promise<Answer> {
  const response = await h.testApp.app.inject({ url: `/internal/accounts/${accountId}/entitlement`, headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })
  expect(response.statusCode, response.body).toBe(200)
  const { asOf: _asOf, ...rest } = response.json<Answer>()
  return rest
}

interface EventData { sequence: number, entitlement: Answer, previous: { access: string, reason: string } }

async function eventsOf (accountId: string) {
  return await harness.database.handle.db.select().from(entitlementEventsTable)
    .where(eq(entitlementEventsTable.accountId, accountId)).orderBy(asc(entitlementEventsTable.seq))
}

/** The events told for the account are exactly the answers' changes, chained and numbered. */
async function expectEventsMatch (accountId: string, answers: Answer[]): Promise<void> {
  const events = await eventsOf(accountId)
  const told = events.map((event) => {
    const { asOf, ...entitlement } = (event.data as unknown as EventData).entitlement
    expect(asOf).toBe(event.occurredAt)
    return entitlement
  })
  expect(told).toEqual(answers)
  events.forEach((event, index) => {
    const data = event.data as unknown as EventData
    expect(data.sequence).toBe(index + 1)
    expect(event.idempotencyKey).toBe(`entitlement.changed:${accountId}:${index + 1}`)
    expect(event.orderingKey).toBe(accountId)
    expect(event.type).toBe('entitlement.changed')
    const before = index === 0 ? { access: 'denied', reason: 'no_subscription' } : { access: answers[index - 1]?.access, reason: answers[index - 1]?.reason }
    expect(data.previous).toEqual(before)
  })
}

const allScenarios: Scenario[] = [{ name: 'the genuine checkout stream', events: checkoutStream, entitlementAt: 20 * DAY }, ...SCENARIOS]

/** Delivers in the given order, draining after each, and records every answer the read API shows. */
async function run (scenario: Scenario, order: Array<{ index: number, replay: boolean }>): Promise<{ ids: ScenarioIds, answers: Answer[] }> {
  harness.now = Date.parse(at(0))
  const ids = freshIds()
  const runTag = paddleId('x').slice(2, 18)
  const events = scenario.events(ids).map((event, index) => ({ ...event, event_id: `evt_${runTag}${String(index).padStart(4, '0')}` }))
  const answers: Answer[] = []
  let last = JSON.stringify({ accountId: ids.account, access: 'denied', reason: 'no_subscription', until: null, subscription: null })
  const observe = async (): Promise<void> => {
    const current = await answer(harness, ids.account)
    if (JSON.stringify(current) !== last) answers.push(current)
    last = JSON.stringify(current)
  }
  for (const { index, replay } of order) {
    const event = events[index] as PaddleEvent
    const response = await deliver(harness.testApp.app, replay ? { ...event, notification_id: paddleId('ntf') } : event, { timestamp: Math.floor(harness.now / 1000) })
    expect(response.statusCode).toBe(200)
    await harness.loops.worker.drain()
    await observe()
  }
  // Time alone: the clock moves on; the timer's check tells what changed meanwhile.
  harness.now = Date.parse(at(scenario.entitlementAt))
  await harness.loops.entitlementTimer.runOnce()
  await observe()
  return { ids, answers }
}

const orderArbitrary = (count: number): fc.Arbitrary<Array<{ index: number, replay: boolean }>> =>
  fc.array(fc.nat(count - 1), { maxLength: count }).chain((duplicates) => {
    const all = [...Array.from({ length: count }, (_, index) => index), ...duplicates]
    return fc.tuple(fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }), fc.array(fc.boolean(), { minLength: all.length, maxLength: all.length }))
      .map(([order, replays]) => order.map((index, position) => ({ index, replay: replays[position] ?? false })))
  })

describe('entitlement.changed from Paddle events', () => {
  describe.each(allScenarios)('$name', (scenario) => {
    it('tells exactly the changes the read API shows, in any order and with duplicates; the last event is the final answer', async () => {
      const count = scenario.events(freshIds()).length
      const inOrder = await run(scenario, Array.from({ length: count }, (_, index) => ({ index, replay: false })))
      expect(inOrder.answers.length).toBeGreaterThan(0)
      await expectEventsMatch(inOrder.ids.account, inOrder.answers)
      await fc.assert(fc.asyncProperty(orderArbitrary(count), async (order) => {
        const { ids, answers } = await run(scenario, order)
        await expectEventsMatch(ids.account, answers)
        // Whatever the order, the last event told is the final answer, the same as in order.
        expect(answers.at(-1)).toEqual({ ...inOrder.answers.at(-1), accountId: ids.account, ...subscriptionIdsOf(inOrder, ids) })
      }), { numRuns: usesPostgres() ? 6 : 3, seed: 20261215, endOnFailure: true })
    }, 180_000)
  })
})

/** The in-order run's final answer names its own ids; name this run's instead. */
function subscriptionIdsOf (inOrder: { ids: ScenarioIds, answers: Answer[] }, ids: ScenarioIds): Answer {
  const final = inOrder.answers.at(-1)
  if (final?.subscription == null) return {}
  let text = JSON.stringify(final.subscription)
  for (const [role, id] of Object.entries(inOrder.ids)) text = text.replaceAll(id, ids[role as keyof ScenarioIds])
  return { subscription: JSON.parse(text) as unknown }
}

describe('entitlement.changed whatever a batch holds', () => {
  /** The changes told for a fresh account when the events arrive one at a time, or all in one batch. */
  async function told (events: (ids: ScenarioIds) => PaddleEvent[], oneBatch: boolean) {
    harness.now = Date.parse(at(1))
    const ids = freshIds()
    const delivered = events(ids)
    // Asked before: the read API's cache holds the account's first answer until a change drops it.
    expect(await answer(harness, ids.account)).toMatchObject({ access: 'denied', reason: 'no_subscription' })
    for (const event of delivered) {
      expect((await deliver(harness.testApp.app, event, { timestamp: Math.floor(harness.now / 1000) })).statusCode).toBe(200)
      if (!oneBatch) await harness.loops.worker.drain()
    }
    if (oneBatch) expect(await harness.loops.worker.drain()).toBe(delivered.length)
    expect(await answer(harness, ids.account)).toMatchObject({ access: 'granted', reason: 'active' })
    return (await eventsOf(ids.account)).map((event) => {
      const data = event.data as unknown as EventData
      const subscription = data.entitlement.subscription as { status: string } | null
      return { sequence: data.sequence, access: data.entitlement.access, reason: data.entitlement.reason, status: subscription?.status ?? null, previous: data.previous }
    })
  }

  it('tells the change account resolution makes: a subscription that takes its account from its checkout transaction, later in the batch', async () => {
    // The subscription carries no account id; the checkout transaction that follows it does.
    const events = (ids: ScenarioIds): PaddleEvent[] => [
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 0, period: [0, 30 * DAY], transactionId: ids.checkout, customData: null }),
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 0.5, payments: [{ status: 'captured' }] }),
    ]
    const alone = await told(events, false)
    expect(alone).toEqual([{ sequence: 1, access: 'granted', reason: 'active', status: 'active', previous: { access: 'denied', reason: 'no_subscription' } }])
    expect(await told(events, true)).toEqual(alone)
  })
})

describe('entitlement.changed from time alone', () => {
  const activeUntil = async (periodEnd: number): Promise<ScenarioIds> => {
    const ids = freshIds()
    harness.now = Date.parse(at(1))
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 0, period: [0, periodEnd], customData: { account_id: ids.account } }))
    return ids
  }

  it('records when the answer falls due, and tells the change once, whichever of two processes looks', async () => {
    const ids = await activeUntil(10 * DAY)
    const [state] = await harness.database.handle.db.select().from(entitlementStatesTable).where(eq(entitlementStatesTable.accountId, ids.account))
    expect(state).toMatchObject({ access: 'granted', reason: 'active', until: at(10 * DAY), dueAt: at(10 * DAY), sequence: 1 })

    // Before its moment nothing is due.
    expect(await recordDueChanges(harness.database.handle, { policy: POLICY, now: at(10 * DAY - 1) })).toMatchObject({ changed: 0 })
    const other = await harness.database.connect()
    const now = at(10 * DAY + 30)
    const results = await Promise.all([
      recordDueChanges(harness.database.handle, { policy: POLICY, now }),
      recordDueChanges(other, { policy: POLICY, now }),
      recordDueChanges(harness.database.handle, { policy: POLICY, now }),
    ])
    expect(results.reduce((sum, result) => sum + result.changed, 0)).toBe(1)
    expect(await recordDueChanges(other, { policy: POLICY, now: at(10 * DAY + 60) })).toMatchObject({ changed: 0 })
    const events = await eventsOf(ids.account)
    expect(events.map((event) => (event.data as unknown as EventData).entitlement.reason)).toEqual(['active', 'past_due_grace'])
    expect((events[1]?.data as unknown as EventData).previous).toEqual({ access: 'granted', reason: 'active' })

    // The grace's end is the next due moment, told once too.
    const [graceState] = await harness.database.handle.db.select().from(entitlementStatesTable).where(eq(entitlementStatesTable.accountId, ids.account))
    expect(graceState?.dueAt).toBe(at(24 * DAY))
    await recordDueChanges(harness.database.handle, { policy: POLICY, now: at(25 * DAY) })
    await recordDueChanges(other, { policy: POLICY, now: at(25 * DAY) })
    expect((await eventsOf(ids.account)).map((event) => (event.data as unknown as EventData).entitlement.reason)).toEqual(['active', 'past_due_grace', 'past_due'])
    const [done] = await harness.database.handle.db.select().from(entitlementStatesTable).where(eq(entitlementStatesTable.accountId, ids.account))
    expect(done?.dueAt).toBeNull()
  })

  it('wakes for the earliest due moment rather than polling, and is brought forward by a NOTIFY', async () => {
    // A real clock here: the timer sleeps in real time.
    const start = Date.now()
    harness.now = start
    const base = Date.parse(at(0))
    const seconds = (ms: number): number => (ms - base) / 1000
    const timer = createEntitlementTimer({ database: harness.database.handle, logger: silentLogger, policy: POLICY, clock: () => Date.now(), maxSleepMs: 60_000 })
    // Everything stored before is long due: the first run settles it.
    await timer.runOnce()
    await timer.start()
    try {
      const ids = freshIds()
      await harness.send(subscriptionEvent('subscription.created', ids, {
        status: 'active', time: seconds(start) - 60, period: [seconds(start) - 60, seconds(start) + 1.5], customData: { account_id: ids.account },
      }))
      // The worker's NOTIFY brought the timer forward to the period's end.
      await expect.poll(() => timer.armedFor(), { timeout: 2_000 }).toBeLessThanOrEqual(start + 1_600)
      await expect.poll(async () => (await eventsOf(ids.account)).length, { timeout: 5_000, interval: 100 }).toBe(2)
      expect((await eventsOf(ids.account)).map((event) => (event.data as unknown as EventData).entitlement.reason)).toEqual(['active', 'past_due_grace'])
    } finally {
      await timer.stop()
    }
  })
})

describe('delivery', () => {
  let server: Server | undefined
  afterAll(async () => { await new Promise<void>((resolve) => { if (server === undefined) resolve(); else server.close(() => resolve()) }) })

  it('pushes entitlement events signed with their own secret, in order per account, and serves them in the pull feed', async () => {
    harness.now = Date.parse(at(0))
    const ids = freshIds()
    await harness.send(
      subscriptionEvent('subscription.created', ids, { status: 'trialing', time: 0, period: [0, 14 * DAY], customData: { account_id: ids.account } }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 10, period: [10, 10 + 30 * DAY], customData: { account_id: ids.account } })
    )
    const received: Array<{ body: string, verified: boolean, id: string | undefined }> = []
    server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        const header = (name: string): string | undefined => request.headers[name] as string | undefined
        const signed = { id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature') }
        received.push({ body, id: signed.id, verified: verifyStandardWebhook(SECRET, signed, body, Math.floor(Date.now() / 1000)) })
        response.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const dispatcher = createDispatcher({
      stream: ENTITLEMENT_STREAM,
      database: harness.database.handle,
      logger: silentLogger,
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/entitlements`,
      signingSecret: SECRET,
      maxAttempts: 3,
      timeoutMs: 2_000,
      concurrency: 4,
      pollIntervalMs: 60_000,
    })
    for (let round = 0; round < 20; round += 1) if (await dispatcher.dispatchOnce() === 0) break
    const mine = received.filter((record) => JSON.parse(record.body).accountId === ids.account)
    expect(mine.map((record) => record.verified)).toEqual([true, true])
    const bodies = mine.map((record) => JSON.parse(record.body) as { id: string, type: string, data: EventData })
    expect(bodies.map((body) => [body.type, body.data.sequence, body.data.entitlement.reason])).toEqual([
      ['entitlement.changed', 1, 'trialing'], ['entitlement.changed', 2, 'active'],
    ])
    expect(mine.map((record) => record.id)).toEqual(bodies.map((body) => body.id))
    const rows = await eventsOf(ids.account)
    expect(rows.map((row) => row.status)).toEqual(['delivered', 'delivered'])

    // The pull feed, page by page.
    const pages: Array<{ id: string, accountId: string }> = []
    let cursor: string | undefined
    for (let page = 0; page < 100; page += 1) {
      const response = await harness.testApp.app.inject({
        url: `/internal/entitlement-events?limit=2${cursor === undefined ? '' : `&after=${cursor}`}`,
        headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
      })
      expect(response.statusCode, response.body).toBe(200)
      const feed = response.json<{ events: Array<{ id: string, accountId: string }>, nextCursor: string }>()
      pages.push(...feed.events)
      if (feed.events.length === 0) break
      cursor = feed.nextCursor
    }
    expect(pages.filter((event) => event.accountId === ids.account).map((event) => event.id)).toEqual(rows.map((row) => row.id))
    const all = await harness.database.handle.db.select({ count: sql<number>`count(*)::int` }).from(entitlementEventsTable)
    expect(pages).toHaveLength(all[0]?.count ?? -1)
    const unauthorized = await harness.testApp.app.inject({ url: '/internal/entitlement-events' })
    expect(unauthorized.statusCode).toBe(401)
  })
})
