import { createHmac } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '#src/platform/config.js'
import { buildTestApp, TEST_API_TOKEN, type TestApp } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { at, customerEvent, DAY, freshIds, subscriptionEvent, type ScenarioIds } from '../helpers/scenarios.js'
import type { PaddleEvent } from '../helpers/paddle.js'

const HOST = 'console.test'
const ORIGIN = `http://${HOST}`
const OTHER_TOKEN = 'second-internal-token-0123456789abcdef'
const SESSION_SECRET = 'console-session-secret-for-the-tests-000000000000'
const TTL_MINUTES = 30

const harness = useHarness({
  now: Date.parse(at(DAY)),
  env: { CONSOLE_ENABLED: 'true', CONSOLE_SESSION_TTL_MINUTES: String(TTL_MINUTES), WORKER_MAX_ATTEMPTS: '1' },
})

/** Other configurations on the same database; closed after the file. */
const extraApps: TestApp[] = []
afterAll(async () => { for (const extra of extraApps) await extra.app.close() })
async function otherApp (env: Record<string, string>): Promise<TestApp> {
  const testApp = await buildTestApp(harness.database, { clock: () => harness.now, env })
  extraApps.push(testApp)
  return testApp
}

const app = (): FastifyInstance => harness.testApp.app
const sessionCookieOf = (response: LightMyRequestResponse): string | undefined =>
  /billing_console_session=([^;]*)/.exec(String(response.headers['set-cookie'] ?? ''))?.[1]

async function signIn (target: FastifyInstance = app(), token = TEST_API_TOKEN, origin = ORIGIN): Promise<LightMyRequestResponse> {
  return await target.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: { host: HOST, origin, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token }).toString(),
  })
}
async function session (target: FastifyInstance = app(), token = TEST_API_TOKEN): Promise<string> {
  const response = await signIn(target, token)
  expect(response.statusCode, response.body).toBe(303)
  const cookie = sessionCookieOf(response)
  expect(cookie).toBeTruthy()
  return cookie ?? ''
}
async function page (url: string, cookie: string | null, target: FastifyInstance = app()): Promise<LightMyRequestResponse> {
  return await target.inject({ url, headers: { host: HOST, ...(cookie === null ? {} : { cookie: `billing_console_session=${cookie}` }) } })
}
async function submit (url: string, cookie: string, fields: Record<string, string>, headers: Record<string, string> = { origin: ORIGIN }): Promise<LightMyRequestResponse> {
  return await app().inject({
    method: 'POST',
    url,
    headers: { host: HOST, cookie: `billing_console_session=${cookie}`, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(fields).toString(),
  })
}
const csrfOf = (body: string): string => /name="_csrf" value="([^"]+)"/.exec(body)?.[1] ?? ''

const inboxRow = async (eventId: string) => (await harness.database.handle.query<{ status: string, attempts: number }>(
  { name: 'console_inbox_row', text: 'SELECT status, attempts FROM paddle_inbox WHERE event_id = $1' }, [eventId]))[0]

/** A subscription event the worker cannot apply (not a Paddle status): dead after one attempt here. */
async function deadEvent (ids: ScenarioIds = freshIds()): Promise<PaddleEvent> {
  const event = subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY / 2 })
  event.data.status = 'reticulating'
  await harness.send(event)
  expect(await inboxRow(event.event_id)).toMatchObject({ status: 'dead' })
  return event
}

