/**
 * GET /internal/accounts/:id/entitlement answers from the decision inputs kept in memory. A change
 * committed by another process is visible within a second (LISTEN/NOTIFY), by the process that
 * applied it at once, and an answer is never served from memory after its subscription changed:
 * not from a read that raced the change, nor while the LISTEN connection is away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#src/db/client.js'
import { createBackgroundLoops, type BackgroundLoops } from '#src/app/background.js'
import { buildTestApp, silentLogger, TEST_API_TOKEN, type TestApp } from '../helpers/app.js'
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../helpers/database.js'
import { deliver, type PaddleEvent } from '../helpers/paddle.js'
import { at, DAY, freshIds, subscriptionEvent, type ScenarioIds } from '../helpers/scenarios.js'

const NOW = Date.parse(at(5 * DAY))

interface Answer { access: string, reason: string, subscription: { updatedAt: string, status: string } | null }

describe.skipIf(skipWithoutPostgres('entitlement-cache'))('entitlement cache', () => {
  let database: TestDatabase
  let testApp: TestApp
  /** The app's own process: its worker shares the app's database handle. */
  let ownLoops: BackgroundLoops
  /** Another process: its own pool and worker. */
  let other: DatabaseHandle
  let otherLoops: BackgroundLoops

  beforeAll(async () => {
    database = await createTestDatabase()
    testApp = await buildTestApp(database, { clock: () => NOW })
    ownLoops = createBackgroundLoops(testApp.config, { database: database.handle, logger: silentLogger, clock: () => NOW })
    other = await database.connect({ poolMax: 4 })
    otherLoops = createBackgroundLoops(testApp.config, { database: other, logger: silentLogger, clock: () => NOW })
    await waitFor(() => testApp.app.entitlementCache.stats().listening)
  })
  afterAll(async () => {
    await testApp.app.close()
    await database.drop()
  })

  const read = async (accountId: string): Promise<Answer> => {
    const response = await testApp.app.inject({ url: `/internal/accounts/${accountId}/entitlement`, headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })
    expect(response.statusCode, response.body).toBe(200)
    return response.json<Answer>()
  }
  /** Stores the event through the app's intake; `by` applies it. */
  const apply = async (by: BackgroundLoops, event: PaddleEvent): Promise<void> => {
    const response = await deliver(testApp.app, event, { timestamp: Math.floor(NOW / 1000) })
    expect(response.statusCode, response.body).toBe(200)
    await by.worker.drain()
  }
  const updated = (ids: ScenarioIds, time: number, extra: Parameters<typeof subscriptionEvent>[2] extends infer S ? Partial<S> : never = {}) =>
    subscriptionEvent('subscription.updated', ids, { status: 'active', time, period: [0, 30 * DAY], ...extra })

  it('answers repeated reads from memory', async () => {
    const ids = freshIds()
    await apply(ownLoops, updated(ids, 10))
    const before = testApp.app.entitlementCache.stats()
    const first = await read(ids.account)
    for (let index = 0; index < 5; index += 1) expect(await read(ids.account)).toEqual(first)
    const after = testApp.app.entitlementCache.stats()
    expect(after.misses - before.misses).toBe(1)
    expect(after.hits - before.hits).toBe(5)
  })

  it('serves a change committed by the process that applied it at once', async () => {
    const ids = freshIds()
    await apply(ownLoops, updated(ids, 10))
    expect(await read(ids.account)).toMatchObject({ access: 'granted', reason: 'active' })
    await read(ids.account)
    await apply(ownLoops, updated(ids, 20, { scheduledChange: { action: 'cancel', effectiveAt: 30 * DAY } }))
    expect(await read(ids.account)).toMatchObject({ access: 'granted', reason: 'cancel_scheduled' })
    await apply(ownLoops, updated(ids, 30, { status: 'canceled', period: null, canceledAt: 30 }))
    expect(await read(ids.account)).toMatchObject({ access: 'denied', reason: 'canceled' })
  })

  it('serves a change committed by another process within a second', async () => {
    const ids = freshIds()
    await apply(otherLoops, updated(ids, 10))
    expect(await read(ids.account)).toMatchObject({ reason: 'active' })
    expect(await read(ids.account)).toMatchObject({ reason: 'active' })
    await apply(otherLoops, updated(ids, 20, { status: 'paused', period: null, pausedAt: 20 }))
    const committed = Date.now()
    await waitFor(async () => (await read(ids.account)).reason === 'paused', 1_000)
    expect(Date.now() - committed).toBeLessThan(1_000)
  })

  it('never serves an answer older than one already served, while another process changes it under concurrent reads', async () => {
    const ids = freshIds()
    await apply(otherLoops, updated(ids, 1))
    const reading = { stop: false }
    const observed: Array<{ startedAt: number, version: string }> = []
    const readers = Array.from({ length: 8 }, async () => {
      while (!reading.stop) {
        const startedAt = performance.now()
        const answer = await read(ids.account)
        observed.push({ startedAt, version: answer.subscription?.updatedAt ?? '' })
        // A read from memory never leaves the microtask queue: let the writer's timers run.
        await new Promise((resolve) => setImmediate(resolve))
      }
    })
    const commits: Array<{ at: number, version: string }> = []
    for (let change = 2; change <= 21; change += 1) {
      await apply(otherLoops, updated(ids, change, { nextBilledAt: 30 * DAY + change }))
      commits.push({ at: performance.now(), version: at(change) })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    reading.stop = true
    await Promise.all(readers)
    // A read that started after another had seen a version never sees an older one.
    observed.sort((a, b) => a.startedAt - b.startedAt)
    let newest = ''
    let regressions = 0
    for (const { version } of observed) {
      if (version < newest) regressions += 1
      if (version > newest) newest = version
    }
    expect(regressions).toBe(0)
    // Every change is served within a second of its commit.
    for (const commit of commits) {
      const seen = observed.find((read) => read.startedAt >= commit.at && read.version >= commit.version)
      expect(seen, `version ${commit.version}`).toBeDefined()
      expect((seen?.startedAt ?? Infinity) - commit.at).toBeLessThan(1_000)
    }
    expect(newest).toBe(at(21))
  }, 60_000)

  it('does not keep a read that was in flight when its account changed', async () => {
    const ids = freshIds()
    await apply(otherLoops, updated(ids, 10))
    const cache = testApp.app.entitlementCache
    const inFlight = cache.subscriptionsOf(ids.account)
    // The change's NOTIFY arrives while the read is on its way back.
    cache.invalidate([ids.account])
    await inFlight
    const misses = cache.stats().misses
    await cache.subscriptionsOf(ids.account)
    expect(cache.stats().misses).toBe(misses + 1)
    await cache.subscriptionsOf(ids.account)
    expect(cache.stats().misses).toBe(misses + 1)
  })

  it('reads the database while its LISTEN connection is lost, and starts from nothing when it is back', async () => {
    const ids = freshIds()
    await apply(otherLoops, updated(ids, 10))
    await read(ids.account)
    await read(ids.account)
    expect(testApp.app.entitlementCache.stats().entries).toBeGreaterThan(0)

    await other.query({
      name: 'test_kill_listener', text: `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND query = 'LISTEN "billing_entitlements"'`
    }, [])
    await waitFor(() => !testApp.app.entitlementCache.stats().listening)
    expect(testApp.app.entitlementCache.stats().entries).toBe(0)
    // Nobody hears this change's NOTIFY.
    await apply(otherLoops, updated(ids, 20, { status: 'paused', period: null, pausedAt: 20 }))
    const bypassed = testApp.app.entitlementCache.stats().bypassed
    expect(await read(ids.account)).toMatchObject({ reason: 'paused' })
    expect(testApp.app.entitlementCache.stats().bypassed).toBe(bypassed + 1)

    await waitFor(() => testApp.app.entitlementCache.stats().listening, 5_000)
    expect(await read(ids.account)).toMatchObject({ reason: 'paused' })
    await apply(otherLoops, updated(ids, 30, { status: 'active' }))
    await waitFor(async () => (await read(ids.account)).reason === 'active', 1_000)
  }, 30_000)
})

async function waitFor (condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
