/**
 * The internal API as TrackSera's services see it: bearer auth on every /internal route, the
 * documented response shapes (built from delivered, signed Paddle events applied by the worker),
 * paging, manual account links, the OpenAPI document and the error bodies.
 */
import type { LightMyRequestResponse } from 'fastify'
import { beforeAll, describe, expect, it } from 'vitest'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { paddleId, readFixture, withFreshEventIds } from '../helpers/paddle.js'
import { at, BASIC, customerEvent, DAY, freshIds, PRO, subscriptionEvent, transactionEvent } from '../helpers/scenarios.js'
import { useHarness } from '../helpers/harness.js'

const NOW = Date.parse(at(DAY))
const AUTH = `Bearer ${TEST_API_TOKEN}`

const harness = useHarness({ now: NOW })

async function call (method: 'GET' | 'PUT', url: string, options: { authorization?: string | null, payload?: unknown } = {}): Promise<LightMyRequestResponse> {
  const authorization = options.authorization === undefined ? AUTH : options.authorization
  return await harness.testApp.app.inject({
    method,
    url,
    headers: authorization === null ? {} : { authorization },
    ...(options.payload === undefined ? {} : { payload: options.payload as Record<string, unknown> }),
  })
}

function expectError (response: LightMyRequestResponse, statusCode: number, code?: string): void {
  expect(response.statusCode, response.body).toBe(statusCode)
  expect(response.json()).toStrictEqual({ code: code ?? expect.any(String), message: expect.any(String) })
}

const SUBSCRIPTION_KEYS = ['id', 'status', 'customerId', 'accountId', 'items', 'currencyCode', 'billingCycle', 'currentBillingPeriod', 'nextBilledAt',
  'startedAt', 'firstBilledAt', 'pausedAt', 'canceledAt', 'scheduledChange', 'trialEndsAt', 'updatedAt'].sort()

describe('bearer auth on /internal', () => {
  const ids = freshIds()
  const sameLengthWrong = `${TEST_API_TOKEN.slice(0, -1)}${TEST_API_TOKEN.endsWith('x') ? 'y' : 'x'}`
  const badCredentials: Array<[string, string | null]> = [
    ['no Authorization header', null],
    ['a wrong token', 'Bearer wrong-token-0000000000000000'],
    ['a token of the right length but wrong', `Bearer ${sameLengthWrong}`],
    ['the right token under the Basic scheme', `Basic ${TEST_API_TOKEN}`],
    ['the right token without a scheme', TEST_API_TOKEN],
    ['an empty Bearer token', 'Bearer '],
  ]
  const routes: Array<{ name: string, method: 'GET' | 'PUT', url: string, payload?: unknown }> = [
    { name: 'GET /internal/subscriptions/:id', method: 'GET', url: `/internal/subscriptions/${ids.subscription}` },
    { name: 'GET /internal/customers/:id', method: 'GET', url: `/internal/customers/${ids.customer}` },
    { name: 'GET /internal/transactions/:id', method: 'GET', url: `/internal/transactions/${ids.checkout}` },
    { name: 'GET /internal/accounts/:id/transactions', method: 'GET', url: `/internal/accounts/${ids.account}/transactions` },
    { name: 'GET /internal/accounts/:id/entitlement', method: 'GET', url: `/internal/accounts/${ids.account}/entitlement` },
    { name: 'PUT /internal/customers/:id/account', method: 'PUT', url: `/internal/customers/${ids.customer}/account`, payload: { accountId: ids.account } },
  ]

  beforeAll(async () => {
    await harness.send(
      customerEvent('customer.created', ids, { time: 0 }),
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, payments: [{ status: 'captured' }] }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, transactionId: ids.checkout })
    )
  })

  it.each(routes)('$name answers 401 UNAUTHORIZED to every bad credential, never echoing it, and 200 to the right token', async (route) => {
    for (const [label, authorization] of badCredentials) {
      const response = await call(route.method, route.url, { authorization, payload: route.method === 'PUT' ? { accountId: 'acc_intruder' } : undefined })
      expect(response.statusCode, label).toBe(401)
      expect(response.json(), label).toStrictEqual({ code: 'UNAUTHORIZED', message: expect.any(String) })
      expect(response.body).not.toContain(TEST_API_TOKEN)
      expect(response.body).not.toContain(sameLengthWrong)
      expect(response.body).not.toContain('wrong-token')
    }
    if (route.method === 'PUT') { // none of the refused links was written
      expect((await call('GET', `/internal/customers/${ids.customer}`)).json()).toMatchObject({ accountId: ids.account })
    }
    const response = await call(route.method, route.url, { payload: route.payload })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.body).not.toContain(TEST_API_TOKEN)
  })

  it('never writes a presented token or Authorization header to the logs', () => {
    const logs = harness.testApp.logs.text()
    expect(harness.testApp.logs.records().some((line) => (line.res as { statusCode?: number } | undefined)?.statusCode === 401)).toBe(true)
    for (const secret of [TEST_API_TOKEN, sameLengthWrong, 'wrong-token-0000000000000000', ...badCredentials.map(([, header]) => header), AUTH]) {
      if (secret !== null && secret.trim() !== 'Bearer') expect(logs).not.toContain(secret)
    }
  })
})

