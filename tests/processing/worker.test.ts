import { eq, inArray, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { paddleInboxTable, subscriptionsTable } from '#src/db/schema.js'
import { createWakeSignal } from '#src/db/wake-signal.js'
import { createInboxWorker, defaultRetryDelaySeconds, type InboxWorker, type InboxWorkerOptions } from '#src/processing/worker.js'
import type { BackgroundLoops } from '#src/app/background.js'
import { buildTestApp, silentLogger, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver, readFixture, withFreshEventIds, type PaddleEvent } from '../helpers/paddle.js'
import { DAY, freshIds, subscriptionEvent } from '../helpers/scenarios.js'
import { createTestLoops } from '../helpers/worker.js'

describe('retry delays', () => {
  it('double with each attempt, keep at least half as jitter, and stop growing at 15 minutes', () => {
    expect(defaultRetryDelaySeconds(1, () => 0)).toBe(1)
    expect(defaultRetryDelaySeconds(1, () => 1)).toBe(2)
    expect(defaultRetryDelaySeconds(5, () => 0)).toBe(16)
    expect(defaultRetryDelaySeconds(5, () => 0.5)).toBe(24)
    expect(defaultRetryDelaySeconds(30, () => 1)).toBe(900)
  })
})

describe('the inbox worker', () => {
  let database: TestDatabase
  let testApp: TestApp
  let loops: BackgroundLoops

  beforeAll(async () => {
    database = await createTestDatabase()
    testApp = await buildTestApp(database, { env: { WORKER_MAX_ATTEMPTS: '3' } })
    loops = createTestLoops(testApp.config, database.handle, testApp.app.log as never)
  })
  afterAll(async () => {
    await testApp.app.close()
    await database.drop()
  })

  const send = async (...events: PaddleEvent[]): Promise<void> => {
    for (const event of events) expect((await deliver(testApp.app, event)).statusCode).toBe(200)
  }
  const rows = async (events: PaddleEvent[]) => await database.handle.db.select().from(paddleInboxTable)
    .where(inArray(paddleInboxTable.eventId, events.map((event) => event.event_id)))
  /** Lets time pass for the failed rows: their retry falls due now. */
  const fastForward = async (): Promise<void> => {
    await database.handle.db.update(paddleInboxTable).set({ nextAttemptAt: sql`now()` }).where(eq(paddleInboxTable.status, 'failed'))
  }
  /** A worker of its own on the test database, started by the test; polls only once a minute unless told otherwise. */
  const newWorker = async (options: Partial<InboxWorkerOptions> & { concurrency: number }): Promise<InboxWorker> => createInboxWorker({
    database: await database.connect({ poolMax: options.concurrency + 1 }),
    logger: silentLogger,
    maxAttempts: 3,
    pollIntervalMs: 60_000,
    accountIdKey: 'account_id',
    ...options,
  })
  /** Resolves once every event's row is processed; fails after 10 s. */
  const applied = async (events: PaddleEvent[], why = 'not applied'): Promise<void> => {
    const deadline = Date.now() + 10_000
    while ((await rows(events)).some((row) => row.status !== 'processed')) {
      if (Date.now() > deadline) throw new Error(why)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  it('retries a failing event with backoff, then marks it dead, while other subscriptions keep being applied', async () => {
    const poisonIds = freshIds()
    const poison = subscriptionEvent('subscription.updated', poisonIds, { status: 'active', time: DAY })
    poison.data.status = 'reticulating' // not a Paddle subscription status: the apply throws
    poison.data.custom_data = { account_id: poisonIds.account, note: 'personal@example.com' }
    const healthy = Array.from({ length: 3 }, () => subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY }))
    await send(poison, ...healthy)
    await loops.worker.drain()

    const [afterFirst] = await rows([poison])
    expect(afterFirst).toMatchObject({ status: 'failed', attempts: 1, lastError: 'InvalidPayloadError: data.status is not one of active, canceled, past_due, paused, trialing' })
    expect(Date.parse(afterFirst?.nextAttemptAt ?? '')).toBeGreaterThan(Date.now())
    // They shared the poison's batch: it rolled them back, then each was applied alone, by one attempt.
    expect((await rows(healthy)).map((row) => [row.status, row.attempts])).toEqual([['processed', 1], ['processed', 1], ['processed', 1]])
    expect(testApp.logs.records().filter((record) => record.msg === 'inbox batch rolled back; applying its events one at a time'))
      .toMatchObject([{ level: 40, events: 4 }])

    // Nothing runs it again before its retry falls due.
    expect(await loops.worker.drain()).toBe(0)
    await fastForward()
    await loops.worker.drain()
    expect((await rows([poison]))[0]).toMatchObject({ status: 'failed', attempts: 2 })

    const later = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })
    await send(later)
    await fastForward()
    await loops.worker.drain()
    expect((await rows([poison]))[0]).toMatchObject({ status: 'dead', attempts: 3 })
    expect((await rows([later]))[0]).toMatchObject({ status: 'processed', outcome: 'applied' })
    expect(JSON.stringify(await rows([poison]))).not.toContain('personal@example.com')
    expect(testApp.logs.text()).not.toContain('personal@example.com')

    // Dead is final: no further attempt.
    await fastForward()
    expect(await loops.worker.drain()).toBe(0)
    const stored = await database.handle.db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, poisonIds.subscription))
    expect(stored).toEqual([])
  })

  it('marks events about entities it does not track as ignored', async () => {
    const events = ['address.created.json', 'product.updated.json', 'payout.paid.json', 'node-sdk/invoice.paid.json']
      .map((file) => withFreshEventIds(readFixture(file)))
    await send(...events)
    await loops.worker.drain()
    for (const row of await rows(events)) {
      expect(row).toMatchObject({ status: 'ignored', outcome: 'ignored', attempts: 1, processedAt: expect.any(String) })
    }
  })

  it('claims the events of a steady stream together while it is caught up, instead of one wake-up at a time', async () => {
    const wake = createWakeSignal(database.handle)
    const intake = await buildTestApp(database, { dependencies: { onEventStored: () => wake.notify() } })
    const worker = await newWorker({ concurrency: 4, wake, claimSpacingMs: 1_000 })
    await worker.start()
    try {
      const first = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })
      const stream = Array.from({ length: 8 }, () => subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY }))
      // After a quiet spell the first event is claimed at once; its claim had room to spare.
      const sendToIntake = async (event: PaddleEvent): Promise<void> => { expect((await deliver(intake.app, event)).statusCode).toBe(200) }
      await sendToIntake(first)
      await applied([first])
      // Each of these wakes the worker as it is stored; the next claim waits its turn and takes them all.
      for (const event of stream) await sendToIntake(event)
      await applied(stream)
      // A batch's rows share its transaction's now().
      const batches = new Set((await rows(stream)).map((row) => row.processedAt))
      expect(batches.size).toBe(1)
      const [firstRow] = await rows([first])
      expect(firstRow?.processedAt).not.toBe([...batches][0])
    } finally {
      await worker.stop()
      wake.close()
      await intake.app.close()
    }
  })

  it('keeps up the tables its batches rewrite, the entitlement answers included', async () => {
    // VACUUM (ANALYZE) counts per table, from PostgreSQL's statistics.
    const upkeep = async (): Promise<Record<string, number>> => Object.fromEntries((await database.handle.query<{ table: string, rounds: number }>({
      name: 'test_upkeep_counts',
      text: 'SELECT relname AS table, (vacuum_count + analyze_count)::int AS rounds FROM pg_stat_user_tables',
    }, [])).map((row) => [row.table, row.rounds]))
    const before = await upkeep()
    const worker = await newWorker({ concurrency: 1, pollIntervalMs: 20, vacuumEvery: 1 })
    const event = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })
    await send(event)
    await worker.start()
    try {
      await applied([event])
    } finally {
      await worker.stop() // waits for the upkeep the event started
    }
    const after = await upkeep()
    const kept = ['paddle_inbox', 'entitlement_states', 'customers', 'subscriptions', 'subscription_items', 'transactions']
    expect(kept.filter((table) => (after[table] ?? 0) >= (before[table] ?? 0) + 2)).toEqual(kept)
  })

  it('is woken by the intake\'s NOTIFY on another connection, not by its poll', async () => {
    const wake = createWakeSignal(database.handle)
    const intake = await buildTestApp(database, { dependencies: { onEventStored: () => wake.notify() } })
    // Its poll, once a minute, is far longer than the test: only the notification can wake it.
    const worker = await newWorker({ concurrency: 2 })
    await worker.start()
    try {
      await new Promise((resolve) => setTimeout(resolve, 100)) // let the first poll pass
      // The latency itself is measured by `npm run bench`; here: applied long before any poll could run.
      for (let round = 0; round < 5; round += 1) {
        const event = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })
        expect((await deliver(intake.app, event)).statusCode).toBe(200)
        await applied([event], 'not applied: nothing woke the worker')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    } finally {
      await worker.stop()
      wake.close()
      await intake.app.close()
    }
  })
})
