/**
 * Input that once could block the intake or leak: characters PostgreSQL cannot store, a repeated
 * signature header, an oversized or unusual request id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInboxWriter } from '#src/intake/inbox-writer.js'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { buildTestApp, TEST_WEBHOOK_SECRET, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver, paddleId, readFixture, withFreshEventIds } from '../helpers/paddle.js'

describe('hostile input at the intake', () => {
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

  const storedPayload = async (eventId: string): Promise<Record<string, unknown> | undefined> =>
    (await database.handle.query<{ payload: Record<string, unknown> }>(
      { name: 'hostile_payload', text: 'SELECT payload FROM paddle_inbox WHERE event_id = $1' }, [eventId]))[0]?.payload

  it.each([
    ['a NUL character', 'Jo\u0000 Brown', 'Jo Brown'],
    ['a lone high surrogate', 'Jo \ud800Brown', 'Jo \ufffdBrown'],
    ['a lone low surrogate', '\udc00Jo Brown', '\ufffdJo Brown'],
  ])('stores a verified event whose name holds %s, without it', async (_name, name, stored) => {
    const event = withFreshEventIds(readFixture('customer.created.json'))
    event.data.name = name
    const response = await deliver(testApp.app, event)
    expect(response.statusCode).toBe(200)
    expect((await storedPayload(event.event_id))?.name).toBe(stored)
  })

  it('answers each of 40 coalesced deliveries on its own, poisoned ones among them', async () => {
    const events = Array.from({ length: 40 }, (_, index) => {
      const event = withFreshEventIds(readFixture('customer.created.json'))
      if (index % 2 === 0) event.data.name = `bad\u0000name ${index}`
      return event
    })
    const responses = await Promise.all(events.map(async (event) => await deliver(testApp.app, event)))
    expect(responses.map((response) => response.statusCode)).toEqual(events.map(() => 200))
  })

  it('retries a failed coalesced insert row by row: one row the database refuses fails alone', async () => {
    const writer = createInboxWriter(database.handle)
    const row = (entityId: string) => ({
      eventId: paddleId('evt'),
      notificationId: null,
      eventType: 'customer.created',
      entityType: 'customer',
      entityId,
      customerId: entityId,
      subscriptionId: null,
      occurredAt: '2026-03-01T09:00:00.000000Z',
      origin: 'webhook' as const,
      payload: null,
    })
    // The projection never lets such a row through; the writer must still not fail its neighbours.
    const rows = [row(paddleId('ctm')), row('ctm_\u0000refused'), row(paddleId('ctm')), row(paddleId('ctm'))]
    const results = await Promise.allSettled(rows.map(async (each) => await writer.insert(each)))
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
  })

  it('refuses an event id PostgreSQL could not store or a log could not show, with 400', async () => {
    const event = withFreshEventIds(readFixture('customer.created.json'))
    event.event_id = 'evt_\u0000bad'
    const response = await deliver(testApp.app, event)
    expect(response.statusCode).toBe(400)
    expect(response.json()).toMatchObject({ code: 'PADDLE_EVENT_INVALID' })
  })

  it('refuses a repeated Paddle-Signature header with 401, even when one copy is valid', async () => {
    const body = JSON.stringify(withFreshEventIds(readFixture('customer.created.json')))
    const valid = signPaddlePayload(TEST_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000))
    await testApp.app.listen({ port: 0, host: '127.0.0.1' })
    const address = testApp.app.server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const { request } = await import('node:http')
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = request({ host: '127.0.0.1', port, method: 'POST', path: '/webhooks/paddle' }, (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      })
      outgoing.on('error', reject)
      outgoing.setHeader('content-type', 'application/json')
      // Sent as two header lines: Node would join them into "a, b".
      outgoing.setHeader('paddle-signature', [valid, 'ts=1;h1=00'])
      outgoing.end(body)
    })
    expect(status).toBe(401)
  })

  it('keeps a plain x-request-id as the log\'s reqId and replaces an oversized or unusual one', async () => {
    const plain = await testApp.app.inject({ url: '/health/live', headers: { 'x-request-id': 'req-42.a:b_c' } })
    const huge = await testApp.app.inject({ url: '/health/live', headers: { 'x-request-id': 'x'.repeat(8192) } })
    const odd = await testApp.app.inject({ url: '/health/live', headers: { 'x-request-id': 'a b"\\{}' } })
    for (const response of [plain, huge, odd]) expect(response.statusCode).toBe(200)
    const reqIds = testApp.logs.records().map((record) => String(record.reqId ?? ''))
    expect(reqIds).toContain('req-42.a:b_c')
    expect(reqIds.some((id) => id.length > 128)).toBe(false)
    expect(reqIds.some((id) => id.includes('"') || id.includes(' '))).toBe(false)
  })
})