describe('GET /internal/subscriptions/:subscriptionId', () => {
  it('answers exactly the documented shape, with the delivered values at microsecond precision', async () => {
    const ids = freshIds()
    const trialEndsAt = at(14 * DAY + 0.000007)
    const event = subscriptionEvent('subscription.created', ids, {
      status: 'trialing',
      time: 2.123456,
      items: [{ ...PRO, trialEndsAt }, { ...BASIC, quantity: 3 }],
      scheduledChange: { action: 'cancel', effectiveAt: 30 * DAY + 0.654321 },
    })
    await harness.send(event)
    const response = await call('GET', `/internal/subscriptions/${ids.subscription}`)
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json<Record<string, unknown>>()
    expect(Object.keys(body).sort()).toEqual(SUBSCRIPTION_KEYS)
    const { data } = event
    expect(body).toStrictEqual({
      id: ids.subscription,
      status: 'trialing',
      customerId: ids.customer,
      accountId: ids.account,
      items: [ // ordered by price id
        { priceId: BASIC.priceId, productId: BASIC.productId, quantity: 3, status: 'active' },
        { priceId: PRO.priceId, productId: PRO.productId, quantity: 1, status: 'trialing' },
      ],
      currencyCode: data.currency_code,
      billingCycle: { interval: data.billing_cycle.interval, frequency: data.billing_cycle.frequency },
      currentBillingPeriod: { startsAt: data.current_billing_period.starts_at, endsAt: data.current_billing_period.ends_at },
      nextBilledAt: data.next_billed_at,
      startedAt: data.started_at,
      firstBilledAt: null,
      pausedAt: null,
      canceledAt: null,
      scheduledChange: { action: 'cancel', effectiveAt: data.scheduled_change.effective_at, resumeAt: null },
      trialEndsAt,
      updatedAt: data.updated_at,
    })
    expect(body.updatedAt).toBe('2026-03-01T09:00:02.123456Z')
    expect(body.trialEndsAt).toBe('2026-03-15T09:00:00.000007Z')
    expect(body.scheduledChange).toMatchObject({ effectiveAt: '2026-03-31T09:00:00.654321Z' })
  })

  it('answers 404 NOT_FOUND for an unknown subscription', async () => {
    expectError(await call('GET', `/internal/subscriptions/${paddleId('sub')}`), 404, 'NOT_FOUND')
  })

  it.each(['not-an-id', 'sub_UPPER', `${paddleId('ctm')}`, `sub_${'a'.repeat(65)}`])('answers 400 to the malformed id %s', async (id) => {
    expectError(await call('GET', `/internal/subscriptions/${id}`), 400)
  })
})

