/**
 * Paddle delivers at least once, in no particular order, and fans one change out into several
 * events. Whatever the order and however many duplicates, the final state, the entitlement and the
 * set of processed events must equal those of in-order delivery.
 */
import { eq, inArray } from 'drizzle-orm'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adjustmentsTable, customersTable, paddleInboxTable, subscriptionItemsTable, subscriptionsTable, transactionsTable } from '#src/db/schema.js'
import { buildTestApp, TEST_API_TOKEN, type TestApp } from '../helpers/app.js'
import { createTestDatabase, usesPostgres, type TestDatabase } from '../helpers/database.js'
import { deliver, paddleId, type PaddleEvent } from '../helpers/paddle.js'
import { at, checkoutStream, freshIds, SCENARIOS, type Scenario, type ScenarioIds } from '../helpers/scenarios.js'
import { createTestLoops } from '../helpers/worker.js'
import type { BackgroundLoops } from '#src/app/background.js'

let database: TestDatabase
let testApp: TestApp
let loops: BackgroundLoops
let now = Date.parse(at(0))

beforeAll(async () => {
  database = await createTestDatabase()
  testApp = await buildTestApp(database, { clock: () => now, env: { LOG_LEVEL: 'silent' } })
  loops = createTestLoops(testApp.config, database.handle)
})
afterAll(async () => {
  await testApp.app.close()
  await database.drop()
})

interface Delivery { index: number, replay: boolean, drainAfter: boolean }

/** Delivers in the given order (draining the worker where asked) and returns a normalised picture of the outcome. */
async function run (scenario: Scenario, deliveries: Delivery[]): Promise<unknown> {
  const ids = freshIds()
  // Fresh event ids, in the same order from run to run: where two events tie on both timestamps,
  // Paddle's event id decides, and it must decide the same way in every run.
  const runTag = paddleId('x').slice(2, 18)
  const events = scenario.events(ids).map((event, index) => ({ ...event, event_id: `evt_${runTag}${String(index).padStart(4, '0')}` }))
  for (const delivery of deliveries) {
    const event = events[delivery.index] as PaddleEvent
    const body = delivery.replay ? { ...event, notification_id: paddleId('ntf') } : event
    const response = await deliver(testApp.app, body, { timestamp: Math.floor(now / 1000) })
    expect(response.statusCode).toBe(200)
    if (delivery.drainAfter) await loops.worker.drain()
  }
  await loops.worker.drain()
  return await snapshot(scenario, ids, events)
}

async function snapshot (scenario: Scenario, ids: ScenarioIds, events: PaddleEvent[]): Promise<unknown> {
  const { db } = database.handle
  const withoutRowTime = <T extends { rowUpdatedAt: string }>(rows: T[]) => rows.map(({ rowUpdatedAt: _ignored, ...row }) => row)
  const state = {
    subscriptions: withoutRowTime(await db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, ids.subscription))),
    items: await db.select().from(subscriptionItemsTable).where(eq(subscriptionItemsTable.subscriptionId, ids.subscription)).orderBy(subscriptionItemsTable.priceId),
    customers: withoutRowTime(await db.select().from(customersTable).where(eq(customersTable.id, ids.customer))),
    checkout: withoutRowTime(await db.select().from(transactionsTable).where(eq(transactionsTable.id, ids.checkout))),
    renewal: withoutRowTime(await db.select().from(transactionsTable).where(eq(transactionsTable.id, ids.renewal))),
    otherTransactions: (await db.select({ id: transactionsTable.id }).from(transactionsTable)
      .where(eq(transactionsTable.customerId, ids.customer))).filter((row) => row.id !== ids.checkout && row.id !== ids.renewal),
    adjustments: withoutRowTime(await db.select().from(adjustmentsTable).where(eq(adjustmentsTable.id, ids.adjustment))),
  }
  const inbox = await db.select({ eventId: paddleInboxTable.eventId, status: paddleInboxTable.status })
    .from(paddleInboxTable).where(inArray(paddleInboxTable.eventId, events.map((event) => event.event_id)))
  const processed = inbox.filter((row) => row.status === 'processed' || row.status === 'ignored')
    .map((row) => events.findIndex((event) => event.event_id === row.eventId)).sort((a, b) => a - b)
  expect(inbox.every((row) => row.status === 'processed' || row.status === 'ignored'), JSON.stringify(inbox)).toBe(true)

  now = Date.parse(at(scenario.entitlementAt))
  const entitlement = await testApp.app.inject({
    url: `/internal/accounts/${ids.account}/entitlement`,
    headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
  })
  const { asOf: _asOf, ...decision } = entitlement.json<Record<string, unknown>>()

  // Ids differ from run to run: name them by role (and events by their place in the scenario).
  let text = JSON.stringify({ state, processed, decision })
  for (const [role, id] of Object.entries(ids)) text = text.replaceAll(id, `<${role}>`)
  events.forEach((event, index) => { text = text.replaceAll(event.event_id, `<event ${index}>`) })
  return JSON.parse(text)
}

const inOrder = (count: number): Delivery[] => Array.from({ length: count }, (_, index) => ({ index, replay: false, drainAfter: true }))

/** Any order of every event, plus random duplicates (some as replays), draining at random points. */
const deliveriesArbitrary = (count: number): fc.Arbitrary<Delivery[]> =>
  fc.array(fc.nat(count - 1), { maxLength: count }).chain((duplicates) => {
    const all = [...Array.from({ length: count }, (_, index) => index), ...duplicates]
    return fc.tuple(
      fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }),
      fc.array(fc.boolean(), { minLength: all.length, maxLength: all.length }),
      fc.array(fc.boolean(), { minLength: all.length, maxLength: all.length })
    ).map(([order, drains, replays]) => order.map((index, position) => ({
      index,
      replay: replays[position] ?? false,
      drainAfter: drains[position] ?? true,
    })))
  })

const RUNS = usesPostgres() ? 25 : 8
const allScenarios: Scenario[] = [{ name: 'the genuine checkout stream', events: checkoutStream, entitlementAt: 0 }, ...SCENARIOS]

describe('state convergence', () => {
  describe.each(allScenarios)('$name', (scenario) => {
    it('ends in the in-order state, entitlement and processed set under any order and duplicates', async () => {
      const count = scenario.events(freshIds()).length
      if (scenario.name === 'the genuine checkout stream') {
        const occurredAt = Date.parse(checkoutStream(freshIds()).at(-1)?.occurred_at ?? '')
        scenario = { ...scenario, entitlementAt: (occurredAt - Date.parse(at(0))) / 1000 + 86_400 }
      }
      const expected = await run(scenario, inOrder(count))
      expect(expected).toMatchObject({ processed: Array.from({ length: count }, (_, index) => index) })
      await fc.assert(fc.asyncProperty(deliveriesArbitrary(count), async (deliveries) => {
        expect(await run(scenario, deliveries)).toEqual(expected)
      }), { numRuns: RUNS, seed: 20261128, endOnFailure: true })
    }, 120_000)
  })
})
