import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { TEST_API_TOKEN, TEST_WEBHOOK_SECRET } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { deliver, paddleId, type DeliverOptions, type PaddleEvent } from '../helpers/paddle.js'
import { spawnService } from '../helpers/process.js'
import { at, DAY, freshIds, subscriptionEvent, transactionEvent, type ScenarioIds } from '../helpers/scenarios.js'
import { sample } from '../helpers/prometheus.js'

const PERIOD = 30 * DAY
const OTHER_SECRET = 'pdl_ntfset_01jother000000000000000000000_NotTheConfiguredSecret00000000'
const auth = { authorization: `Bearer ${TEST_API_TOKEN}` }

// The app's time is a day after the scenarios' start: their email events are recent enough not to be suppressed.
const harness = useHarness({ now: Date.parse(at(DAY)), env: { WORKER_MAX_ATTEMPTS: '2', READY_MAX_INBOX_LAG_SECONDS: '60' } })

/** Delivers one event signed at the app's time, without letting the worker apply it. */
const post = async (event: PaddleEvent, options: DeliverOptions = {}) =>
  await deliver(harness.testApp.app, event, { timestamp: Math.floor(harness.now / 1000), ...options })
const get = async (url: string, headers: Record<string, string> = auth) => await harness.testApp.app.inject({ url, headers })
const sql = async (text: string, values: unknown[]): Promise<void> => {
  await harness.database.handle.query({ name: `ops_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`, text }, values)
}
const inboxRow = async (eventId: string) => (await harness.database.handle.query<{ status: string, outcome: string | null, attempts: number }>(
  { name: 'ops_inbox_row', text: 'SELECT status, outcome, attempts FROM paddle_inbox WHERE event_id = $1' }, [eventId]))[0]

/** A subscription event the worker cannot apply: its status is not a Paddle status. */
function failingEvent (ids: ScenarioIds = freshIds()): PaddleEvent {
  const event = subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY })
  event.data.status = 'reticulating'
  return event
}
/** Lets time pass for these failed rows: their retry falls due now. */
const fastForward = async (...events: PaddleEvent[]) =>
  await sql('UPDATE paddle_inbox SET next_attempt_at = now() WHERE status = \'failed\' AND event_id = ANY($1)', [events.map((event) => event.event_id)])
/** Delivers failing events and runs them until they are dead (WORKER_MAX_ATTEMPTS is 2). */
async function makeDead (...events: PaddleEvent[]): Promise<void> {
  for (const event of events) expect((await post(event)).statusCode).toBe(200)
  await harness.loops.worker.drain()
  await fastForward(...events)
  await harness.loops.worker.drain()
  for (const event of events) expect(await inboxRow(event.event_id)).toMatchObject({ status: 'dead', attempts: 2 })
}

const scrape = async (): Promise<string> => {
  const response = await get('/metrics')
  expect(response.statusCode).toBe(200)
  return response.body
}

