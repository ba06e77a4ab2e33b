/**
 * Two service instances and a separate worker, each with its own connection pool, on one database:
 * a burst of webhooks with duplicates spread over both instances is applied exactly once, without
 * deadlocks, and ends in the expected state.
 */
import { inArray, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { selectRows } from '#src/db/client.js'
import { paddleInboxTable, subscriptionsTable } from '#src/db/schema.js'
import { createWakeSignal, type WakeSignal } from '#src/db/wake-signal.js'
import type { BackgroundLoops } from '#src/app/background.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../helpers/database.js'
import { deliver, paddleId, type PaddleEvent } from '../helpers/paddle.js'
import { customerEvent, DAY, freshIds, subscriptionEvent, transactionEvent, type ScenarioIds } from '../helpers/scenarios.js'
import { createTestLoops } from '../helpers/worker.js'

const SUBSCRIPTIONS = 250

function lifecycle (ids: ScenarioIds): PaddleEvent[] {
  return [
    customerEvent('customer.created', ids, { time: 0 }),
    subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY }),
    subscriptionEvent('subscription.updated', ids, { status: 'active', time: 2 * DAY, scheduledChange: { action: 'cancel', effectiveAt: 30 * DAY } }),
    subscriptionEvent('subscription.updated', ids, { status: 'active', time: 3 * DAY, scheduledChange: null }),
    subscriptionEvent('subscription.updated', ids, { status: 'past_due', time: 30 * DAY, period: [30 * DAY, 60 * DAY] }),
    subscriptionEvent('subscription.past_due', ids, { status: 'past_due', time: 30 * DAY, occurredDelay: 0.01, period: [30 * DAY, 60 * DAY] }),
    transactionEvent('transaction.completed', ids, { id: ids.renewal, status: 'completed', time: 31 * DAY, origin: 'subscription_recurring', billingPeriod: [30 * DAY, 60 * DAY], payments: [{ status: 'captured' }] }),
    subscriptionEvent('subscription.updated', ids, { status: 'active', time: 31 * DAY + 1, period: [30 * DAY, 60 * DAY] }),
  ]
}

describe.skipIf(skipWithoutPostgres('multi-instance'))('several processes on one database', () => {
  let database: TestDatabase
  const instances: Array<{ app: TestApp, wake: WakeSignal, loops: BackgroundLoops }> = []
  let separateWorker: BackgroundLoops

  beforeAll(async () => {
    database = await createTestDatabase()
    for (let index = 0; index < 2; index += 1) {
      const handle = await database.connect({ poolMax: 8 })
      const wake = createWakeSignal(handle)
      const app = await buildTestApp({ ...database, handle }, { env: { LOG_LEVEL: 'warn' }, dependencies: { onEventStored: () => wake.notify() } })
      const loops = createTestLoops(app.config, handle, app.app.log as never)
      await loops.start()
      instances.push({ app, wake, loops })
    }
    const [first] = instances
    if (first === undefined) throw new Error('no service instance')
    separateWorker = createTestLoops(first.app.config, await database.connect({ poolMax: 6 }), first.app.app.log as never)
    await separateWorker.start()
  })
  afterAll(async () => {
    await separateWorker.stop()
    for (const instance of instances) {
      await instance.loops.stop()
      instance.wake.close()
      await instance.app.app.close()
    }
    await database.drop()
  })

  it('applies a burst of 2,000 events with duplicates once each, without deadlocks, to the expected state', async () => {
    const subjects = Array.from({ length: SUBSCRIPTIONS }, () => freshIds())
    const events = subjects.flatMap(lifecycle)
    expect(events).toHaveLength(2_000)
    // Every event once in a random order, and a fifth of them again (as Paddle replays, to the other instance).
    const deliveries = [...events.map((event) => ({ event, replay: false })), ...events.filter(() => Math.random() < 0.2).map((event) => ({ event, replay: true }))]
      .sort(() => Math.random() - 0.5)
    let next = 0
    const statuses: number[] = []
    await Promise.all(Array.from({ length: 32 }, async (_, lane) => {
      for (;;) {
        const delivery = deliveries[next++]
        if (delivery === undefined) return
        const instance = instances[(lane + (delivery.replay ? 1 : 0)) % 2]
        if (instance === undefined) throw new Error('no service instance')
        const body = delivery.replay ? { ...delivery.event, notification_id: paddleId('ntf') } : delivery.event
        statuses.push((await deliver(instance.app.app, body)).statusCode)
      }
    }))
    expect(statuses.every((status) => status === 200)).toBe(true)

    const deadline = Date.now() + 60_000
    for (;;) {
      const [{ remaining } = { remaining: -1 }] = await selectRows<{ remaining: number }>(database.handle.db, sql`
        SELECT count(*)::int AS remaining FROM paddle_inbox WHERE status IN ('pending', 'failed')`)
      if (remaining === 0) break
      if (Date.now() > deadline) throw new Error(`${remaining} events still unprocessed`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    const inbox = await database.handle.db.select().from(paddleInboxTable)
      .where(inArray(paddleInboxTable.eventId, events.map((event) => event.event_id)))
    expect(inbox).toHaveLength(2_000)
    // Processed, by exactly one attempt: nobody applied an event twice, no deadlock made one retry.
    expect(inbox.filter((row) => row.status !== 'processed' || row.attempts !== 1).map((row) => [row.eventType, row.status, row.attempts, row.lastError])).toEqual([])

    // No batch rolled back either (a deadlock would have, without counting an attempt), and nothing else went wrong.
    expect(instances.flatMap((instance) => instance.app.logs.records()).map((record) => record.msg)).toEqual([])

    const stored = await database.handle.db.select().from(subscriptionsTable)
      .where(inArray(subscriptionsTable.id, subjects.map((ids) => ids.subscription)))
    expect(stored).toHaveLength(SUBSCRIPTIONS)
    for (const subscription of stored) {
      expect(subscription).toMatchObject({ status: 'active', scheduledChangeAction: null, currentPeriodStartsAt: expect.stringMatching(/^2026-03-31/) })
    }
  }, 120_000)
})
