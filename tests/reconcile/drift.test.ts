/**
 * The drift report and resync routes (POST /internal/admin/reconcile, POST
 * /internal/admin/subscriptions/:id/resync) against the Paddle API stand-in, driven through the
 * official SDK: what is reported, what a real run applies through the inbox and the worker, that a
 * resync never moves state backwards, the email age rule, Paddle's failures, and paging.
 *
 * Every test starts from empty state tables and an empty Paddle (see beforeEach), so each report's
 * `checked` and `drifted` are exact. The stand-in serves at most 2 subscriptions per page, so every
 * report with more than two pages through Paddle's list.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { canonicalTimestamp } from '#src/platform/timestamps.js'
import { createLogger } from '#src/platform/logger.js'
import { createReconciler, type ReconcilerDependencies } from '#src/reconcile/reconciler.js'
import { buildTestApp, LogCapture, TEST_API_TOKEN, testConfig, type TestApp } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import type { PaddleEvent } from '../helpers/paddle.js'
import { startPaddleStandIn, type PaddleStandIn } from '../helpers/paddle-stand-in.js'
import { at, BASIC, DAY, freshIds, PRO, subscriptionEvent, type ScenarioIds, type SubscriptionSpec } from '../helpers/scenarios.js'

type Entity = Record<string, any>

const PERIOD = 30 * DAY
const HOUR = 3600
/** The app's time: ten days into the scenarios. Changes older than 72 hours (EMAIL_EVENT_MAX_AGE_HOURS) are in the past. */
const NOW = 10 * DAY
/** What our webhooks built: active, first period [0, PERIOD], updated at 2 s. */
const BASE: SubscriptionSpec = { status: 'active', time: 2, period: [0, PERIOD] }
const WRONG_API_KEY = 'pdl_sdbx_apikey_01wrongkey00000000000000000_NotTheStandInsKey0000000'
const auth = { authorization: `Bearer ${TEST_API_TOKEN}` }

const harness = useHarness({ now: Date.parse(at(NOW)) })

let standIn: PaddleStandIn
let app: FastifyInstance
/** Every line written by the reconciling app and its reconciler. */
const logs = new LogCapture()
/** Whether storing resync events sets the worker going (as the wake signal does in the service). */
let autoApply = true
const draining: Array<Promise<unknown>> = []
const drainErrors: unknown[] = []
let reconcilerDependencies: ReconcilerDependencies

// After useHarness's own beforeAll (hooks run in the order they are declared): the database exists.
beforeAll(async () => {
  standIn = await startPaddleStandIn({ maxPerPage: 2 })
  const env = standIn.serviceEnv
  const config = testConfig(env)
  const logger = createLogger(config, logs.stream)
  reconcilerDependencies = {
    database: harness.database.handle,
    logger,
    clock: () => harness.now,
    apiOptions: { retryBaseMs: 5 },
    applyWaitMs: 5000,
    onStored: () => {
      if (autoApply) draining.push(harness.loops.worker.drain().catch((error: unknown) => drainErrors.push(error)))
    },
  }
  const reconciler = createReconciler(config, reconcilerDependencies)
  expect(reconciler).not.toBeNull()
  app = (await buildTestApp(harness.database, { env, clock: () => harness.now, dependencies: { logger, reconciler } })).app
})

afterAll(async () => {
  await app?.close()
  await standIn?.close()
})

beforeEach(async () => {
  for (const table of ['paddle_inbox', 'subscription_items', 'subscriptions', 'customers', 'transactions', 'adjustments', 'email_events']) {
    await harness.database.handle.query({ name: `drift_reset_${table}`, text: `DELETE FROM ${table}` }, [])
  }
  standIn.subscriptions.length = 0
  standIn.requests.length = 0
})

afterEach(async () => {
  await Promise.all(draining.splice(0))
  expect(drainErrors).toEqual([])
})

// --- Helpers ----------------------------------------------------------------------------------

const post = async (url: string, headers: Record<string, string> = auth, target: FastifyInstance = app): Promise<LightMyRequestResponse> =>
  await target.inject({ method: 'POST', url, headers })
const reconcile = async (query = '', target: FastifyInstance = app) => await post(`/internal/admin/reconcile${query}`, auth, target)
const resync = async (subscriptionId: string, headers: Record<string, string> = auth) =>
  await post(`/internal/admin/subscriptions/${subscriptionId}/resync`, headers)
const get = async (url: string) => await app.inject({ url, headers: auth })

async function report (query: string): Promise<Entity> {
  const response = await reconcile(query)
  expect(response.statusCode, response.body).toBe(200)
  return response.json()
}