describe('GET /internal/customers/:customerId', () => {
  it('answers the customer with its account, personal data and its own subscriptions only', async () => {
    const ids = freshIds()
    const second = { ...ids, subscription: paddleId('sub') }
    const stranger = freshIds()
    await harness.send(
      customerEvent('customer.created', ids, { time: 0, email: 'grace@example.com', name: 'Grace Hopper' }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
      subscriptionEvent('subscription.created', second, { status: 'past_due', time: 3 }),
      subscriptionEvent('subscription.created', stranger, { status: 'active', time: 2 })
    )
    const response = await call('GET', `/internal/customers/${ids.customer}`)
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json<{ subscriptions: Array<{ id: string }> }>()
    expect(Object.keys(body).sort()).toEqual(['accountId', 'email', 'id', 'name', 'status', 'subscriptions'])
    expect(body).toMatchObject({ id: ids.customer, accountId: ids.account, email: 'grace@example.com', name: 'Grace Hopper', status: 'active' })
    expect(body.subscriptions.map((subscription) => subscription.id).sort()).toEqual([ids.subscription, second.subscription].sort())
    const own = body.subscriptions.find((subscription) => subscription.id === ids.subscription)
    expect(own).toStrictEqual((await call('GET', `/internal/subscriptions/${ids.subscription}`)).json())
  })

  it('answers 404 NOT_FOUND for an unknown customer', async () => {
    expectError(await call('GET', `/internal/customers/${paddleId('ctm')}`), 404, 'NOT_FOUND')
  })

  it.each(['not-an-id', 'ctm_UPPER', `${paddleId('sub')}`])('answers 400 to the malformed id %s', async (id) => {
    expectError(await call('GET', `/internal/customers/${id}`), 400)
  })
})

describe('GET /internal/transactions/:transactionId', () => {
  it('answers the genuine completed transaction: totals in minor units, payments without card data', async () => {
    const ids = freshIds()
    const event = withFreshEventIds(readFixture('transaction.completed.json'))
    Object.assign(event.data, { id: ids.checkout, customer_id: ids.customer, subscription_id: ids.subscription, custom_data: { account_id: ids.account } })
    await harness.send(event)
    const response = await call('GET', `/internal/transactions/${ids.checkout}`)
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toStrictEqual({
      id: ids.checkout,
      status: 'completed',
      origin: 'web',
      customerId: ids.customer,
      subscriptionId: ids.subscription,
      accountId: ids.account,
      invoiceNumber: '325-10566',
      currencyCode: 'USD',
      totals: { subtotal: '59900', discount: '0', tax: '5315', total: '65215', grandTotal: '65215' },
      billingPeriod: { startsAt: '2024-04-12T10:18:47.635628Z', endsAt: '2024-05-12T10:18:47.635628Z' },
      billedAt: '2024-04-12T10:18:48.294633Z',
      createdAt: '2024-04-12T10:12:33.201400Z',
      updatedAt: '2024-04-12T10:18:49.738971Z',
      payments: [
        { status: 'captured', methodType: 'card', createdAt: '2024-04-12T10:18:33.579142Z', capturedAt: '2024-04-12T10:18:47.635628Z' },
        { status: 'error', methodType: 'card', createdAt: '2024-04-12T10:15:57.888183Z', capturedAt: null },
      ],
    })
    const card = event.data.payments[0].method_details.card as Record<string, unknown>
    for (const leak of ['3184', '0002', card.cardholder_name, 'cardholder', 'last4', 'expiry', 'method_details', 'visa', 'paymtd_', 'payment_method_id']) {
      expect(response.body).not.toContain(String(leak))
    }
  })

  it('answers 404 NOT_FOUND for an unknown transaction', async () => {
    expectError(await call('GET', `/internal/transactions/${paddleId('txn')}`), 404, 'NOT_FOUND')
  })

  it.each(['not-an-id', 'txn_UPPER', `${paddleId('sub')}`])('answers 400 to the malformed id %s', async (id) => {
    expectError(await call('GET', `/internal/transactions/${id}`), 400)
  })
})

describe('GET /internal/accounts/:accountId/transactions', () => {
  const ids = freshIds()
  const other = freshIds()
  // Several share a created_at, so the id decides between them, across page boundaries too.
  const times = [10, 20, 20, 20, 30, 40, 40]
  const own = times.map((time) => ({ id: paddleId('txn'), createdAt: at(time - 1) }))
  const expectedOrder = [...own].sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1)).map((row) => row.id)
  const url = `/internal/accounts/${ids.account}/transactions`

  beforeAll(async () => {
    await harness.send(
      ...own.map((row, index) => transactionEvent('transaction.completed', ids, { id: row.id, status: 'completed', time: times[index] ?? 0 })),
      transactionEvent('transaction.completed', other, { id: other.checkout, status: 'completed', time: 20 }),
      transactionEvent('transaction.completed', other, { id: other.renewal, status: 'completed', time: 50 })
    )
  })

  it('lists the account\'s transactions newest first, and no other account\'s', async () => {
    const response = await call('GET', url)
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json<{ transactions: Array<{ id: string, accountId: string }>, nextCursor: string | null }>()
    expect(body.transactions.map((transaction) => transaction.id)).toEqual(expectedOrder)
    expect(body.transactions.every((transaction) => transaction.accountId === ids.account)).toBe(true)
    expect(body.nextCursor).toBeNull()
    const first = body.transactions.find((transaction) => transaction.id === own[0]?.id)
    expect(first).toStrictEqual((await call('GET', `/internal/transactions/${own[0]?.id ?? ''}`)).json())
    const others = (await call('GET', `/internal/accounts/${other.account}/transactions`)).json<{ transactions: Array<{ id: string }> }>()
    expect(others.transactions.map((transaction) => transaction.id)).toEqual([other.renewal, other.checkout])
  })

  it('pages through 7 transactions with limit 3: each exactly once, in order, the last page with nextCursor null', async () => {
    const seen: string[] = []
    const pageSizes: number[] = []
    let cursor: string | null = null
    do {
      const query: string = cursor === null ? '?limit=3' : `?limit=3&cursor=${encodeURIComponent(cursor)}`
      const response = await call('GET', `${url}${query}`)
      expect(response.statusCode, response.body).toBe(200)
      const page = response.json<{ transactions: Array<{ id: string }>, nextCursor: string | null }>()
      pageSizes.push(page.transactions.length)
      seen.push(...page.transactions.map((transaction) => transaction.id))
      cursor = page.nextCursor
    } while (cursor !== null && pageSizes.length < 10)
    expect(pageSizes).toEqual([3, 3, 1])
    expect(seen).toEqual(expectedOrder)
  })

  it.each(['0', '201', 'abc', '-1', '1.5'])('answers 400 to limit=%s', async (limit) => {
    expectError(await call('GET', `${url}?limit=${limit}`), 400)
  })

  const encode = (value: string): string => Buffer.from(value).toString('base64url')
  it.each([
    ['not base64 JSON', 'garbage!'],
    ['an object', encode('{"createdAt":"2026-03-01T09:00:00.000000Z"}')],
    ['null', encode('null')],
    ['a bad timestamp', encode('["yesterday","txn_abc"]')],
    ['a numeric id', encode('["2026-03-01T09:00:00.000000Z",5]')],
    ['an over-long value', 'a'.repeat(301)],
  ])('answers 400 to a cursor that is %s', async (_label, cursor) => {
    expectError(await call('GET', `${url}?limit=3&cursor=${encodeURIComponent(cursor)}`), 400)
  })
})