describe('GET /metrics on the main port', () => {
  it('requires a bearer token from INTERNAL_API_TOKENS', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer not-the-token-0123456789abcdef' }, { authorization: TEST_API_TOKEN }]) {
      const response = await get('/metrics', headers)
      expect(response.statusCode).toBe(401)
      expect(response.json()).toMatchObject({ code: 'UNAUTHORIZED' })
    }
    const response = await get('/metrics')
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(response.body).toContain('# TYPE billing_webhooks_received_total counter')
  })

  it('counts deliveries, rejections, processing outcomes, entitlement answers and requests, and reads the backlogs', async () => {
    const before = await scrape()
    const delta = (after: string, name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0)

    const ids = freshIds()
    const created = subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 })
    const updated = subscriptionEvent('subscription.updated', ids, { status: 'active', time: 60 })
    const late = subscriptionEvent('subscription.updated', ids, { status: 'active', time: 30 })
    await harness.send(created, updated)
    await harness.send(late)
    expect((await post(created)).json()).toEqual({ received: true, duplicate: true })
    const unsigned = await harness.testApp.app.inject({ method: 'POST', url: '/webhooks/paddle', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(created) })
    expect(unsigned.statusCode).toBe(401)
    expect((await post(subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY }), { secret: OTHER_SECRET })).statusCode).toBe(401)
    await makeDead(failingEvent())
    expect((await get(`/internal/accounts/${ids.account}/entitlement`)).json()).toMatchObject({ access: 'granted' })
    expect((await get(`/internal/accounts/${freshIds().account}/entitlement`)).json()).toMatchObject({ access: 'denied' })
    // Two events waiting, the older one received a minute ago.
    const waiting = [subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY }), subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })]
    for (const event of waiting) expect((await post(event)).statusCode).toBe(200)
    await sql('UPDATE paddle_inbox SET received_at = now() - interval \'1 minute\' WHERE event_id = $1', [waiting[0]?.event_id])

    const after = await scrape()
    expect(delta(after, 'billing_webhooks_received_total', { event_type: 'subscription.created', outcome: 'stored' })).toBe(3)
    expect(delta(after, 'billing_webhooks_received_total', { event_type: 'subscription.created', outcome: 'duplicate' })).toBe(1)
    expect(delta(after, 'billing_webhooks_received_total', { event_type: 'subscription.updated', outcome: 'stored' })).toBe(3)
    expect(delta(after, 'billing_webhook_verification_failures_total', { reason: 'missing_header' })).toBe(1)
    expect(delta(after, 'billing_webhook_verification_failures_total', { reason: 'no_matching_signature' })).toBe(1)
    expect(delta(after, 'billing_webhook_secret_matches_total', { secret_index: '0' })).toBe(7)
    expect(delta(after, 'billing_events_processed_total', { status: 'processed', outcome: 'applied' })).toBe(2)
    expect(delta(after, 'billing_events_processed_total', { status: 'processed', outcome: 'stale' })).toBe(1)
    expect(delta(after, 'billing_events_processed_total', { status: 'failed', outcome: 'none' })).toBe(1)
    expect(delta(after, 'billing_events_processed_total', { status: 'dead', outcome: 'none' })).toBe(1)
    expect(delta(after, 'billing_event_processing_lag_seconds_count', {})).toBe(3)
    expect(delta(after, 'billing_entitlement_answers_total', { access: 'granted' })).toBe(1)
    expect(delta(after, 'billing_entitlement_answers_total', { access: 'denied' })).toBe(1)
    expect(delta(after, 'billing_http_request_duration_seconds_count', { method: 'GET', route: '/internal/accounts/:accountId/entitlement', status_code: '200' })).toBe(2)
    expect(delta(after, 'billing_http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/paddle', status_code: '401' })).toBe(2)
    expect(delta(after, 'billing_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status_code: '200' })).toBe(1)

    expect(sample(after, 'billing_inbox_depth')).toBeGreaterThanOrEqual(2)
    expect(sample(after, 'billing_inbox_oldest_pending_seconds')).toBeGreaterThanOrEqual(59)
    expect(sample(after, 'billing_inbox_dead')).toBeGreaterThanOrEqual(1)
    expect(sample(after, 'billing_email_events_pending')).toBeGreaterThanOrEqual(1) // subscription.started: pull only, never sent
    expect(sample(after, 'billing_email_events_dead')).toBe(0)
    // prom-client's default process and Node.js metrics, under the service's billing_ prefix.
    expect(after).toMatch(/^billing_process_cpu_user_seconds_total \d/m)
    expect(after).toMatch(/^billing_nodejs_heap_size_used_bytes \d/m)
    expect(after.match(/^# TYPE \S+/gm)?.filter((line) => !line.startsWith('# TYPE billing_'))).toEqual([])
    for (const secret of [TEST_API_TOKEN, TEST_WEBHOOK_SECRET, OTHER_SECRET]) expect(after).not.toContain(secret)

    await harness.loops.worker.drain()
    expect(sample(await scrape(), 'billing_inbox_oldest_pending_seconds')).toBe(0)
  })
})

