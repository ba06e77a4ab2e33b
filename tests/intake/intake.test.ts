import { inArray, sql } from 'drizzle-orm'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { selectRows } from '#src/db/client.js'
import { paddleInboxTable } from '#src/db/schema.js'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { buildTestApp, TEST_WEBHOOK_SECRET, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver, eventTypeFixtures, paddleId, readFixture, withFreshEventIds, type PaddleEvent } from '../helpers/paddle.js'

let database: TestDatabase
let testApp: TestApp

beforeAll(async () => {
  database = await createTestDatabase()
  testApp = await buildTestApp(database)
})
afterAll(async () => {
  await testApp.app.close()
  await database.drop()
})

async function inboxRows (eventIds: string[]) {
  return await database.handle.db.select().from(paddleInboxTable).where(inArray(paddleInboxTable.eventId, eventIds))
}

// A few SDK mocks reuse another example's event_id; those get fresh ids, since they are distinct events.
const seenEventIds = new Set<string>()
function genuineExample (file: string): PaddleEvent {
  const event = readFixture(file)
  const unique = seenEventIds.has(event.event_id) ? withFreshEventIds(event) : event
  seenEventIds.add(unique.event_id)
  return unique
}

describe('POST /webhooks/paddle', () => {
  describe.each(eventTypeFixtures())('genuine example %s', (file) => {
    it('is accepted with 200 and stored once, replays included', async () => {
      const event = genuineExample(file)
      const first = await deliver(testApp.app, event)
      expect(first.statusCode).toBe(200)
      expect(first.json()).toEqual({ received: true, duplicate: false })

      // Paddle's replay: same event, new notification id.
      const replay = await deliver(testApp.app, { ...event, notification_id: paddleId('ntf') })
      expect(replay.statusCode).toBe(200)
      expect(replay.json()).toEqual({ received: true, duplicate: true })

      const rows = await inboxRows([event.event_id])
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({
        eventId: event.event_id,
        notificationId: event.notification_id ?? null,
        eventType: event.event_type,
        entityId: event.data.id ?? null,
        status: 'pending',
        origin: 'webhook',
      })
    })
  })

  it('stores the checkout stream and the second genuine set, which have other ids', async () => {
    const files = [
      ...['01-transaction.created', '02-customer.created', '06-transaction.paid', '09-subscription.created', '12-transaction.completed']
        .map((name) => `checkout-sequence/${name}.json`),
      'node-sdk/transaction.completed.json', 'node-sdk/subscription.updated.json', 'node-sdk/customer.updated.json',
    ]
    const events = files.map((file) => readFixture(file))
    for (const event of events) expect((await deliver(testApp.app, event)).statusCode).toBe(200)
    expect(await inboxRows(events.map((event) => event.event_id))).toHaveLength(events.length)
  })

  it('keeps occurred_at to the microsecond, truncating nanoseconds', async () => {
    const event = withFreshEventIds(readFixture('transaction.paid.json'))
    event.occurred_at = '2024-04-12T10:18:49.738971238Z'
    expect((await deliver(testApp.app, event)).statusCode).toBe(200)
    const [row] = await inboxRows([event.event_id])
    expect(row?.occurredAt).toBe('2024-04-12T10:18:49.738971Z')
    const [raw] = await selectRows<{ micros: string }>(database.handle.db,
      sql`SELECT extract(microseconds FROM occurred_at)::text AS micros FROM paddle_inbox WHERE event_id = ${event.event_id}`)
    expect(raw?.micros).toBe('49738971')
  })

  it('records the envelope alone for an event type it does not act on, including unknown types', async () => {
    const unknown = withFreshEventIds(readFixture('node-sdk/invoice.paid.json'))
    const untracked = withFreshEventIds(readFixture('address.created.json'))
    for (const event of [unknown, untracked]) {
      const response = await deliver(testApp.app, event)
      expect(response.statusCode).toBe(200)
    }
    const rows = await inboxRows([unknown.event_id, untracked.event_id])
    expect(rows).toHaveLength(2)
    for (const row of rows) expect(row.payload).toBeNull()
  })

  it('leaves exactly one row when 20 deliveries of one event arrive at once', async () => {
    const event = withFreshEventIds(readFixture('transaction.completed.json'))
    const responses = await Promise.all(Array.from({ length: 20 }, async (_, index) =>
      await deliver(testApp.app, { ...event, notification_id: index % 2 === 0 ? event.notification_id : paddleId('ntf') })))
    expect(responses.map((response) => response.statusCode)).toEqual(Array(20).fill(200))
    expect(responses.filter((response) => response.json<{ duplicate: boolean }>().duplicate === false)).toHaveLength(1)
    expect(await inboxRows([event.event_id])).toHaveLength(1)
  })

  it('stores what the allow-list keeps of a transaction: ids, totals in minor units, payment method type only', async () => {
    const event = withFreshEventIds(readFixture('transaction.completed.json'))
    await deliver(testApp.app, event)
    const [row] = await inboxRows([event.event_id])
    const payload = row?.payload as Record<string, any>
    expect(payload.id).toBe(event.data.id)
    expect(payload.totals).toMatchObject({ total: '65215', grand_total: '65215', currency_code: 'USD' })
    expect(payload.payments).toEqual(event.data.payments.map((payment: Record<string, any>) => ({
      payment_attempt_id: payment.payment_attempt_id,
      status: payment.status,
      error_code: payment.error_code,
      method_type: payment.method_details.type,
      amount: payment.amount,
      created_at: expect.any(String),
      captured_at: payment.captured_at === null ? null : expect.any(String),
    })))
    expect(JSON.stringify(payload)).not.toContain('last4')
    expect(JSON.stringify(payload)).not.toContain('cardholder')
    expect(row?.customerId).toBe(event.data.customer_id)
    expect(row?.subscriptionId).toBe(event.data.subscription_id)
  })

  describe('rejections', () => {
    const event = (): PaddleEvent => withFreshEventIds(readFixture('subscription.created.json'))

    it('answers 401 without storing anything when the signature is wrong, and never names the secret', async () => {
      const bad = event()
      const response = await deliver(testApp.app, bad, { secret: 'pdl_ntfset_someone_else_entirely' })
      expect(response.statusCode).toBe(401)
      expect(response.json()).toEqual({ code: 'PADDLE_SIGNATURE_INVALID', message: expect.any(String) })
      expect(response.body).not.toContain(TEST_WEBHOOK_SECRET)
      expect(await inboxRows([bad.event_id])).toHaveLength(0)
    })

    it.each([
      ['missing_header', undefined],
      ['malformed_header', 'ts=1;h2=abc'],
      ['stale_timestamp', 'stale'],
      ['future_timestamp', 'future'],
      ['no_matching_signature', 'ts=NOW;h1=' + '0'.repeat(64)],
    ])('logs the reason %s and answers 401', async (reason, header) => {
      const body = JSON.stringify(event())
      const now = Math.floor(Date.now() / 1000)
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (header === 'stale') headers['paddle-signature'] = signPaddlePayload(TEST_WEBHOOK_SECRET, body, now - 3600)
      else if (header === 'future') headers['paddle-signature'] = signPaddlePayload(TEST_WEBHOOK_SECRET, body, now + 3600)
      else if (header !== undefined) headers['paddle-signature'] = header.replace('NOW', String(now))
      const logsBefore = testApp.logs.lines.length
      const response = await testApp.app.inject({ method: 'POST', url: '/webhooks/paddle', headers, payload: body })
      expect(response.statusCode).toBe(401)
      const lines = testApp.logs.records().slice(logsBefore)
      expect(lines.some((line) => line.reason === reason && line.msg === 'paddle webhook rejected')).toBe(true)
    })

    it('answers 400 for a verified body that is not an event envelope', async () => {
      for (const body of ['not json', '[]', '{"event_id":"evt_1","event_type":"x.y","occurred_at":"yesterday","data":{}}',
        '{"event_id":"evt_1","event_type":"x.y","occurred_at":"2024-01-01T00:00:00Z"}', '{"event_type":"x.y"}']) {
        const response = await deliver(testApp.app, body)
        expect(response.statusCode, body).toBe(400)
        expect(response.json()).toMatchObject({ code: 'PADDLE_EVENT_INVALID', message: expect.any(String) })
      }
    })

    it('answers 413 over the body limit and 415 for another content type', async () => {
      const big = event()
      big.data.padding = 'x'.repeat(testApp.config.WEBHOOK_BODY_LIMIT_BYTES)
      expect((await deliver(testApp.app, big)).statusCode).toBe(413)
      const plain = await deliver(testApp.app, event(), { headers: { 'content-type': 'text/plain' } })
      expect(plain.statusCode).toBe(415)
      expect(plain.json()).toMatchObject({ code: expect.any(String), message: expect.any(String) })
    })

    it('never answers 2xx or 5xx to random signature headers (property)', async () => {
      const body = JSON.stringify(event())
      await fc.assert(fc.asyncProperty(fc.string({ maxLength: 200 }), async (header) => {
        const response = await testApp.app.inject({
          method: 'POST',
          url: '/webhooks/paddle',
          headers: { 'content-type': 'application/json', 'paddle-signature': header },
          payload: body,
        })
        expect(response.statusCode).toBe(401)
      }), { numRuns: 200 })
    })
  })

  it('logs every webhook line with event_id, event_type and notification_id, and redacts the signature', async () => {
    const event = withFreshEventIds(readFixture('customer.updated.json'))
    const before = testApp.logs.lines.length
    await deliver(testApp.app, event)
    const lines = testApp.logs.records().slice(before)
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const line of lines) {
      expect(line).toMatchObject({ event_id: event.event_id, event_type: event.event_type, notification_id: event.notification_id })
    }
    expect(testApp.logs.text()).not.toMatch(/ts=\d+;h1=/)
    expect(testApp.logs.text()).not.toContain(event.data.email)
  })
})

describe('GET /health', () => {
  it('answers live and ready', async () => {
    expect((await testApp.app.inject('/health/live')).json()).toEqual({ status: 'ok' })
    const ready = await testApp.app.inject('/health/ready')
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toMatchObject({ status: 'ready', checks: { database: 'ok', migrations: 'ok' } })
  })

  it('is not ready while a migration is missing', async () => {
    await database.handle.db.execute(sql`UPDATE drizzle.__drizzle_migrations SET created_at = 0`)
    try {
      const ready = await testApp.app.inject('/health/ready')
      expect(ready.statusCode).toBe(503)
      expect(ready.json()).toMatchObject({ status: 'not_ready', checks: { migrations: expect.stringMatching(/pending/) } })
    } finally {
      await database.handle.db.execute(sql`UPDATE drizzle.__drizzle_migrations SET created_at = ${Date.now()}`)
    }
  })
})