/** A subscription built by a webhook (subscription.created, applied). */
async function ours (spec: Partial<SubscriptionSpec> = {}): Promise<{ ids: ScenarioIds, event: PaddleEvent }> {
  const ids = freshIds()
  const event = subscriptionEvent('subscription.created', ids, { ...BASE, ...spec })
  await harness.send(event)
  return { ids, event }
}

/** Paddle's version of a subscription (a raw entity, as GET /subscriptions lists it). */
function paddleHas (ids: ScenarioIds, spec: Partial<SubscriptionSpec>): Entity {
  const entity = subscriptionEvent('subscription.updated', ids, { ...BASE, ...spec }).data
  standIn.subscriptions.push(entity)
  return entity
}

/** Another reconciling app on the same database and stand-in, with other settings; its lines go to the same capture. */
async function otherApp (env: Record<string, string>): Promise<TestApp> {
  const fullEnv = { ...standIn.serviceEnv, ...env }
  const config = testConfig(fullEnv)
  const logger = createLogger(config, logs.stream)
  return await buildTestApp(harness.database, {
    env: fullEnv,
    clock: () => harness.now,
    dependencies: { logger, reconciler: createReconciler(config, { ...reconcilerDependencies, logger }) },
  })
}

const resyncId = (subscriptionId: string, updatedAt: string): string => `resync_${subscriptionId}_${updatedAt.replace(/\D/g, '')}`
const item = (spec: { priceId: string }, quantity = 1) => ({ priceId: spec.priceId, quantity })

const query = async <Row>(name: string, text: string, values: unknown[] = []): Promise<Row[]> =>
  await harness.database.handle.query<Row>({ name: `drift_${name}`, text }, values)

/** Everything a report could change: state rows with their versions, the inbox, the email events. */
async function everything (): Promise<Entity> {
  return {
    subscriptions: await query('all_subscriptions', 'SELECT id, status, version, row_updated_at::text FROM subscriptions ORDER BY id'),
    items: await query('all_items', 'SELECT subscription_id, price_id, quantity FROM subscription_items ORDER BY subscription_id, price_id'),
    customers: await query('all_customers', 'SELECT id, version FROM customers ORDER BY id'),
    inbox: await query('all_inbox', 'SELECT event_id, status, outcome FROM paddle_inbox ORDER BY event_id'),
    emailEvents: await query('all_email_events', 'SELECT id, status FROM email_events ORDER BY id'),
  }
}

const inboxCount = async (): Promise<number> =>
  Number((await query<{ count: string }>('inbox_count', 'SELECT count(*)::text AS count FROM paddle_inbox'))[0]?.count)

async function inboxRow (eventId: string): Promise<Entity | undefined> {
  const [row] = await query<Entity>('inbox_row',
    'SELECT event_id, event_type, entity_id, origin, occurred_at::text AS occurred_at, status, outcome FROM paddle_inbox WHERE event_id = $1', [eventId])
  return row === undefined ? undefined : { ...row, occurred_at: canonicalTimestamp(row.occurred_at) }
}

async function subscription (id: string): Promise<Entity> {
  const response = await get(`/internal/subscriptions/${id}`)
  expect(response.statusCode, response.body).toBe(200)
  return response.json()
}

/** What GET /internal/subscriptions/:id says, in the report's terms. */
async function compared (id: string): Promise<Entity> {
  const state = await subscription(id)
  return {
    status: state.status,
    items: state.items.map((stored: Entity) => ({ priceId: stored.priceId, quantity: stored.quantity })),
    nextBilledAt: state.nextBilledAt,
    scheduledChange: state.scheduledChange,
    updatedAt: state.updatedAt,
  }
}

/** Paddle's entity in the report's terms. */
function comparedPaddle (entity: Entity): Entity {
  const change = entity.scheduled_change
  return {
    status: entity.status,
    items: entity.items.map((listed: Entity) => ({ priceId: listed.price.id, quantity: listed.quantity })),
    nextBilledAt: entity.next_billed_at,
    scheduledChange: change === null ? null : { action: change.action, effectiveAt: change.effective_at, resumeAt: change.resume_at },
    updatedAt: entity.updated_at,
  }
}

const byId = (a: { subscriptionId: string }, b: { subscriptionId: string }): number =>
  a.subscriptionId < b.subscriptionId ? -1 : a.subscriptionId > b.subscriptionId ? 1 : 0

/**
 * One subscription of each kind of drift, one identical and one Paddle does not list, and the
 * drifts the report must give (Paddle's in id order, then ours only).
 */
