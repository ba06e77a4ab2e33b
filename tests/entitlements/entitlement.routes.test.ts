import { describe, expect, it } from 'vitest'
import { timestampFromDate } from '#src/platform/timestamps.js'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { at, customerEvent, DAY, freshIds, subscriptionEvent, transactionEvent } from '../helpers/scenarios.js'
import { useHarness } from '../helpers/harness.js'

const harness = useHarness({ now: Date.parse(at(0)) })

const PERIOD = 30 * DAY
const authorization = `Bearer ${TEST_API_TOKEN}`

async function getEntitlement (accountId: string, headers: Record<string, string> = { authorization }) {
  return await harness.testApp.app.inject({ url: `/internal/accounts/${accountId}/entitlement`, headers })
}

interface Entitlement {
  accountId: string
  access: string
  reason: string
  until: string | null
  subscription: { id: string, status: string, customerId: string | null, accountId: string | null } | null
  asOf: string
}

async function entitlement (accountId: string): Promise<Entitlement> {
  const response = await getEntitlement(accountId)
  expect(response.statusCode).toBe(200)
  return response.json<Entitlement>()
}

describe('GET /internal/accounts/:accountId/entitlement', () => {
  it('denies an unknown account with no_subscription and no subscription', async () => {
    harness.now = Date.parse(at(DAY))
    const { account } = freshIds()
    expect(await entitlement(account)).toEqual({
      accountId: account,
      access: 'denied',
      reason: 'no_subscription',
      until: null,
      subscription: null,
      asOf: at(DAY),
    })
  })

  it('answers with every documented field, its subscription exactly as GET /internal/subscriptions/:id shows it', async () => {
    const ids = freshIds()
    harness.now = Date.parse(at(DAY))
    await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }))

    harness.now = Date.parse(at(3 * DAY)) + 123
    const body = await entitlement(ids.account)
    expect(Object.keys(body).sort()).toEqual(['access', 'accountId', 'asOf', 'reason', 'subscription', 'until'])
    expect(body).toMatchObject({ accountId: ids.account, access: 'granted', reason: 'active', until: at(PERIOD + 2) })
    expect(body.asOf).toBe(timestampFromDate(new Date(harness.now)))
    expect(body.asOf).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)

    const subscription = await harness.testApp.app.inject({ url: `/internal/subscriptions/${ids.subscription}`, headers: { authorization } })
    expect(subscription.statusCode).toBe(200)
    expect(body.subscription).toEqual(subscription.json())
    expect(body.subscription).toMatchObject({ id: ids.subscription, customerId: ids.customer, accountId: ids.account, status: 'active' })
    // As text too: one serializer for one shape, so the same bytes (no `"id" : ...` of PostgreSQL's json text).
    expect((await getEntitlement(ids.account)).body).toContain(`"subscription":${subscription.body},"asOf":`)
  })

  it('applies a scheduled cancellation at its date with the same data and no new webhook', async () => {
    const ids = freshIds()
    harness.now = Date.parse(at(5 * DAY))
    await harness.send(
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 5 * DAY, scheduledChange: { action: 'cancel', effectiveAt: PERIOD + 2 } })
    )

    harness.now = Date.parse(at(PERIOD + 2)) - 1
    expect(await entitlement(ids.account)).toMatchObject({
      access: 'granted',
      reason: 'cancel_scheduled',
      until: at(PERIOD + 2),
      subscription: { id: ids.subscription, status: 'active' },
    })

    harness.now = Date.parse(at(PERIOD + 2))
    expect(await entitlement(ids.account)).toMatchObject({
      access: 'denied',
      reason: 'canceled',
      until: null,
      subscription: { id: ids.subscription, status: 'active' },
    })
  })

  describe('ETag', () => {
    it('tags the answer, and answers 304 with an empty body to If-None-Match with that tag', async () => {
      const ids = freshIds()
      harness.now = Date.parse(at(DAY))
      await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }))

      const first = await getEntitlement(ids.account)
      const etag = first.headers.etag
      expect(first.statusCode).toBe(200)
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/)

      // Only asOf moves: the answer has not changed, so the tag holds. Over a real connection, because
      // light-my-request hands back whatever was serialised, where Node's HTTP server sends no 304 body.
      harness.now += 60_000
      const address = await harness.testApp.app.listen({ port: 0, host: '127.0.0.1' })
      const revalidated = await fetch(`${address}/internal/accounts/${ids.account}/entitlement`, {
        headers: { authorization, 'if-none-match': String(etag) },
      })
      expect(revalidated.status).toBe(304)
      expect(await revalidated.text()).toBe('')
      expect(revalidated.headers.get('etag')).toBe(etag)
      expect(revalidated.headers.get('content-length')).toBeNull()

      const weakInAList = await getEntitlement(ids.account, { authorization, 'if-none-match': `"other", W/${String(etag)}` })
      expect(weakInAList.statusCode).toBe(304)
    })

    it('gives a new tag and a 200 when a new webhook changes the answer', async () => {
      const ids = freshIds()
      harness.now = Date.parse(at(DAY))
      await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }))
      const etag = String((await getEntitlement(ids.account)).headers.etag)

      harness.now = Date.parse(at(2 * DAY))
      await harness.send(subscriptionEvent('subscription.updated', ids, { status: 'active', time: 2 * DAY, scheduledChange: { action: 'cancel', effectiveAt: PERIOD + 2 } }))
      const changed = await getEntitlement(ids.account, { authorization, 'if-none-match': etag })
      expect(changed.statusCode).toBe(200)
      expect(changed.json()).toMatchObject({ access: 'granted', reason: 'cancel_scheduled' })
      expect(changed.headers.etag).toBeDefined()
      expect(changed.headers.etag).not.toBe(etag)
    })

    it('gives a new tag and a 200 when the clock alone changes the reason', async () => {
      const ids = freshIds()
      harness.now = Date.parse(at(DAY))
      await harness.send(subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, scheduledChange: { action: 'cancel', effectiveAt: 10 * DAY } }))
      const before = await getEntitlement(ids.account)
      expect(before.json()).toMatchObject({ reason: 'cancel_scheduled' })

      harness.now = Date.parse(at(10 * DAY))
      const after = await getEntitlement(ids.account, { authorization, 'if-none-match': String(before.headers.etag) })
      expect(after.statusCode).toBe(200)
      expect(after.json()).toMatchObject({ access: 'denied', reason: 'canceled' })
      expect(after.headers.etag).not.toBe(before.headers.etag)
    })
  })

  it('lets the more generous of two Paddle customers\' subscriptions decide, and loses neither', async () => {
    const first = freshIds()
    const second = { ...freshIds(), account: first.account }
    harness.now = Date.parse(at(PERIOD + 3 * DAY))
    await harness.send(
      customerEvent('customer.created', first, { time: 1, customData: { account_id: first.account } }),
      customerEvent('customer.created', second, { time: 1, customData: { account_id: first.account } }),
      // The first customer renewed and paid; the second one's renewal failed at PERIOD.
      subscriptionEvent('subscription.updated', first, { status: 'active', time: PERIOD, period: [PERIOD, 2 * PERIOD] }),
      transactionEvent('transaction.payment_failed', second, { id: second.renewal, status: 'billed', time: PERIOD + 1, origin: 'subscription_recurring', billingPeriod: [PERIOD, 2 * PERIOD], payments: [{ status: 'error', errorCode: 'declined' }] }),
      subscriptionEvent('subscription.past_due', second, { status: 'past_due', time: PERIOD + 2, period: [PERIOD, 2 * PERIOD] })
    )
    for (const ids of [first, second]) {
      const stored = await harness.testApp.app.inject({ url: `/internal/subscriptions/${ids.subscription}`, headers: { authorization } })
      expect(stored.json()).toMatchObject({ customerId: ids.customer, accountId: first.account })
    }
    expect(await entitlement(first.account)).toMatchObject({
      access: 'granted',
      reason: 'active',
      until: at(2 * PERIOD),
      subscription: { id: first.subscription, customerId: first.customer },
    })

    // The first one is canceled: the second one's grace (14 days from PERIOD) decides.
    await harness.send(subscriptionEvent('subscription.canceled', first, { status: 'canceled', time: PERIOD + 3 * DAY - 10, period: null, nextBilledAt: null, canceledAt: PERIOD + 3 * DAY - 10 }))
    expect(await entitlement(first.account)).toMatchObject({
      access: 'grace',
      reason: 'past_due_grace',
      until: at(PERIOD + 14 * DAY),
      subscription: { id: second.subscription, customerId: second.customer, status: 'past_due' },
    })
  })

  describe('authentication', () => {
    const wrongToken = 'wrong-token-that-is-long-enough'
    const sameLengthToken = `${TEST_API_TOKEN.slice(0, -1)}${TEST_API_TOKEN.endsWith('x') ? 'y' : 'x'}`

    it.each<{ name: string, headers: Record<string, string> }>([
      { name: 'no authorization header', headers: {} },
      { name: 'a wrong token', headers: { authorization: `Bearer ${wrongToken}` } },
      { name: 'a wrong token of the right length', headers: { authorization: `Bearer ${sameLengthToken}` } },
      { name: 'the right token under another scheme', headers: { authorization: `Basic ${TEST_API_TOKEN}` } },
    ])('answers 401 {code, message} to $name, never echoing the token', async ({ headers }) => {
      const response = await getEntitlement(freshIds().account, headers)
      expect(response.statusCode).toBe(401)
      expect(response.json()).toEqual({ code: 'UNAUTHORIZED', message: expect.any(String) })
      for (const token of [wrongToken, sameLengthToken, TEST_API_TOKEN]) {
        expect(response.body).not.toContain(token)
        expect(JSON.stringify(response.headers)).not.toContain(token)
        expect(harness.testApp.logs.text()).not.toContain(token)
      }
    })
  })

  it.each([
    { name: 'a space', accountId: 'acc%20one' },
    { name: 'an encoded slash', accountId: 'acc%2Fone' },
    { name: 'a leading dot', accountId: '.acc' },
    { name: 'a character outside the allowed set', accountId: 'acc%21' },
  ])('answers 400 {code, message} to an account id with $name', async ({ accountId }) => {
    const response = await getEntitlement(accountId)
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ code: 'INVALID_REQUEST', message: expect.any(String) })
  })

  it('serves the longest account id the schema allows (128 characters), and refuses a longer one with 400', async () => {
    const longest = await getEntitlement(`a${'b'.repeat(127)}`)
    expect(longest.statusCode).toBe(200)
    expect(longest.json()).toMatchObject({ reason: 'no_subscription' })
    const tooLong = await getEntitlement(`a${'b'.repeat(128)}`)
    expect(tooLong.statusCode).toBe(400)
    expect(tooLong.json()).toEqual({ code: 'INVALID_REQUEST', message: expect.any(String) })
  })

  it('answers 404 {code, message} to a raw slash, which makes the path another route', async () => {
    const response = await getEntitlement('acc/one')
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ code: 'NOT_FOUND', message: expect.any(String) })
  })
})