describe('the console\'s configuration', () => {
  const base = { PADDLE_WEBHOOK_SECRETS: 'pdl_ntfset_0123456789', INTERNAL_API_TOKENS: TEST_API_TOKEN }
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig({ env: { ...base, ...env }, embeddedDatabase: true })
      return []
    } catch (error) {
      return (error as ConfigError).problems
    }
  }

  it('is off by default and on in npm run dev, unless switched off there', () => {
    expect(loadConfig({ env: base, embeddedDatabase: true }).CONSOLE_ENABLED).toBe(false)
    expect(loadConfig({ env: {}, development: true }).CONSOLE_ENABLED).toBe(true)
    expect(loadConfig({ env: { CONSOLE_ENABLED: 'false' }, development: true }).CONSOLE_ENABLED).toBe(false)
  })

  it('refuses a short session secret without echoing it, and an origin with a path', () => {
    const short = problems({ CONSOLE_SESSION_SECRET: 'too-short-secret' })
    expect(short).toEqual([expect.stringMatching(/^CONSOLE_SESSION_SECRET: must NOT have fewer than 32 characters/)])
    expect(short.join()).not.toContain('too-short-secret')
    expect(problems({ CONSOLE_PUBLIC_ORIGIN: 'https://billing.example.com/console' })).toHaveLength(1)
    expect(problems({ CONSOLE_PUBLIC_ORIGIN: 'https://billing.example.com:8443', CONSOLE_SESSION_SECRET: SESSION_SECRET })).toEqual([])
  })
})

describe('the console switched off', () => {
  it('does not exist without CONSOLE_ENABLED=true', async () => {
    const off = await otherApp({})
    expect(off.config.CONSOLE_ENABLED).toBe(false)
    for (const url of ['/console', '/console/inbox', '/console/sign-in']) expect((await page(url, null, off.app)).statusCode).toBe(404)
    expect((await signIn(off.app)).statusCode).toBe(404)
  })
})