async function driftingWorld () {
  const status = await ours()
  const statusAtPaddle = paddleHas(status.ids, { status: 'past_due', time: 5 * DAY })
  const price = await ours()
  const priceAtPaddle = paddleHas(price.ids, { time: 5 * DAY, items: [PRO] })
  const quantity = await ours({ items: [BASIC, PRO] })
  const quantityAtPaddle = paddleHas(quantity.ids, { time: 5 * DAY, items: [BASIC, { ...PRO, quantity: 3 }] })
  const billing = await ours()
  const billingAtPaddle = paddleHas(billing.ids, { time: 5 * DAY, nextBilledAt: PERIOD + 7 * DAY })
  const cancelScheduled = await ours()
  const cancelScheduledAtPaddle = paddleHas(cancelScheduled.ids, { time: 5 * DAY, scheduledChange: { action: 'cancel', effectiveAt: PERIOD } })
  const pauseDropped = await ours({ scheduledChange: { action: 'pause', effectiveAt: PERIOD, resumeAt: PERIOD + 10 * DAY } })
  const pauseDroppedAtPaddle = paddleHas(pauseDropped.ids, { time: 5 * DAY })
  const missingIds = freshIds()
  const missingAtPaddle = paddleHas(missingIds, { time: 6 * DAY, items: [{ ...BASIC, quantity: 2 }] })
  const unknown = await ours()
  const identical = await ours()
  standIn.subscriptions.push(structuredClone(identical.event.data))

  const differs = (ids: ScenarioIds, entity: Entity, differences: Entity[]) => ({
    subscriptionId: ids.subscription, kind: 'differs', differences, localUpdatedAt: at(2), paddleUpdatedAt: entity.updated_at,
  })
  const atPaddle = [
    differs(status.ids, statusAtPaddle, [{ field: 'status', local: 'active', paddle: 'past_due' }]),
    differs(price.ids, priceAtPaddle, [{ field: 'items', local: [item(BASIC)], paddle: [item(PRO)] }]),
    differs(quantity.ids, quantityAtPaddle, [{ field: 'items', local: [item(BASIC), item(PRO)], paddle: [item(BASIC), item(PRO, 3)] }]),
    differs(billing.ids, billingAtPaddle, [{ field: 'nextBilledAt', local: at(PERIOD), paddle: at(PERIOD + 7 * DAY) }]),
    differs(cancelScheduled.ids, cancelScheduledAtPaddle, [
      { field: 'scheduledChange', local: null, paddle: { action: 'cancel', effectiveAt: at(PERIOD), resumeAt: null } },
    ]),
    differs(pauseDropped.ids, pauseDroppedAtPaddle, [
      { field: 'scheduledChange', local: { action: 'pause', effectiveAt: at(PERIOD), resumeAt: at(PERIOD + 10 * DAY) }, paddle: null },
    ]),
    {
      subscriptionId: missingIds.subscription,
      kind: 'missing_locally',
      differences: [
        { field: 'status', local: null, paddle: 'active' },
        { field: 'items', local: [], paddle: [item(BASIC, 2)] },
        { field: 'nextBilledAt', local: null, paddle: at(PERIOD) },
      ],
      localUpdatedAt: null,
      paddleUpdatedAt: at(6 * DAY),
    },
  ].sort(byId)
  const unknownDrift = { subscriptionId: unknown.ids.subscription, kind: 'unknown_to_paddle', differences: [], localUpdatedAt: at(2), paddleUpdatedAt: null }
  const paddleEntities = new Map([status, price, quantity, billing, cancelScheduled, pauseDropped].map((built, index) =>
    [built.ids.subscription, [statusAtPaddle, priceAtPaddle, quantityAtPaddle, billingAtPaddle, cancelScheduledAtPaddle, pauseDroppedAtPaddle][index] as Entity]))
  paddleEntities.set(missingIds.subscription, missingAtPaddle)
  return { atPaddle, unknownDrift, paddleEntities, missingIds, unknown, identical }
}

// --- Tests ------------------------------------------------------------------------------------

