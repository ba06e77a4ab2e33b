import { inArray } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#src/db/client.js'
import { paddleInboxTable } from '#src/db/schema.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../helpers/database.js'
import { deliver, readFixture, withFreshEventIds } from '../helpers/paddle.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

// Cutting the connection to a database server needs a server: embedded PGlite has no connection to cut.
describe.skipIf(skipWithoutPostgres('intake-outage'))('POST /webhooks/paddle while PostgreSQL is unreachable', () => {
  let database: TestDatabase
  let proxy: TcpProxy
  let viaProxy: DatabaseHandle
  let testApp: TestApp

  beforeAll(async () => {
    database = await createTestDatabase()
    const proxied = await TcpProxy.inFrontOf(database.url ?? '')
    proxy = proxied.proxy
    viaProxy = await database.connect({ url: proxied.url })
    testApp = await buildTestApp({ ...database, handle: viaProxy })
  })
  afterAll(async () => {
    await testApp.app.close()
    await proxy.close()
    await database.drop()
  })

  const stored = async (eventIds: string[]) =>
    (await database.handle.db.select({ id: paddleInboxTable.eventId }).from(paddleInboxTable)
      .where(inArray(paddleInboxTable.eventId, eventIds))).map((row) => row.id)

  it('answers 503 with Retry-After while the database is down, then 200 for the same delivery', async () => {
    const event = withFreshEventIds(readFixture('transaction.completed.json'))
    await proxy.cut()
    const during = await deliver(testApp.app, event)
    expect(during.statusCode).toBe(503)
    expect(during.headers['retry-after']).toMatch(/^\d+$/)
    expect(during.json()).toEqual({ code: 'DATABASE_UNAVAILABLE', message: expect.any(String) })
    expect(await stored([event.event_id])).toEqual([])

    await proxy.restore()
    const after = await deliver(testApp.app, event)
    expect(after.statusCode).toBe(200)
    expect(await stored([event.event_id])).toEqual([event.event_id])
  })

  it('keeps every event it acknowledged when the database drops in the middle of a burst', async () => {
    const events = Array.from({ length: 120 }, () => withFreshEventIds(readFixture('subscription.updated.json')))
    const send = (batch: typeof events) => batch.map(async (event) => await deliver(testApp.app, event))
    // The first third is in flight when the connection drops, the second arrives while it is down.
    const first = send(events.slice(0, 40))
    await proxy.cut()
    const second = await Promise.all(send(events.slice(40, 80)))
    await proxy.restore()
    const responses = [...await Promise.all(first), ...second, ...await Promise.all(send(events.slice(80)))]
    expect(second.every((response) => response.statusCode === 503)).toBe(true)
    const statuses = new Set(responses.map((response) => response.statusCode))
    for (const status of statuses) expect([200, 503]).toContain(status)
    const acknowledged = events.filter((_, index) => responses[index]?.statusCode === 200).map((event) => event.event_id)
    expect(acknowledged.length).toBeGreaterThan(0)
    const present = new Set(await stored(acknowledged))
    expect(acknowledged.filter((id) => !present.has(id))).toEqual([])

    // Paddle retries what got a 503; every one of them lands once the database is back.
    const rejected = events.filter((_, index) => responses[index]?.statusCode === 503)
    for (const event of rejected) expect((await deliver(testApp.app, event)).statusCode).toBe(200)
    expect((await stored(events.map((event) => event.event_id))).length).toBe(events.length)
  })

  it('reports not ready while the database is unreachable', async () => {
    await proxy.cut()
    try {
      const ready = await testApp.app.inject('/health/ready')
      expect(ready.statusCode).toBe(503)
      expect(ready.json()).toMatchObject({ status: 'not_ready', checks: { database: 'unavailable' } })
    } finally {
      await proxy.restore()
    }
    expect((await testApp.app.inject('/health/ready')).statusCode).toBe(200)
  })
})