describe('METRICS_PORT', () => {
  const freePort = async (): Promise<number> => await new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })

  it('serves /metrics without a token on its own port, and nothing at /metrics on the main port', async () => {
    const metricsPort = await freePort()
    const pgliteDir = mkdtempSync(join(tmpdir(), 'billing-metrics-port-'))
    const service = spawnService('src/server.ts', {
      PORT: '0',
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET,
      INTERNAL_API_TOKENS: TEST_API_TOKEN,
      // It shares this file's database: it must not apply or age the other tests' rows.
      WORKER_ENABLED: 'false',
      SCHEDULER_ENABLED: 'false',
      ...(harness.database.url === undefined ? { PGLITE_DIR: pgliteDir } : { DATABASE_URL: harness.database.url }),
    })
    try {
      const port = await service.listening
      for (let waited = 0; !service.output().includes(`listening at http://127.0.0.1:${metricsPort}`); waited += 50) {
        if (waited > 10_000) throw new Error(`the metrics port never listened:\n${service.output()}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(metrics.status).toBe(200)
      const body = await metrics.text()
      expect(sample(body, 'billing_inbox_depth')).toBeGreaterThanOrEqual(0)
      expect(body).toMatch(/^billing_process_cpu_user_seconds_total \d/m)
      expect(body).not.toContain(TEST_API_TOKEN)
      expect((await fetch(`http://127.0.0.1:${metricsPort}/health/live`)).status).toBe(200)
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404)
      expect((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: auth })).status).toBe(404)
      expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200)
    } finally {
      service.child.kill('SIGTERM')
      const { code } = await service.exited
      rmSync(pgliteDir, { recursive: true, force: true })
      expect(code, service.output()).toBe(0)
    }
  })
})

describe('GET /internal/admin/events', () => {
  interface Listed { eventId: string, eventType: string, status: string, attempts: number, lastError: string | null, nextAttemptAt: string | null }
  const list = async (query: string): Promise<Listed[]> => {
    const response = await get(`/internal/admin/events?${query}`)
    expect(response.statusCode, response.body).toBe(200)
    return response.json<{ events: Listed[] }>().events
  }
  const mine = (events: Listed[], ...ours: PaddleEvent[]) => events.filter((event) => ours.some((our) => our.event_id === event.eventId))

  it('lists dead, failed and pending events, newest first, up to the limit', async () => {
    const [first, second, retrying] = [failingEvent(), failingEvent(), failingEvent()]
    await makeDead(first, second)
    expect((await post(retrying)).statusCode).toBe(200)
    await harness.loops.worker.drain()
    const pending = [subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY }), subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })]
    for (const event of pending) expect((await post(event)).statusCode).toBe(200)

    const lastError = 'InvalidPayloadError: data.status is not one of active, canceled, past_due, paused, trialing'
    const dead = mine(await list('status=dead'), first, second)
    expect(dead.map((event) => event.eventId)).toEqual([second.event_id, first.event_id])
    for (const event of dead) expect(event).toMatchObject({ eventType: 'subscription.updated', status: 'dead', attempts: 2, lastError, nextAttemptAt: null })
    expect((await list('status=dead&limit=1')).map((event) => event.eventId)).toEqual([second.event_id])

    const [failed] = mine(await list('status=failed'), retrying)
    expect(failed).toMatchObject({ eventId: retrying.event_id, status: 'failed', attempts: 1, lastError })
    expect(Date.parse(failed?.nextAttemptAt ?? '')).toBeGreaterThan(Date.now())

    const waiting = mine(await list('status=pending&limit=1000'), ...pending)
    expect(waiting.map((event) => event.eventId)).toEqual([pending[1]?.event_id, pending[0]?.event_id])
    for (const event of waiting) expect(event).toMatchObject({ eventType: 'subscription.created', status: 'pending', attempts: 0, lastError: null, nextAttemptAt: expect.any(String) })
    await harness.loops.worker.drain()
    expect(mine(await list('status=pending'), ...pending)).toEqual([])
  })

  it('answers 400 to a bad status or limit, and 401 without a token', async () => {
    for (const query of ['status=processed', 'status=', '', 'status=dead&limit=0', 'status=dead&limit=1001', 'status=dead&limit=ten', 'status=dead&other=1']) {
      const response = await get(`/internal/admin/events?${query}`)
      expect(response.statusCode, query).toBe(400)
      expect(response.json()).toMatchObject({ code: 'INVALID_REQUEST' })
    }
    expect((await get('/internal/admin/events?status=dead', {})).statusCode).toBe(401)
  })
})