describe('POST /internal/admin/reconcile: access and parameters', () => {
  it('needs a bearer token from INTERNAL_API_TOKENS', async () => {
    const refused: Array<Record<string, string>> = [{}, { authorization: 'Bearer not-the-token-0123456789abcdef' }, { authorization: TEST_API_TOKEN }]
    for (const headers of refused) {
      const response = await post('/internal/admin/reconcile?dryRun=false', headers)
      expect(response.statusCode).toBe(401)
      expect(response.json()).toMatchObject({ code: 'UNAUTHORIZED' })
    }
    expect(standIn.requests).toEqual([])
  })

  it('answers 501 RECONCILIATION_OFF without PADDLE_API_KEY, on both routes, and asks Paddle nothing', async () => {
    const { ids } = await ours()
    const off = harness.testApp.app // the harness's app has no PADDLE_API_KEY
    for (const url of ['/internal/admin/reconcile', '/internal/admin/reconcile?dryRun=false', `/internal/admin/subscriptions/${ids.subscription}/resync`]) {
      const response = await post(url, auth, off)
      expect(response.statusCode, url).toBe(501)
      expect(response.json()).toEqual({ code: 'RECONCILIATION_OFF', message: 'Reconciliation with Paddle is off: PADDLE_API_KEY is not set' })
    }
    expect(standIn.requests).toEqual([])
  })

  it.each([
    ['?dryRun=yes'],
    ['?dryRun=2'],
    ['?dryRun=false&force=true'],
    ['?dry_run=false'],
  ])('refuses the query %s with 400 INVALID_REQUEST, before asking Paddle', async (search) => {
    const response = await reconcile(search)
    expect(response.statusCode).toBe(400)
    expect(response.json()).toMatchObject({ code: 'INVALID_REQUEST' })
    expect(standIn.requests).toEqual([])
  })

  it('is a dry run unless dryRun=false is given', async () => {
    const { ids } = await ours()
    paddleHas(ids, { status: 'past_due', time: 5 * DAY })
    const before = await everything()
    for (const search of ['', '?dryRun=true']) {
      const answer = await report(search)
      expect(answer).toMatchObject({ dryRun: true, checked: 1, drifted: 1 })
      expect(answer.subscriptions[0]).not.toHaveProperty('result')
    }
    expect(await everything()).toEqual(before)
    expect((await subscription(ids.subscription)).status).toBe('active')
  })
})

describe('dry run', () => {
  it('lists every difference in status, items, next billing date and scheduled change, and subscriptions on one side only', async () => {
    const world = await driftingWorld()
    const answer = await report('?dryRun=true')
    expect(answer).toEqual({
      dryRun: true,
      checked: 8, // the 6 that differ, the one we lack, the identical one; not the one Paddle does not list
      drifted: 8,
      subscriptions: [...world.atPaddle, world.unknownDrift],
      truncated: false,
    })
    expect(answer.subscriptions.map((drift: Entity) => drift.subscriptionId)).not.toContain(world.identical.ids.subscription)
    // Four pages of two: every subscription at Paddle was read, every status asked for.
    expect(standIn.count('subscriptions')).toBeGreaterThanOrEqual(4)
    expect(standIn.requests[0]?.query.get('status')?.split(',').sort()).toEqual(['active', 'canceled', 'past_due', 'paused', 'trialing'])
  })

  it('does not take another notation of the same state for drift: item order, timestamp precision and offset', async () => {
    const spec: Partial<SubscriptionSpec> = { items: [BASIC, PRO], scheduledChange: { action: 'cancel', effectiveAt: PERIOD } }
    const { ids, event } = await ours(spec)
    const entity = structuredClone(event.data)
    entity.items.reverse()
    entity.next_billed_at = at(PERIOD).replace('.000000Z', '.000000000Z') // nanoseconds, as Paddle sometimes writes
    entity.scheduled_change.effective_at = at(PERIOD).replace('.000000Z', '+00:00')
    entity.updated_at = at(5 * DAY) // Paddle changed something we do not compare
    standIn.subscriptions.push(entity)
    expect(entity.items.map((listed: Entity) => listed.price.id)).toEqual([PRO.priceId, BASIC.priceId])

    expect(await report('?dryRun=true')).toEqual({ dryRun: true, checked: 1, drifted: 0, subscriptions: [], truncated: false })
    const response = await resync(ids.subscription)
    expect(response.json()).toEqual({ subscriptionId: ids.subscription, drifted: false, drift: null })
    expect(await inboxCount()).toBe(1)
  })

  it('changes nothing: no state, no inbox row, no email event', async () => {
    await driftingWorld()
    const before = await everything()
    expect(before.inbox).toHaveLength(8) // the webhooks that built our side
    await report('?dryRun=true')
    await harness.loops.worker.drain()
    expect(await everything()).toEqual(before)
  })
})