describe('PUT /internal/customers/:customerId/account', () => {
  it('links a customer whose events carried no account id, so its subscription decides the account\'s entitlement', async () => {
    const ids = freshIds()
    await harness.send(
      customerEvent('customer.created', ids, { time: 0 }),
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, customData: null, payments: [{ status: 'captured' }] }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, customData: null, transactionId: ids.checkout })
    )
    const entitlementUrl = `/internal/accounts/${ids.account}/entitlement`
    const before = await call('GET', entitlementUrl)
    expect(before.json()).toMatchObject({ accountId: ids.account, access: 'denied', reason: 'no_subscription', subscription: null })
    expect((await call('GET', `/internal/subscriptions/${ids.subscription}`)).json()).toMatchObject({ accountId: null })

    const linked = await call('PUT', `/internal/customers/${ids.customer}/account`, { payload: { accountId: ids.account } })
    expect(linked.statusCode, linked.body).toBe(200)
    expect(linked.json()).toStrictEqual({ customerId: ids.customer, accountId: ids.account })

    const after = await call('GET', entitlementUrl)
    expect(after.json()).toMatchObject({ accountId: ids.account, access: 'granted', reason: 'active', subscription: { id: ids.subscription, accountId: ids.account } })
    expect((await call('GET', `/internal/subscriptions/${ids.subscription}`)).json()).toMatchObject({ id: ids.subscription, accountId: ids.account })
    expect((await call('GET', `/internal/customers/${ids.customer}`)).json()).toMatchObject({ accountId: ids.account })
    const listed = (await call('GET', `/internal/accounts/${ids.account}/transactions`)).json<{ transactions: Array<{ id: string }> }>()
    expect(listed.transactions.map((transaction) => transaction.id)).toEqual([ids.checkout])
  })

  it.each([
    ['an empty body', {}],
    ['a wrong property name', { account: 'acc_x' }],
    ['an invalid account id', { accountId: '-bad id' }],
    ['an over-long account id', { accountId: `acc_${'a'.repeat(130)}` }],
  ])('answers 400 to %s', async (_label, payload) => {
    const ids = freshIds()
    expectError(await call('PUT', `/internal/customers/${ids.customer}/account`, { payload }), 400)
  })

  it('answers 400 to a malformed customer id', async () => {
    expectError(await call('PUT', '/internal/customers/not-an-id/account', { payload: { accountId: 'acc_x' } }), 400)
  })

  it('answers 400 to a body with an extra property, and links nothing', async () => {
    const ids = freshIds()
    await harness.send(customerEvent('customer.created', ids, { time: 0 }))
    const response = await call('PUT', `/internal/customers/${ids.customer}/account`, { payload: { accountId: ids.account, role: 'admin' } })
    expect((await call('GET', `/internal/customers/${ids.customer}`)).json()).toMatchObject({ accountId: null })
    expectError(response, 400)
  })
})