describe('signing in to the console', () => {
  it('sends a visitor without a session to the sign-in form', async () => {
    for (const url of ['/console', '/console/inbox', '/console/dead-letters', '/console/subscriptions/sub_01abc']) {
      const response = await page(url, null)
      expect(response.statusCode, url).toBe(303)
      expect(response.headers.location, url).toMatch(/^\/console\/(inbox|sign-in)$/)
    }
    const form = await page('/console/sign-in', null)
    expect(form.statusCode).toBe(200)
    expect(form.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(form.body).toContain('name="token" type="password"')
    expect(form.headers['content-security-policy']).toMatch(/default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/)
    expect(form.headers['x-frame-options']).toBe('DENY')
  })

  it('refuses a token that is not in INTERNAL_API_TOKENS, and sets no cookie', async () => {
    for (const token of ['not-the-token-0123456789abcdef', `${TEST_API_TOKEN}x`, '', `Bearer ${TEST_API_TOKEN}`]) {
      const response = await signIn(app(), token)
      expect(response.statusCode, token).toBe(401)
      expect(response.headers['set-cookie'], token).toBeUndefined()
      expect(response.body).toContain('That token is not accepted.')
    }
  })

  it('sets an HttpOnly, SameSite=Strict session cookie for the console\'s path, expiring with the session', async () => {
    const response = await signIn()
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/console/inbox')
    const cookie = String(response.headers['set-cookie'])
    const attributes = cookie.split('; ').slice(1)
    expect(attributes.sort()).toEqual(['HttpOnly', `Max-Age=${TTL_MINUTES * 60}`, 'Path=/console', 'SameSite=Strict'])
    expect(cookie).not.toContain(TEST_API_TOKEN)
    const inbox = await page('/console/inbox', sessionCookieOf(response) ?? '')
    expect(inbox.statusCode).toBe(200)
    expect(inbox.body).toContain('<h1>Inbox</h1>')
  })

  it('marks the cookie Secure when the console is served over https (CONSOLE_PUBLIC_ORIGIN)', async () => {
    const https = await otherApp({ CONSOLE_ENABLED: 'true', CONSOLE_PUBLIC_ORIGIN: 'https://billing.example.com' })
    // The form is accepted from the public origin only.
    expect((await signIn(https.app, TEST_API_TOKEN, ORIGIN)).statusCode).toBe(403)
    const response = await signIn(https.app, TEST_API_TOKEN, 'https://billing.example.com')
    expect(response.statusCode).toBe(303)
    expect(String(response.headers['set-cookie']).split('; ')).toContain('Secure')
  })

  it('refuses an expired, tampered or foreign cookie and sends the browser back to sign in', async () => {
    const cookie = await session()
    const [payload = '', signature = ''] = cookie.split('.')
    const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp: number }
    const longer = Buffer.from(JSON.stringify({ ...fields, exp: fields.exp + 86_400 })).toString('base64url')
    const foreignKey = createHmac('sha256', 'some other key').update(`session\0${payload}`).digest('base64url')
    const refused = [
      `${longer}.${signature}`, // a later expiry under the old signature
      `${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`,
      `${payload}.${foreignKey}`,
      `${payload}`,
      'garbage',
    ]
    for (const value of refused) {
      const response = await page('/console/inbox', value)
      expect(response.statusCode, value).toBe(303)
      expect(response.headers.location).toBe('/console/sign-in?status=expired')
      expect(String(response.headers['set-cookie'])).toMatch(/^billing_console_session=; Path=\/console; Max-Age=0;/)
    }
    expect((await page('/console/inbox', cookie)).statusCode).toBe(200)

    const startedAt = harness.now
    try {
      harness.now = startedAt + TTL_MINUTES * 60_000 - 1_000
      expect((await page('/console/inbox', cookie)).statusCode).toBe(200)
      harness.now = startedAt + TTL_MINUTES * 60_000
      const expired = await page('/console/inbox', cookie)
      expect(expired.statusCode).toBe(303)
      expect(expired.headers.location).toBe('/console/sign-in?status=expired')
    } finally {
      harness.now = startedAt
    }
  })

  it('ends the sessions of a token removed from INTERNAL_API_TOKENS, and every session when the key changes', async () => {
    const both = await otherApp({ CONSOLE_ENABLED: 'true', CONSOLE_SESSION_SECRET: SESSION_SECRET, INTERNAL_API_TOKENS: `${TEST_API_TOKEN},${OTHER_TOKEN}` })
    const withOther = await session(both.app, OTHER_TOKEN)
    const withFirst = await session(both.app, TEST_API_TOKEN)
    const onlyFirst = await otherApp({ CONSOLE_ENABLED: 'true', CONSOLE_SESSION_SECRET: SESSION_SECRET })
    expect((await page('/console/inbox', withFirst, onlyFirst.app)).statusCode).toBe(200)
    expect((await page('/console/inbox', withOther, onlyFirst.app)).statusCode).toBe(303)
    // The harness's app derives its key from its tokens: a cookie signed under the secret means nothing there.
    expect((await page('/console/inbox', withFirst)).statusCode).toBe(303)
  })

  it('signs out: the browser\'s cookie is cleared', async () => {
    const cookie = await session()
    const inbox = await page('/console/inbox', cookie)
    expect((await submit('/console/sign-out', cookie, {})).statusCode).toBe(403)
    const response = await submit('/console/sign-out', cookie, { _csrf: csrfOf(inbox.body) })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/console/sign-in?status=signed_out')
    expect(String(response.headers['set-cookie'])).toMatch(/^billing_console_session=; Path=\/console; Max-Age=0;/)
  })
})