describe('real run (dryRun=false)', () => {
  it('applies Paddle\'s state through the inbox and says so per subscription', async () => {
    const world = await driftingWorld()
    const untouched = (await everything()).subscriptions.find((row: Entity) => row.id === world.unknown.ids.subscription)
    const inboxBefore = await inboxCount()

    const answer = await report('?dryRun=false')
    const applied = world.atPaddle.map((drift) => ({ ...drift, result: 'applied', resyncEventId: resyncId(drift.subscriptionId, drift.paddleUpdatedAt) }))
    expect(answer).toEqual({ dryRun: false, checked: 8, drifted: 8, subscriptions: [...applied, world.unknownDrift], truncated: false })

    // One resync event per drifted subscription Paddle has, in the inbox as a subscription.updated from reconciliation.
    expect(await inboxCount()).toBe(inboxBefore + 7)
    for (const drift of applied) {
      expect(await inboxRow(drift.resyncEventId)).toEqual({
        event_id: drift.resyncEventId,
        event_type: 'subscription.updated',
        entity_id: drift.subscriptionId,
        origin: 'reconcile',
        occurred_at: drift.paddleUpdatedAt,
        status: 'processed',
        outcome: 'applied',
      })
      // Our state is now Paddle's.
      expect(await compared(drift.subscriptionId)).toEqual(comparedPaddle(world.paddleEntities.get(drift.subscriptionId) as Entity))
    }
    // The subscription we lacked exists now and entitles its account.
    const entitlement = await get(`/internal/accounts/${world.missingIds.account}/entitlement`)
    expect(entitlement.json()).toMatchObject({ access: 'granted', reason: 'active' })

    // The one Paddle does not list is reported and left alone.
    expect((await everything()).subscriptions.find((row: Entity) => row.id === world.unknown.ids.subscription)).toEqual(untouched)
    expect(await inboxRow(resyncId(world.unknown.ids.subscription, at(2)))).toBeUndefined()

    // The timeline shows the resync after the webhook that built the subscription.
    const first = applied.find((drift) => drift.kind === 'differs') as Entity
    const timeline = (await get(`/internal/subscriptions/${first.subscriptionId}/timeline`)).json()
    expect(timeline.events.map((event: Entity) => [event.eventType, event.origin])).toEqual([['subscription.created', 'webhook'], ['subscription.updated', 'reconcile']])
    expect(timeline.events[1]).toMatchObject({ eventId: first.resyncEventId, occurredAt: first.paddleUpdatedAt, status: 'processed', outcome: 'applied' })

    // Asked again: nothing left but the subscription Paddle does not list, and nothing new stored.
    const unknownOnly = { checked: 8, drifted: 1, subscriptions: [world.unknownDrift], truncated: false }
    expect(await report('?dryRun=true')).toEqual({ dryRun: true, ...unknownOnly })
    const inboxAfter = await inboxCount()
    expect(await report('?dryRun=false')).toEqual({ dryRun: false, ...unknownOnly })
    expect(await inboxCount()).toBe(inboxAfter)
  })

  it('answers queued when no worker applied the resync in time; a worker applies it later', async () => {
    const { ids, event } = await ours()
    const atPaddle = paddleHas(ids, { status: 'paused', time: 5 * DAY, pausedAt: 5 * DAY, period: null, nextBilledAt: null })
    autoApply = false
    reconcilerDependencies.applyWaitMs = 150
    try {
      const answer = await report('?dryRun=false')
      expect(answer.subscriptions).toEqual([expect.objectContaining({ result: 'queued', resyncEventId: resyncId(ids.subscription, at(5 * DAY)) })])
      expect(await inboxRow(resyncId(ids.subscription, at(5 * DAY)))).toMatchObject({ status: 'pending', outcome: null })
      expect((await subscription(ids.subscription)).updatedAt).toBe(event.data.updated_at)

      // Asked again before a worker ran: the same event, not a second one.
      const inbox = await inboxCount()
      expect((await report('?dryRun=false')).subscriptions).toEqual([expect.objectContaining({ result: 'queued', resyncEventId: resyncId(ids.subscription, at(5 * DAY)) })])
      expect(await inboxCount()).toBe(inbox)
    } finally {
      autoApply = true
      reconcilerDependencies.applyWaitMs = 5000
    }
    expect(await harness.loops.worker.drain()).toBe(1)
    expect(await compared(ids.subscription)).toEqual(comparedPaddle(atPaddle))
    expect(await report('?dryRun=false')).toMatchObject({ checked: 1, drifted: 0, subscriptions: [] })
  })
})

