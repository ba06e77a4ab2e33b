/**
 * Card, PayPal, address and tax data never reach storage or logs: distinctive values are planted in
 * every such field of genuine payloads, the events are delivered, applied and turned into email
 * events, and every column of every table and every log line is searched for them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BackgroundLoops } from '#src/app/background.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver, paddleId, readFixture, withFreshEventIds } from '../helpers/paddle.js'
import { SENTINEL_PATTERN, plantSentinels } from '../helpers/sentinels.js'
import { scanAllColumns } from '../helpers/scan.js'
import { createTestLoops } from '../helpers/worker.js'

let database: TestDatabase
let testApp: TestApp
let loops: BackgroundLoops

beforeAll(async () => {
  database = await createTestDatabase()
  // Email events about old fixtures would be suppressed but still written: a long max age keeps them pending, like fresh ones.
  testApp = await buildTestApp(database, { env: { EMAIL_EVENT_MAX_AGE_HOURS: '8760' } })
  loops = createTestLoops(testApp.config, database.handle, testApp.app.log as never)
})
afterAll(async () => {
  await testApp.app.close()
  await database.drop()
})

const FIXTURES = [
  'transaction.billed', 'transaction.canceled', 'transaction.completed', 'transaction.created', 'transaction.paid',
  'transaction.past_due', 'transaction.payment_failed', 'transaction.ready', 'transaction.revised', 'transaction.updated',
  'node-sdk/transaction.completed', 'node-sdk/transaction.paid', 'node-sdk/transaction.revised',
  'checkout-sequence/07-transaction.updated', 'checkout-sequence/12-transaction.completed',
  'customer.created', 'customer.updated', 'customer.imported',
  'address.created', 'address.updated', 'address.imported',
  'business.created', 'business.updated', 'business.imported',
  'subscription.created', 'subscription.updated', 'subscription.past_due', 'adjustment.created', 'adjustment.updated',
].map((name) => `${name}.json`)

describe('card, PayPal, address and tax data', () => {
  it('reaches no column of any table and no log line, through intake, state and email events', async () => {
    const events = FIXTURES.map((file) => plantSentinels(withFreshEventIds(readFixture(file))))
    expect(JSON.stringify(events)).toMatch(new RegExp(SENTINEL_PATTERN))
    for (const event of events) {
      const response = await deliver(testApp.app, event)
      expect(response.statusCode, event.event_type).toBe(200)
    }
    expect(await loops.worker.drain()).toBe(events.length)

    const { columnsScanned, hits } = await scanAllColumns(database.handle.db, SENTINEL_PATTERN)
    expect(columnsScanned).toBeGreaterThan(80)
    expect(hits).toEqual([])
    // The scan covered state and email events, not only the inbox.
    const { hits: applied } = await scanAllColumns(database.handle.db, 'txn_01hv8wptq8987qeep44cyrewp9')
    expect(applied.map((hit) => hit.table)).toEqual(expect.arrayContaining(['"public"."transactions"', '"public"."email_events"', '"public"."paddle_inbox"']))
    expect(testApp.logs.lines.length).toBeGreaterThan(FIXTURES.length)
    expect(testApp.logs.text()).not.toMatch(new RegExp(SENTINEL_PATTERN))
  })

  it('keeps a customer\'s email where it is needed (customers, the customer event) and out of email events (the scan is not blind)', async () => {
    const event = withFreshEventIds(readFixture('customer.updated.json'))
    event.data.id = paddleId('ctm')
    event.data.email = 'SNTL-visible@example.com'
    await deliver(testApp.app, event)
    await loops.worker.drain()
    const { hits } = await scanAllColumns(database.handle.db, 'SNTL-visible')
    expect(hits).toEqual([
      { table: '"public"."customers"', column: 'email', rows: 1 },
      { table: '"public"."paddle_inbox"', column: 'payload', rows: 1 },
    ])
  })
})