describe('the console\'s forms', () => {
  it('refuse a POST without the session\'s CSRF token, or from another origin, and change nothing', async () => {
    const event = await deadEvent()
    const cookie = await session()
    const csrf = csrfOf((await page('/console/dead-letters', cookie)).body)
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const otherSession = csrfOf((await page('/console/dead-letters', await session())).body)
    expect(otherSession).not.toBe(csrf)
    const url = `/console/events/${event.event_id}/redrive`

    const attempts: Array<[string, Record<string, string>, Record<string, string>?]> = [
      ['no token', {}],
      ['empty token', { _csrf: '' }],
      ['another session\'s token', { _csrf: otherSession }],
      ['a tampered token', { _csrf: `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` }],
      ['another origin', { _csrf: csrf }, { origin: 'http://evil.example' }],
      ['another origin by its Referer', { _csrf: csrf }, { referer: 'http://evil.example/console/dead-letters' }],
      ['no Origin or Referer', { _csrf: csrf }, {}],
    ]
    for (const [why, fields, headers] of attempts) {
      const response = await submit(url, cookie, fields, headers)
      expect(response.statusCode, why).toBe(403)
      expect(response.body, why).toContain('Refused')
      expect(await inboxRow(event.event_id), why).toMatchObject({ status: 'dead' })
    }
    // A same-origin Referer stands in for a missing Origin.
    const response = await submit(url, cookie, { _csrf: csrf }, { referer: `${ORIGIN}/console/dead-letters` })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe(`/console/dead-letters?done=redriven&id=${event.event_id}`)
    expect(await inboxRow(event.event_id)).toMatchObject({ status: 'pending', attempts: 0 })
  })

  it('redrive answers which event could not be redriven, and why', async () => {
    const cookie = await session()
    const csrf = csrfOf((await page('/console/dead-letters', cookie)).body)
    const applied = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY / 2 })
    await harness.send(applied)
    const response = await submit(`/console/events/${applied.event_id}/redrive`, cookie, { _csrf: csrf, back: 'https://evil.example/' })
    expect(response.headers.location).toBe(`/console/dead-letters?done=not_redrivable&id=${applied.event_id}`)
    const shown = await page(response.headers.location ?? '', cookie)
    expect(shown.body).toContain('is neither dead nor failed')
    expect(shown.body).toContain('class="notice problem"')
  })
})