describe('never backwards', () => {
  it('reports an older Paddle state but keeps ours: stale, nothing changed, asked again stores nothing', async () => {
    // Ours is from a webhook at 5 days; Paddle lists a version from 3 days (a lagging read) that says past_due.
    const newer = await ours({ time: 5 * DAY })
    paddleHas(newer.ids, { status: 'past_due', time: 3 * DAY })
    // Same entity updated_at as ours, another status: ours (from the webhook, occurred later) wins the tie.
    const tie = await ours({ time: 4 * DAY })
    paddleHas(tie.ids, { status: 'paused', time: 4 * DAY, pausedAt: 4 * DAY })

    const dry = await report('?dryRun=true')
    const expected = [
      { subscriptionId: newer.ids.subscription, kind: 'differs', differences: [{ field: 'status', local: 'active', paddle: 'past_due' }], localUpdatedAt: at(5 * DAY), paddleUpdatedAt: at(3 * DAY) },
      { subscriptionId: tie.ids.subscription, kind: 'differs', differences: [{ field: 'status', local: 'active', paddle: 'paused' }], localUpdatedAt: at(4 * DAY), paddleUpdatedAt: at(4 * DAY) },
    ].sort(byId)
    expect(dry).toEqual({ dryRun: true, checked: 2, drifted: 2, subscriptions: expected, truncated: false })

    const before = await everything()
    const stale = expected.map((drift) => ({ ...drift, result: 'stale', resyncEventId: resyncId(drift.subscriptionId, drift.paddleUpdatedAt) }))
    expect(await report('?dryRun=false')).toEqual({ dryRun: false, checked: 2, drifted: 2, subscriptions: stale, truncated: false })
    const after = await everything()
    expect(after.subscriptions).toEqual(before.subscriptions)
    expect(after.items).toEqual(before.items)
    expect(after.emailEvents).toEqual(before.emailEvents)
    for (const drift of stale) expect(await inboxRow(drift.resyncEventId)).toMatchObject({ origin: 'reconcile', status: 'processed', outcome: 'stale' })
    expect((await subscription(newer.ids.subscription)).status).toBe('active')
    expect((await subscription(tie.ids.subscription)).status).toBe('active')

    const inbox = await inboxCount()
    expect(await report('?dryRun=false')).toEqual({ dryRun: false, checked: 2, drifted: 2, subscriptions: stale, truncated: false })
    expect(await inboxCount()).toBe(inbox)
  })
})

describe('email events from a resync', () => {
  it('follow the age rule: a change an hour old is pending, one five days old is suppressed', async () => {
    const recent = await ours()
    paddleHas(recent.ids, { status: 'canceled', time: NOW - HOUR, canceledAt: NOW - HOUR, period: null, nextBilledAt: null })
    const old = await ours()
    paddleHas(old.ids, { status: 'canceled', time: NOW - 5 * DAY, canceledAt: NOW - 5 * DAY, period: null, nextBilledAt: null })

    const answer = await report('?dryRun=false')
    expect(answer.subscriptions.map((drift: Entity) => drift.result)).toEqual(['applied', 'applied'])

    const emailEvents = async (sourceEventId: string) => (await query<Entity>('email_events_of',
      'SELECT type, status, subscription_id, occurred_at::text AS occurred_at FROM email_events WHERE source_event_id = $1 ORDER BY seq', [sourceEventId]))
      .map((row) => ({ ...row, occurred_at: canonicalTimestamp(row.occurred_at) }))
    expect(await emailEvents(resyncId(recent.ids.subscription, at(NOW - HOUR)))).toEqual([
      { type: 'subscription.canceled', status: 'pending', subscription_id: recent.ids.subscription, occurred_at: at(NOW - HOUR) },
    ])
    expect(await emailEvents(resyncId(old.ids.subscription, at(NOW - 5 * DAY)))).toEqual([
      { type: 'subscription.canceled', status: 'suppressed', subscription_id: old.ids.subscription, occurred_at: at(NOW - 5 * DAY) },
    ])
    // Both accounts lost access: the state changed either way.
    for (const ids of [recent.ids, old.ids]) {
      expect((await get(`/internal/accounts/${ids.account}/entitlement`)).json()).toMatchObject({ access: 'denied', reason: 'canceled' })
    }
  })
})

