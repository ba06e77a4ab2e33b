import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver, readFixture, withFreshEventIds } from '../helpers/paddle.js'
import { SENTINEL_PATTERN, plantSentinels } from '../helpers/sentinels.js'
import { scanAllColumns } from '../helpers/scan.js'

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

const FIXTURES = [
  'transaction.billed', 'transaction.canceled', 'transaction.completed', 'transaction.created', 'transaction.paid',
  'transaction.past_due', 'transaction.payment_failed', 'transaction.ready', 'transaction.revised', 'transaction.updated',
  'node-sdk/transaction.completed', 'node-sdk/transaction.paid', 'node-sdk/transaction.revised',
  'checkout-sequence/07-transaction.updated', 'checkout-sequence/12-transaction.completed',
  'customer.created', 'customer.updated', 'customer.imported',
  'address.created', 'address.updated', 'address.imported',
  'business.created', 'business.updated', 'business.imported',
  'subscription.created', 'subscription.updated', 'adjustment.created', 'adjustment.updated',
].map((name) => `${name}.json`)

describe('card, PayPal, address and tax data', () => {
  it('reaches no column of any table and no log line', async () => {
    const events = FIXTURES.map((file) => plantSentinels(withFreshEventIds(readFixture(file))))
    expect(JSON.stringify(events)).toMatch(new RegExp(SENTINEL_PATTERN))
    for (const event of events) {
      const response = await deliver(testApp.app, event)
      expect(response.statusCode, event.event_type).toBe(200)
    }

    const { columnsScanned, hits } = await scanAllColumns(database.handle.db, SENTINEL_PATTERN)
    expect(columnsScanned).toBeGreaterThan(10)
    expect(hits).toEqual([])
    expect(testApp.logs.lines.length).toBeGreaterThan(FIXTURES.length)
    expect(testApp.logs.text()).not.toMatch(new RegExp(SENTINEL_PATTERN))
  })

  it('the scan itself finds a planted value (it is not blind)', async () => {
    const event = withFreshEventIds(readFixture('customer.updated.json'))
    event.data.email = 'SNTL-visible@example.com' // a customer email is kept on purpose
    await deliver(testApp.app, event)
    const { hits } = await scanAllColumns(database.handle.db, 'SNTL-visible')
    expect(hits).toEqual([{ table: '"public"."paddle_inbox"', column: 'payload', rows: 1 }])
  })
})