describe('the console\'s pages', () => {
  it('count the inbox and filter it by status, type and entity, showing each event\'s projection and outcome', async () => {
    const ids = freshIds()
    const created = subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY / 4 })
    const stale = subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY / 8 })
    await harness.send(created)
    await harness.send(stale)
    const dead = await deadEvent(ids)
    const cookie = await session()

    const all = await page('/console/inbox', cookie)
    const counts = await harness.database.handle.query<{ dead: number }>(
      { name: 'console_dead_count', text: 'SELECT count(*)::int AS dead FROM paddle_inbox WHERE status = \'dead\'' }, [])
    expect(all.body).toContain(`<b>${counts[0]?.dead ?? -1}</b><span>dead</span>`)

    const bySubscription = await page(`/console/inbox?entity=${ids.subscription}`, cookie)
    expect(bySubscription.statusCode).toBe(200)
    for (const event of [created, stale, dead]) expect(bySubscription.body).toContain(`id="event-${event.event_id}"`)
    expect(bySubscription.body).toContain('3 matching events')
    // The stale one says why.
    expect(bySubscription.body).toMatch(/<span class="badge stale">stale<\/span>/)

    const deadOnly = await page(`/console/inbox?status=dead&type=subscription.updated&entity=${ids.subscription}`, cookie)
    expect(deadOnly.body).toContain(`id="event-${dead.event_id}"`)
    expect(deadOnly.body).not.toContain(`id="event-${created.event_id}"`)
    expect(deadOnly.body).toContain('&quot;status&quot;: &quot;reticulating&quot;')
    expect(deadOnly.body).toContain('data.status is not one of')

    const byType = await page(`/console/inbox?status=&type=subscription.created&entity=${ids.subscription}&event=`, cookie)
    expect(byType.body).toContain(`id="event-${created.event_id}"`)
    expect(byType.body).not.toContain(`id="event-${stale.event_id}"`)
  })

  it('take ids only in their URLs: an email address is not a filter', async () => {
    const cookie = await session()
    for (const url of ['/console/inbox?entity=ada%40example.com', '/console/subscriptions?id=ada%40example.com', '/console/inbox?status=processedx']) {
      const response = await page(url, cookie)
      expect(response.statusCode, url).toBe(400)
      expect(response.body).toContain('Not understood')
    }
  })

  it('escape what they show: a customer\'s name from Paddle is text, not markup', async () => {
    const ids = freshIds()
    const name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    const event = customerEvent('customer.updated', ids, { time: DAY / 4, name })
    await harness.send(event)
    const cookie = await session()
    const response = await page(`/console/inbox?entity=${ids.customer}`, cookie)
    expect(response.body).toContain(`id="event-${event.event_id}"`)
    expect(response.body).toContain('&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;')
    expect(response.body).not.toContain('<script')
    expect(response.body).not.toContain('<img')
  })

  it('show a subscription\'s state, its account\'s entitlement, its timeline and its email events, and redeliver a dead one', async () => {
    const ids = freshIds()
    const created = subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY / 2 })
    await harness.send(created)
    const [email] = await harness.database.handle.query<{ id: string, type: string }>(
      { name: 'console_email_of', text: 'SELECT id, type FROM email_events WHERE subscription_id = $1' }, [ids.subscription])
    expect(email?.type).toBe('subscription.started')
    await harness.database.handle.query({ name: 'console_email_dead', text: 'UPDATE email_events SET status = \'dead\', attempts = 12, last_error = \'HTTP 500\', last_status_code = 500 WHERE id = $1' }, [email?.id])
    const cookie = await session()

    const response = await page(`/console/subscriptions/${ids.subscription}`, cookie)
    expect(response.statusCode).toBe(200)
    const body = response.body
    expect(body).toContain(`Subscription ${ids.subscription}`)
    expect(body).toContain('<dt>Status</dt><dd><span class="badge active">active</span></dd>')
    expect(body).toContain(`<span class="mono">${ids.account}</span>`)
    expect(body).toContain('<dt>Access</dt><dd><span class="badge granted">granted</span></dd>')
    expect(body).toContain('<code>active</code>')
    expect(body).toContain(`href="/console/inbox?event=${created.event_id}">subscription.created</a>`)
    expect(body).toContain(`<td class="mono">${email?.id}</td>`)
    expect(body).toContain(`action="/console/email-events/${email?.id}/redeliver"`)

    const deadLetters = await page('/console/dead-letters', cookie)
    expect(deadLetters.body).toContain(`<td class="mono">${email?.id}</td>`)

    const redelivered = await submit(`/console/email-events/${email?.id}/redeliver`, cookie,
      { _csrf: csrfOf(body), back: `/console/subscriptions/${ids.subscription}` })
    expect(redelivered.statusCode).toBe(303)
    expect(redelivered.headers.location).toBe(`/console/subscriptions/${ids.subscription}?done=redelivering&id=${email?.id}`)
    const [row] = await harness.database.handle.query<{ status: string, attempts: number }>(
      { name: 'console_email_row', text: 'SELECT status, attempts FROM email_events WHERE id = $1' }, [email?.id])
    expect(row).toEqual({ status: 'pending', attempts: 0 })
    expect((await page(redelivered.headers.location ?? '', cookie)).body).toContain('is back in the delivery queue.')

    expect((await page('/console/subscriptions/sub_01nothinghere', cookie)).statusCode).toBe(404)
    const lookup = await page(`/console/subscriptions?id=${ids.subscription}`, cookie)
    expect(lookup.statusCode).toBe(303)
    expect(lookup.headers.location).toBe(`/console/subscriptions/${ids.subscription}`)
  })

  it('stay out of the OpenAPI document', async () => {
    const document = (await app().inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>()
    expect(Object.keys(document.paths).filter((path) => path.startsWith('/console'))).toEqual([])
  })
})

describe('the console and the logs', () => {
  it('never logs the token, the session cookie or the CSRF token', async () => {
    const cookie = await session()
    const csrf = csrfOf((await page('/console/inbox', cookie)).body)
    await signIn(app(), 'wrong-token-0123456789abcdef-secretish')
    await submit('/console/sign-out', cookie, { _csrf: 'x' })
    await page('/console/inbox', `${cookie}x`)
    await submit('/console/sign-out', cookie, { _csrf: csrf })
    const logs = harness.testApp.logs.text()
    expect(logs).toContain('console sign-in refused')
    expect(logs).toContain('console form refused: missing or wrong CSRF token')
    expect(logs).toContain('"reason":"bad_signature"')
    for (const secret of [TEST_API_TOKEN, 'wrong-token-0123456789abcdef-secretish', cookie, cookie.split('.')[1] ?? '', csrf]) {
      expect(logs).not.toContain(secret)
    }
  })
})