describe('POST /internal/admin/subscriptions/:id/resync', () => {
  it('applies Paddle\'s state to that subscription only', async () => {
    const target = await ours()
    const atPaddle = paddleHas(target.ids, { status: 'past_due', time: 5 * DAY })
    const other = await ours()
    paddleHas(other.ids, { status: 'paused', time: 5 * DAY, pausedAt: 5 * DAY })

    const response = await resync(target.ids.subscription)
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toEqual({
      subscriptionId: target.ids.subscription,
      drifted: true,
      drift: {
        subscriptionId: target.ids.subscription,
        kind: 'differs',
        differences: [{ field: 'status', local: 'active', paddle: 'past_due' }],
        localUpdatedAt: at(2),
        paddleUpdatedAt: at(5 * DAY),
        result: 'applied',
        resyncEventId: resyncId(target.ids.subscription, at(5 * DAY)),
      },
    })
    expect(await compared(target.ids.subscription)).toEqual(comparedPaddle(atPaddle))
    expect((await subscription(other.ids.subscription)).status).toBe('active')
    expect(standIn.requests.map((request) => request.query.get('id'))).toEqual([target.ids.subscription])
  })

  it('brings in a subscription we lack', async () => {
    const ids = freshIds()
    const atPaddle = paddleHas(ids, { time: 6 * DAY })
    const response = await resync(ids.subscription)
    expect(response.json()).toMatchObject({ subscriptionId: ids.subscription, drifted: true, drift: { kind: 'missing_locally', result: 'applied' } })
    expect(await compared(ids.subscription)).toEqual(comparedPaddle(atPaddle))
  })

  it('answers drifted: false and stores nothing for a subscription that matches Paddle', async () => {
    const { ids, event } = await ours()
    standIn.subscriptions.push(structuredClone(event.data))
    const before = await everything()
    const response = await resync(ids.subscription)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ subscriptionId: ids.subscription, drifted: false, drift: null })
    expect(await everything()).toEqual(before)
  })

  it('answers 404 for a subscription Paddle does not know, ours or not', async () => {
    const { ids } = await ours()
    for (const id of [ids.subscription, freshIds().subscription]) {
      const response = await resync(id)
      expect(response.statusCode).toBe(404)
      expect(response.json()).toMatchObject({ code: 'NOT_FOUND' })
    }
    expect((await subscription(ids.subscription)).status).toBe('active')
  })

  it('answers 400 for a malformed id and 401 without a token, before asking Paddle', async () => {
    for (const id of ['sub_NOTLOWER', 'ctm_01hv8y5ehszzq0yv20ttx3166a', 'sub_', 'sub_abc-def']) {
      const response = await resync(id)
      expect(response.statusCode, id).toBe(400)
      expect(response.json()).toMatchObject({ code: 'INVALID_REQUEST' })
    }
    const response = await resync(freshIds().subscription, {})
    expect(response.statusCode).toBe(401)
    expect(standIn.requests).toEqual([])
  })
})