describe('GET /openapi.json', () => {
  it('serves, without auth, an OpenAPI 3 document of every route, /internal behind the bearer scheme', async () => {
    const response = await call('GET', '/openapi.json', { authorization: null })
    expect(response.statusCode).toBe(200)
    const document = response.json<{ openapi: string, paths: Record<string, Record<string, any>>, components: Record<string, any> }>()
    expect(document.openapi).toMatch(/^3\./)
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
    const expected = {
      '/internal/subscriptions/{subscriptionId}': ['get'],
      '/internal/customers/{customerId}': ['get'],
      '/internal/customers/{customerId}/account': ['put'],
      '/internal/transactions/{transactionId}': ['get'],
      '/internal/accounts/{accountId}/transactions': ['get'],
      '/internal/accounts/{accountId}/entitlement': ['get'],
      '/health/ready': ['get'],
    }
    for (const [path, methods] of Object.entries(expected)) {
      for (const method of methods) {
        const operation = document.paths[path]?.[method]
        expect(operation, `${method} ${path}`).toBeDefined()
        if (path.startsWith('/internal/')) expect(operation.security, path).toEqual([{ bearer: [] }])
      }
    }
    for (const [path, operations] of Object.entries(document.paths)) {
      if (!path.startsWith('/internal/')) continue
      for (const operation of Object.values(operations)) expect(operation.security, path).toEqual([{ bearer: [] }])
    }

    const transaction = document.paths['/internal/transactions/{transactionId}']?.get.responses['200'].content['application/json'].schema
    const payment = transaction.properties.payments.items
    expect(Object.keys(payment.properties).sort()).toEqual(['capturedAt', 'createdAt', 'methodType', 'status'])
    for (const key of Object.keys(payment.properties)) expect(key).not.toMatch(/card|last4|expiry|holder|method_?details/i)
  })

  it('lists the webhook as POST /webhooks/paddle, the path Paddle is given', async () => {
    const document = (await call('GET', '/openapi.json', { authorization: null })).json<{ paths: Record<string, Record<string, unknown>> }>()
    expect(document.paths['/webhooks/paddle']?.post).toBeDefined()
    expect(document.paths['/webhooks/paddle/']).toBeUndefined()
  })
})

describe('unknown routes', () => {
  it.each([
    ['GET', '/no-such-route'],
    ['GET', '/internal/no-such-route'],
    ['PUT', `/internal/subscriptions/${paddleId('sub')}`],
  ] as const)('%s %s answers 404 NOT_FOUND', async (method, url) => {
    expectError(await call(method, url, { payload: method === 'PUT' ? {} : undefined }), 404, 'NOT_FOUND')
  })
})