describe('POST /internal/admin/events/:eventId/redrive', () => {
  const redrive = async (eventId: string, headers: Record<string, string> = auth) =>
    await harness.testApp.app.inject({ method: 'POST', url: `/internal/admin/events/${eventId}/redrive`, headers })

  it('puts a dead event whose cause was fixed back to pending, and the worker applies it', async () => {
    const ids = freshIds()
    const event = failingEvent(ids)
    await makeDead(event)
    await sql('UPDATE paddle_inbox SET payload = jsonb_set(payload, \'{status}\', \'"active"\') WHERE event_id = $1', [event.event_id])

    const response = await redrive(event.event_id)
    expect(response.statusCode, response.body).toBe(202)
    expect(response.json()).toEqual({ eventId: event.event_id, status: 'pending' })
    expect(await inboxRow(event.event_id)).toMatchObject({ status: 'pending', attempts: 0 })
    await harness.loops.worker.drain()
    expect(await inboxRow(event.event_id)).toMatchObject({ status: 'processed', outcome: 'applied', attempts: 1 })
    expect((await get(`/internal/subscriptions/${ids.subscription}`)).json()).toMatchObject({ status: 'active' })

    // Processed now: nothing to redrive.
    expect((await redrive(event.event_id)).statusCode).toBe(409)
  })

  it('answers 404 for an unknown event, 409 when the payload is gone, 400 for a malformed id, 401 without a token', async () => {
    expect((await redrive(paddleId('evt'))).statusCode).toBe(404)
    const event = failingEvent()
    await makeDead(event)
    await sql('UPDATE paddle_inbox SET payload = NULL WHERE event_id = $1', [event.event_id])
    const response = await redrive(event.event_id)
    expect(response.statusCode).toBe(409)
    expect(response.json<{ message: string }>().message).toMatch(/retention/)
    expect(await inboxRow(event.event_id)).toMatchObject({ status: 'dead', attempts: 2 })
    expect((await redrive('evt.not;an-id')).statusCode).toBe(400)
    expect((await redrive(event.event_id, {})).statusCode).toBe(401)
  })
})