describe('when Paddle cannot be asked', () => {
  it('answers 502 PADDLE_API_ERROR naming a refused key, without the key, and does not retry', async () => {
    const refused = await otherApp({ PADDLE_API_KEY: WRONG_API_KEY })
    try {
      const ids = freshIds()
      paddleHas(ids, { time: 6 * DAY })
      for (const url of ['/internal/admin/reconcile?dryRun=false', `/internal/admin/subscriptions/${ids.subscription}/resync`]) {
        const before = standIn.count('subscriptions')
        const response = await post(url, auth, refused.app)
        expect(response.statusCode, url).toBe(502)
        const body = response.json()
        expect(body.code).toBe('PADDLE_API_ERROR')
        expect(body.message).toMatch(/unauthorized \(invalid_token\)/)
        expect(response.body).not.toContain(WRONG_API_KEY)
        expect(response.body).not.toContain(WRONG_API_KEY.slice(-20))
        expect(standIn.count('subscriptions') - before).toBe(1)
      }
      expect(standIn.requests.at(-1)?.authorization).toMatch(new RegExp(`^bearer ${WRONG_API_KEY}$`, 'i'))
      expect(await inboxCount()).toBe(0)
    } finally {
      await refused.app.close()
    }
    const refusals = logs.records().filter((line) => line.msg === 'Paddle refused the API key: check PADDLE_API_KEY and its permissions (event.read, notification.read, notification.write, subscription.read)')
    expect(refusals.length).toBeGreaterThanOrEqual(2)
    expect(refusals[0]).toMatchObject({ level: 50, step: 'drift', kind: 'unauthorized' })
  })

  it('answers 502 for a key that lacks a permission (403 forbidden)', async () => {
    standIn.failNext('subscriptions', { status: 403 })
    const before = standIn.count('subscriptions')
    const response = await reconcile('?dryRun=true')
    expect(response.statusCode).toBe(502)
    expect(response.json()).toEqual({ code: 'PADDLE_API_ERROR', message: expect.stringMatching(/unauthorized \(forbidden\)/) })
    expect(standIn.count('subscriptions') - before).toBe(1)
  })

  it('retries 5xx answers, and answers 502 unavailable after the last attempt', async () => {
    const { ids } = await ours()
    paddleHas(ids, { status: 'past_due', time: 5 * DAY })

    standIn.failNext('subscriptions', { status: 500 }, 4)
    let before = standIn.count('subscriptions')
    const failed = await reconcile('?dryRun=false')
    expect(failed.statusCode).toBe(502)
    expect(failed.json()).toEqual({ code: 'PADDLE_API_ERROR', message: expect.stringMatching(/unavailable \(internal_error\)/) })
    expect(standIn.count('subscriptions') - before).toBe(4)
    expect(await inboxCount()).toBe(1) // the webhook only
    expect((await subscription(ids.subscription)).status).toBe('active')

    standIn.failNext('subscriptions', { status: 503 }, 3)
    before = standIn.count('subscriptions')
    const recovered = await report('?dryRun=false')
    expect(recovered.subscriptions).toEqual([expect.objectContaining({ subscriptionId: ids.subscription, result: 'applied' })])
    expect(standIn.count('subscriptions') - before).toBe(4)
    expect(logs.records().filter((line) => line.msg === 'Paddle API call failed; retrying' && line.kind === 'unavailable').length).toBeGreaterThanOrEqual(6)
  })

  it('retries an answer that is not Paddle\'s JSON (a proxy\'s error page), then gives up with 502', async () => {
    standIn.failNext('subscriptions', { notJson: true }, 4)
    const before = standIn.count('subscriptions')
    const response = await resync(freshIds().subscription)
    expect(response.statusCode).toBe(502)
    expect(response.json()).toEqual({ code: 'PADDLE_API_ERROR', message: expect.stringMatching(/unavailable: the answer was not Paddle's JSON/) })
    expect(standIn.count('subscriptions') - before).toBe(4)
  })

  it('gives up at once on a Retry-After longer than a minute', async () => {
    standIn.failNext('subscriptions', { status: 429, retryAfterSeconds: 120 })
    const before = standIn.count('subscriptions')
    const response = await reconcile('?dryRun=true')
    expect(response.statusCode).toBe(502)
    expect(response.json()).toEqual({ code: 'PADDLE_API_ERROR', message: expect.stringMatching(/rate_limited \(too_many_requests\)/) })
    expect(standIn.count('subscriptions') - before).toBe(1)
  })

  it('gives up on a Paddle that does not answer after PADDLE_API_TIMEOUT_MS, for each attempt', async () => {
    const impatient = await otherApp({ PADDLE_API_TIMEOUT_MS: '100' })
    try {
      standIn.failNext('subscriptions', { hang: true }, 4)
      const before = standIn.count('subscriptions')
      const started = Date.now()
      const response = await post('/internal/admin/reconcile?dryRun=true', auth, impatient.app)
      expect(response.statusCode).toBe(502)
      expect(response.json()).toEqual({ code: 'PADDLE_API_ERROR', message: expect.stringMatching(/timeout: no answer within 100 ms/) })
      expect(standIn.count('subscriptions') - before).toBe(4)
      expect(Date.now() - started).toBeGreaterThanOrEqual(400)
    } finally {
      await impatient.app.close()
    }
  })

  it('waits out a 429 for its Retry-After, then succeeds', async () => {
    const ids = freshIds()
    paddleHas(ids, { time: 6 * DAY })
    standIn.failNext('subscriptions', { status: 429, retryAfterSeconds: 1 })
    const before = standIn.count('subscriptions')
    const started = Date.now()
    const answer = await report('?dryRun=true')
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    expect(answer).toMatchObject({ checked: 1, drifted: 1 })
    expect(standIn.count('subscriptions') - before).toBe(2)
    expect(logs.records().filter((line) => line.msg === 'Paddle API call failed; retrying' && line.kind === 'rate_limited').at(-1))
      .toMatchObject({ retry_in_ms: 1000, code: 'too_many_requests' })
  })
})

describe('paging', () => {
  it('reads every page of Paddle\'s subscriptions', async () => {
    const identical = [await ours(), await ours(), await ours()]
    for (const { event } of identical) standIn.subscriptions.push(structuredClone(event.data))
    const lacking = [freshIds(), freshIds()]
    for (const ids of lacking) paddleHas(ids, { time: 6 * DAY })

    const answer = await report('?dryRun=true')
    expect(answer).toMatchObject({ checked: 5, drifted: 2, truncated: false })
    expect(answer.subscriptions.map((drift: Entity) => drift.subscriptionId).sort()).toEqual(lacking.map((ids) => ids.subscription).sort())
    expect(answer.subscriptions.map((drift: Entity) => drift.kind)).toEqual(['missing_locally', 'missing_locally'])

    // Pages of 2, 2 and 1, each after the last id of the one before.
    const sorted = standIn.subscriptions.map((entity) => String(entity.id)).sort()
    expect(standIn.requests.map((request) => request.query.get('after'))).toEqual([null, sorted[1], sorted[3]])
  })
})

describe('logs', () => {
  it('never contain the Paddle API key or the internal token', async () => {
    const text = `${logs.text()}\n${harness.testApp.logs.text()}`
    expect(logs.lines.length).toBeGreaterThan(20)
    expect(text).toContain('subscription drift report')
    for (const secret of [standIn.apiKey, WRONG_API_KEY, TEST_API_TOKEN]) {
      expect(text).not.toContain(secret)
      expect(text).not.toContain(secret.slice(-16))
    }
  })
})