describe('GET /internal/subscriptions/:id/timeline', () => {
  interface Entry { eventId: string, eventType: string, status: string, outcome: string | null, note: string | null, emailEvents: Array<{ type: string }> }

  it('lists the subscription\'s and its checkout\'s events in occurred_at order, with outcomes and email events', async () => {
    const ids = freshIds()
    const paid = transactionEvent('transaction.paid', ids, { id: ids.checkout, status: 'paid', time: 1, withSubscription: false, payments: [{ status: 'captured' }] })
    const created = subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, transactionId: ids.checkout })
    const completed = transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 3, payments: [{ status: 'captured' }] })
    const scheduled = subscriptionEvent('subscription.updated', ids, { status: 'active', time: 2 * DAY, scheduledChange: { action: 'cancel', effectiveAt: PERIOD + 2 } })
    const late = subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY })
    const canceled = subscriptionEvent('subscription.canceled', ids, { status: 'canceled', time: PERIOD + 2, period: null, nextBilledAt: null, canceledAt: PERIOD + 2 })
    await harness.send(paid, created, completed, scheduled)
    await harness.send(late) // delivered late: older than the stored version
    // Paddle's replay of the same event: a new notification, the same event id.
    expect((await post({ ...scheduled, notification_id: paddleId('ntf') })).json()).toEqual({ received: true, duplicate: true })
    await harness.send(canceled)

    const response = await get(`/internal/subscriptions/${ids.subscription}/timeline`)
    expect(response.statusCode, response.body).toBe(200)
    const { subscription, events } = response.json<{ subscription: unknown, events: Entry[] }>()
    expect(subscription).toMatchObject({ id: ids.subscription, status: 'canceled', accountId: ids.account })
    const summary = events.map((event) => [event.eventId, event.outcome, event.emailEvents.map((email) => email.type)])
    expect(summary).toEqual([
      [paid.event_id, 'applied', []],
      [created.event_id, 'applied', ['subscription.started']],
      [completed.event_id, 'applied', ['payment.succeeded']],
      [late.event_id, 'stale', []],
      [scheduled.event_id, 'applied', ['subscription.cancellation_scheduled']],
      [canceled.event_id, 'applied', ['subscription.canceled']],
    ])
    expect(events.every((event) => event.status === 'processed')).toBe(true)
    expect(events.find((event) => event.eventId === late.event_id)?.note).toMatch(/older than the stored version/)
  })

  it('answers 404 for an unknown subscription and 400 for a malformed id', async () => {
    expect((await get(`/internal/subscriptions/${paddleId('sub')}/timeline`)).statusCode).toBe(404)
    expect((await get('/internal/subscriptions/not-a-subscription/timeline')).statusCode).toBe(400)
    expect((await get(`/internal/subscriptions/${paddleId('sub')}/timeline`, {})).statusCode).toBe(401)
  })
})

describe('readiness and the inbox lag', () => {
  const ready = async () => await harness.testApp.app.inject({ url: '/health/ready' })

  it('is not ready while the oldest pending event waits longer than READY_MAX_INBOX_LAG_SECONDS', async () => {
    expect((await ready()).json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', inbox_lag: 'ok' } })
    const event = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })
    expect((await post(event)).statusCode).toBe(200)
    expect((await ready()).statusCode).toBe(200) // just received
    await sql('UPDATE paddle_inbox SET received_at = now() - interval \'2 minutes\' WHERE event_id = $1', [event.event_id])

    const response = await ready()
    expect(response.statusCode).toBe(503)
    expect(response.json()).toMatchObject({ status: 'not_ready', checks: { database: 'ok', migrations: 'ok' } })
    expect(response.json<{ checks: { inbox_lag: string } }>().checks.inbox_lag).toMatch(/^the oldest pending event has waited 12\d s \(limit 60 s\)$/)

    await harness.loops.worker.drain()
    expect((await ready()).statusCode).toBe(200)
  })

  describe('with READY_MAX_INBOX_LAG_SECONDS=0', () => {
    const unchecked = useHarness({ now: Date.parse(at(DAY)), env: { READY_MAX_INBOX_LAG_SECONDS: '0' } })

    it('has no inbox lag check', async () => {
      const event = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })
      expect((await deliver(unchecked.testApp.app, event, { timestamp: Math.floor(unchecked.now / 1000) })).statusCode).toBe(200)
      await unchecked.database.handle.query({ name: 'ops_backdate_unchecked', text: 'UPDATE paddle_inbox SET received_at = now() - interval \'1 day\' WHERE event_id = $1' }, [event.event_id])
      const response = await unchecked.testApp.app.inject({ url: '/health/ready' })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok' } })
    })
  })
})
