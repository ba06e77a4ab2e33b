/**
 * Event-log catch-up: events Paddle never delivered (or delivered while we could not take them) are
 * read from Paddle's own event log (the local stand-in, through the official SDK), stored in the inbox
 * with origin `reconcile`, applied like webhooks, and never twice. Paddle's API failures (429, 5xx,
 * timeouts, a refused key) neither stop the run's caller nor lose the cursor.
 */
import type { Logger } from 'pino'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createBackgroundLoops } from '#src/app/background.js'
import { readJobState, writeJobState } from '#src/reconcile/job-state.repository.js'
import type { Metrics } from '#src/platform/metrics.js'
import { createServiceMetrics } from '#src/app/metrics.js'
import { addDays, timestampFromDate } from '#src/platform/timestamps.js'
import { EVENT_LOG_JOB, type EventLogState } from '#src/reconcile/event-log-catch-up.js'
import { createReconciler, type Reconciler } from '#src/reconcile/reconciler.js'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { usesPostgres } from '../helpers/database.js'
import { useHarness } from '../helpers/harness.js'
import { deliver, paddleId, type PaddleEvent } from '../helpers/paddle.js'
import { startPaddleStandIn, type PaddleStandIn, type StandInRequest } from '../helpers/paddle-stand-in.js'
import { scanAllColumns } from '../helpers/scan.js'
import { at, checkoutStream, DAY, freshIds, SCENARIOS, subscriptionEvent, transactionEvent, type ScenarioIds } from '../helpers/scenarios.js'
import { plantSentinels, SENTINEL_PATTERN } from '../helpers/sentinels.js'
import { sample } from '../helpers/prometheus.js'

const PER_PAGE = 5
const TIMEOUT_MS = 500
const NOW = Date.parse(at(40 * DAY))
const auth = { authorization: `Bearer ${TEST_API_TOKEN}` }

// The stand-in starts before the harness builds the app: the env object is read when the app is built.
let standIn: PaddleStandIn
const env: Record<string, string> = {}
beforeAll(async () => {
  standIn = await startPaddleStandIn()
  Object.assign(env, {
    ...standIn.serviceEnv,
    PADDLE_API_TIMEOUT_MS: String(TIMEOUT_MS),
    RECONCILE_INTERVAL_MINUTES: '15',
  })
})
afterAll(async () => { await standIn.close() })

const harness = useHarness({ now: NOW, env })

// This file's reconciler: small pages, and retries that record their delay instead of waiting it out.
const sleeps: number[] = []
let metrics: Metrics
let reconciler: Reconciler
const logger = (): Logger => harness.testApp.app.log as unknown as Logger
const makeReconciler = (database = harness.database.handle, withMetrics?: Metrics): Reconciler => {
  const made = createReconciler(harness.testApp.config, {
    database,
    logger: logger(),
    clock: () => harness.now,
    ...(withMetrics === undefined ? {} : { metrics: withMetrics }),
    apiOptions: {
      perPage: PER_PAGE,
      sleep: async (ms) => {
        sleeps.push(ms)
        await new Promise((resolve) => setTimeout(resolve, 1))
      },
    },
  })
  if (made === null) throw new Error('PADDLE_API_KEY is set: a reconciler was expected')
  return made
}
beforeAll(() => {
  metrics = createServiceMetrics(harness.database.handle)
  reconciler = makeReconciler(harness.database.handle, metrics)
})
beforeEach(() => {
  harness.now = NOW
  standIn.events = []
  standIn.requests = []
  standIn.responseDelayMs = 0
  sleeps.length = 0
})
// Each test applies what it stored; nothing is left for the next one.
afterEach(async () => { await harness.loops.worker.drain() })

// --- Paddle's event log -----------------------------------------------------------------------

let sequence = 0
/** Paddle's event ids are time-ordered and its log is served in id order: ids made here sort in the order they are made. */
function logEventId (): string {
  sequence += 1
  return `evt_01k${sequence.toString(36).padStart(6, '0')}${paddleId('x').slice(2, 19)}`
}

/** Gives the events log ids in their order and adds them to Paddle's log as it serves them: without notification_id. */
function publish<T extends PaddleEvent[]> (...events: T): T {
  for (const event of events) {
    event.event_id = logEventId()
    const entity: Record<string, unknown> = { ...structuredClone(event) }
    delete entity.notification_id
    standIn.events.push(entity)
  }
  return events
}

const eventRequests = (): StandInRequest[] => standIn.requests.filter((request) => request.path === '/events')
const afterOf = (requests: StandInRequest[]): Array<string | null> => requests.map((request) => request.query.get('after'))

// --- Reading what happened ----------------------------------------------------------------------

/** Applied, or ignored as an event type the service does not keep (address.created). */
const done = (row: InboxRow): boolean => (row.status === 'processed' || row.status === 'ignored') && row.attempts === 1

interface InboxRow { event_id: string, origin: string, notification_id: string | null, status: string, outcome: string | null, attempts: number }
const inboxRows = async (events: PaddleEvent[]): Promise<InboxRow[]> => await harness.database.handle.query<InboxRow>({
  name: 'catch_up_inbox_rows',
  text: 'SELECT event_id, origin, notification_id, status, outcome, attempts FROM paddle_inbox WHERE event_id = ANY($1::text[]) ORDER BY event_id',
}, [events.map((event) => event.event_id)])
const inboxCount = async (): Promise<number> =>
  (await harness.database.handle.query<{ count: number }>({ name: 'catch_up_inbox_count', text: 'SELECT count(*)::int AS count FROM paddle_inbox' }, []))[0]?.count ?? -1
const logState = async (): Promise<Partial<EventLogState>> => await readJobState<EventLogState>(harness.database.handle, EVENT_LOG_JOB)

interface EmailRow { type: string, status: string, idempotency_key: string, source_event_id: string | null }
const emailRows = async (ids: ScenarioIds): Promise<EmailRow[]> => await harness.database.handle.query<EmailRow>({
  name: 'catch_up_email_rows',
  text: `SELECT type, status, idempotency_key, source_event_id FROM email_events
    WHERE subscription_id = $1 OR transaction_id = $2 OR transaction_id = $3 ORDER BY type`,
}, [ids.subscription, ids.checkout, ids.renewal])

const get = async (url: string) => await harness.testApp.app.inject({ url, headers: auth })
const entitlement = async (ids: ScenarioIds): Promise<Record<string, unknown>> => {
  const response = await get(`/internal/accounts/${ids.account}/entitlement`)
  expect(response.statusCode, response.body).toBe(200)
  return response.json()
}

type LogRecord = Record<string, unknown>
const logMark = (): number => harness.testApp.logs.lines.length
const logsSince = (mark: number): LogRecord[] => harness.testApp.logs.records().slice(mark)
const caughtUpLines = (records: LogRecord[]): LogRecord[] =>
  records.filter((record) => typeof record.msg === 'string' && /caught up from Paddle's event log|holds nothing we lack/.test(record.msg))

const runs = (text: string, outcome: string): number => sample(text, 'billing_reconcile_runs_total', { step: 'catch_up', outcome }) ?? 0
const ownMetrics = async (): Promise<string> => await metrics.registry.metrics()

/** The checkout's subscription, changed later: a cancellation scheduled for the end of the period. */
function laterChange (stream: PaddleEvent[], occurredAt: string, scheduledChange: Record<string, unknown> | null): PaddleEvent {
  const created = stream.find((event) => event.event_type === 'subscription.created')
  if (created === undefined) throw new Error('the checkout stream has a subscription.created')
  const data = structuredClone(created.data)
  Object.assign(data, { updated_at: occurredAt, scheduled_change: scheduledChange })
  return { event_id: paddleId('evt'), event_type: 'subscription.updated', occurred_at: occurredAt, notification_id: paddleId('ntf'), data }
}

describe('catching up from Paddle\'s event log', () => {
  it('stores a gap of events never delivered, page by page, applies them, and reads on from its cursor', async () => {
    await harness.database.handle.query({ name: 'catch_up_forget_cursor', text: 'DELETE FROM job_state WHERE name = $1' }, [EVENT_LOG_JOB])
    harness.now = Date.parse('2024-04-20T00:00:00Z')
    const ids = freshIds()
    const stream = checkoutStream(ids)
    const periodEnd = stream.find((event) => event.event_type === 'subscription.created')?.data.current_billing_period.ends_at as string
    const gap = publish(...stream, laterChange(stream, '2024-04-15T10:00:00.100000Z', { action: 'cancel', effective_at: periodEnd, resume_at: null }))
    expect(gap).toHaveLength(13)
    expect((await entitlement(ids)).reason).toBe('no_subscription')
    const before = await inboxCount()

    await reconciler.run()

    // The whole log, from its start, in pages of 5 (13 events: 5 + 5 + 3), each page after the last.
    const first = eventRequests()
    expect(first).toHaveLength(3)
    expect(afterOf(first)).toEqual([null, gap[4]?.event_id, gap[9]?.event_id])
    expect(first.every((request) => request.query.get('order_by') === 'id[ASC]' && request.query.get('per_page') === String(PER_PAGE))).toBe(true)
    expect(first.every((request) => request.authorization === `bearer ${standIn.apiKey}`)).toBe(true)
    const stored = await inboxRows(gap)
    expect(stored).toHaveLength(gap.length)
    expect(stored.every((row) => row.origin === 'reconcile' && row.notification_id === null)).toBe(true)
    expect(await inboxCount()).toBe(before + gap.length)
    expect(await logState()).toEqual({ cursor: gap[12]?.event_id, syncedThrough: '2024-04-20T00:00:00.000000Z' })

    expect(await harness.loops.worker.drain()).toBe(gap.length)
    expect((await inboxRows(gap)).every(done)).toBe(true)
    expect(await entitlement(ids)).toMatchObject({
      accountId: ids.account,
      access: 'granted',
      reason: 'cancel_scheduled',
      until: periodEnd,
      subscription: { id: ids.subscription, status: 'active' },
    })

    // Nothing new: one request after the cursor, nothing stored, the cursor where it was.
    standIn.requests = []
    let mark = logMark()
    await reconciler.run()
    expect(afterOf(eventRequests())).toEqual([gap[12]?.event_id])
    expect(await inboxCount()).toBe(before + gap.length)
    expect(caughtUpLines(logsSince(mark))).toMatchObject([{ fetched: 0, stored: 0, cursor: gap[12]?.event_id }])
    expect((await logState()).cursor).toBe(gap[12]?.event_id)

    // A new event in the log: the next run (the scheduled job, as the service runs it) reads it alone.
    harness.now = Date.parse('2024-04-21T00:00:00Z')
    const [resumed] = publish(laterChange(stream, '2024-04-18T08:00:00.000000Z', null))
    standIn.requests = []
    mark = logMark()
    expect(await harness.loops.scheduler.runNow('paddle-reconcile')).toBe(true)
    expect(afterOf(eventRequests())).toEqual([gap[12]?.event_id])
    expect(caughtUpLines(logsSince(mark))).toMatchObject([{ fetched: 1, stored: 1, duplicates: 0, cursor: resumed?.event_id }])
    expect(await inboxCount()).toBe(before + gap.length + 1)
    expect(await logState()).toEqual({ cursor: resumed?.event_id, syncedThrough: '2024-04-21T00:00:00.000000Z' })
    expect(await harness.loops.worker.drain()).toBe(1)
    expect(await entitlement(ids)).toMatchObject({ access: 'granted', reason: 'active' })
    const scraped = (await get('/metrics')).body
    expect(runs(scraped, 'ok')).toBe(1)
    expect(sample(scraped, 'billing_reconcile_items_total', { step: 'catch_up' })).toBe(1)
  })

  it('stores and applies once the events that also came by webhook, before or after the catch-up', async () => {
    harness.now = Date.parse('2024-04-12T14:00:00Z')
    const ids = freshIds()
    const stream = checkoutStream(ids)
    const periodEnd = stream.find((event) => event.event_type === 'subscription.created')?.data.current_billing_period.ends_at as string
    const events = publish(...stream, laterChange(stream, '2024-04-12T13:40:00.000000Z', { action: 'cancel', effective_at: periodEnd, resume_at: null }))
    const delivered = events.slice(0, -1)
    const onlyInLog = events.at(-1) as PaddleEvent
    await harness.send(...delivered)
    const mark = logMark()

    await reconciler.run()

    expect(caughtUpLines(logsSince(mark))).toMatchObject([{ fetched: events.length, stored: 1, duplicates: delivered.length }])
    expect(await harness.loops.worker.drain()).toBe(1)
    // Paddle's own delivery of the last one comes after all: a duplicate.
    const response = await deliver(harness.testApp.app, onlyInLog, { timestamp: Math.floor(harness.now / 1000) })
    expect(response.json()).toEqual({ received: true, duplicate: true })
    expect(await harness.loops.worker.drain()).toBe(0)

    const rows = await inboxRows(events)
    expect(rows.map((row) => row.event_id)).toEqual(events.map((event) => event.event_id).sort())
    for (const event of delivered) {
      const row = rows.find((candidate) => candidate.event_id === event.event_id)
      expect(row).toMatchObject({ origin: 'webhook', notification_id: event.notification_id })
      expect(row !== undefined && done(row)).toBe(true)
    }
    expect(rows.find((row) => row.event_id === onlyInLog.event_id)).toMatchObject({ origin: 'reconcile', notification_id: null, status: 'processed', attempts: 1 })

    const timeline = await get(`/internal/subscriptions/${ids.subscription}/timeline`)
    expect(timeline.statusCode, timeline.body).toBe(200)
    const listed = timeline.json<{ events: Array<{ eventId: string }> }>().events.map((event) => event.eventId)
    expect(new Set(listed).size).toBe(listed.length)
    const about = events.filter((event) => event.data.id === ids.subscription || event.data.id === ids.checkout)
    expect(listed.sort()).toEqual(about.map((event) => event.event_id).sort())

    const emails = await emailRows(ids)
    expect(emails.map((row) => row.type)).toEqual(['payment.succeeded', 'subscription.cancellation_scheduled', 'subscription.started'])
    expect(new Set(emails.map((row) => row.idempotency_key)).size).toBe(emails.length)
    expect(emails.every((row) => row.status === 'pending')).toBe(true)
  })

  it('is done by one process at a time: the other finds the job taken', async () => {
    const ids = freshIds()
    const events = publish(...(SCENARIOS.find((scenario) => scenario.name === 'renewal')?.events(ids) ?? []))
    expect(events).toHaveLength(7)
    const cursor = (await logState()).cursor ?? null
    const second = usesPostgres() ? await harness.database.connect() : harness.database.handle
    const processes = [harness.database.handle, second].map((database) => createBackgroundLoops(harness.testApp.config, {
      database, logger: logger(), clock: () => harness.now, reconciler: makeReconciler(database),
    }))
    standIn.responseDelayMs = 150
    const mark = logMark()
    let outcomes: boolean[]
    try {
      outcomes = await Promise.all(processes.map(async (loops) => await loops.scheduler.runNow('paddle-reconcile')))
    } finally {
      await Promise.all(processes.map(async (loops) => { await loops.stop() }))
    }

    const runsLogged = caughtUpLines(logsSince(mark))
    if (usesPostgres()) {
      expect(outcomes.sort()).toEqual([false, true])
      // Two pages (5 + 2), read once.
      expect(afterOf(eventRequests())).toEqual([cursor, events[4]?.event_id])
      expect(runsLogged).toMatchObject([{ fetched: 7, stored: 7, duplicates: 0 }])
    } else {
      // Embedded PGlite serves one process, which runs each job once at a time (see the report): two
      // scheduler instances on one handle both run; the inbox still stores each event once.
      expect(outcomes).toEqual([true, true])
      expect(runsLogged.reduce((sum, record) => sum + Number(record.stored), 0)).toBe(7)
    }
    expect(await inboxRows(events)).toHaveLength(7)
    expect((await logState()).cursor).toBe(events[6]?.event_id)
    expect(await harness.loops.worker.drain()).toBe(7)
    expect((await inboxRows(events)).every((row) => row.origin === 'reconcile' && done(row))).toBe(true)
  })
})

describe('Paddle API errors', () => {
  it('waits out a 429\'s Retry-After, then completes the run', async () => {
    const before = await ownMetrics()
    const [event] = publish(subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: 39 * DAY }))
    standIn.failNext('events', { status: 429, retryAfterSeconds: 1 })
    const mark = logMark()

    await reconciler.run()

    expect(eventRequests()).toHaveLength(2)
    expect(sleeps).toEqual([1000])
    expect(logsSince(mark)).toContainEqual(expect.objectContaining({ msg: 'Paddle API call failed; retrying', kind: 'rate_limited', code: 'too_many_requests', retry_in_ms: 1000 }))
    expect(await inboxRows([event as PaddleEvent])).toMatchObject([{ origin: 'reconcile' }])
    expect((await logState()).cursor).toBe(event?.event_id)
    expect(runs(await ownMetrics(), 'ok') - runs(before, 'ok')).toBe(1)
  })

  it('retries a 5xx and a proxy\'s HTML error page with backoff', async () => {
    const [event] = publish(subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: 39 * DAY }))
    standIn.failNext('events', { status: 502 })
    standIn.failNext('events', { notJson: true })
    const mark = logMark()

    await reconciler.run()

    expect(eventRequests()).toHaveLength(3)
    expect(sleeps).toHaveLength(2)
    expect(logsSince(mark).filter((record) => record.msg === 'Paddle API call failed; retrying').map((record) => [record.attempt, record.kind, record.code]))
      .toEqual([[1, 'unavailable', 'bad_gateway'], [2, 'unavailable', null]])
    expect(await inboxRows([event as PaddleEvent])).toHaveLength(1)
  })

  it('keeps the cursor at the last page read when a later page fails every attempt, and resumes from there', async () => {
    const before = await ownMetrics()
    const start = (await logState()).cursor ?? null
    const events = publish(...(SCENARIOS.find((scenario) => scenario.name === 'renewal')?.events(freshIds()) ?? []))
    standIn.failNext('events', { status: 503 }, 4, { afterServed: 1 })
    const mark = logMark()

    await expect(reconciler.run()).resolves.toBeUndefined()

    // Page 1 once, page 2 four times (the attempts), with backoff between them.
    expect(afterOf(eventRequests())).toEqual([start, ...Array(4).fill(events[4]?.event_id)])
    expect(sleeps).toHaveLength(3)
    expect((await inboxRows(events)).map((row) => row.event_id)).toEqual(events.slice(0, 5).map((event) => event.event_id).sort())
    expect(await logState()).toEqual({ cursor: events[4]?.event_id, syncedThrough: events[4]?.occurred_at })
    expect(logsSince(mark)).toContainEqual(expect.objectContaining({ level: 40, step: 'catch_up', kind: 'unavailable' }))
    expect(runs(await ownMetrics(), 'unavailable') - runs(before, 'unavailable')).toBe(1)

    standIn.requests = []
    const resumed = logMark()
    await reconciler.run()
    expect(afterOf(eventRequests())).toEqual([events[4]?.event_id])
    expect(caughtUpLines(logsSince(resumed))).toMatchObject([{ fetched: 2, stored: 2, duplicates: 0, cursor: events[6]?.event_id }])
    const rows = await inboxRows(events)
    expect(rows.map((row) => row.event_id)).toEqual(events.map((event) => event.event_id).sort())
    expect(await harness.loops.worker.drain()).toBe(events.length)
    expect(runs(await ownMetrics(), 'ok') - runs(before, 'ok')).toBe(1)
  })

  it('retries a request that gets no answer within PADDLE_API_TIMEOUT_MS, and gives up after the attempts', async () => {
    const before = await ownMetrics()
    const [event] = publish(subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: 39 * DAY }))
    standIn.failNext('events', { hang: true })
    const mark = logMark()

    await reconciler.run()

    expect(eventRequests()).toHaveLength(2)
    expect(logsSince(mark)).toContainEqual(expect.objectContaining({ msg: 'Paddle API call failed; retrying', kind: 'timeout', attempt: 1 }))
    expect(await inboxRows([event as PaddleEvent])).toHaveLength(1)
    expect((await logState()).cursor).toBe(event?.event_id)

    // Every attempt hangs: the run ends as a timeout, the cursor kept.
    const [unread] = publish(subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: 39 * DAY }))
    standIn.requests = []
    standIn.failNext('events', { hang: true }, 4)
    await expect(reconciler.run()).resolves.toBeUndefined()
    expect(eventRequests()).toHaveLength(4)
    expect(await inboxRows([unread as PaddleEvent])).toEqual([])
    expect((await logState()).cursor).toBe(event?.event_id)
    const after = await ownMetrics()
    expect(runs(after, 'ok') - runs(before, 'ok')).toBe(1)
    expect(runs(after, 'timeout') - runs(before, 'timeout')).toBe(1)

    await reconciler.run()
    expect(await inboxRows([unread as PaddleEvent])).toHaveLength(1)
  })

  it('logs a refused key as an error naming the permissions, never the key, and moves nothing', async () => {
    const before = await ownMetrics()
    const state = await logState()
    const [event] = publish(subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: 39 * DAY }))
    const ourKey = standIn.apiKey
    standIn.apiKey = 'pdl_sdbx_apikey_01rotatedrotatedrotatedrotat_RotatedKeyRotatedKey000000'
    const mark = logMark()
    try {
      await expect(reconciler.run()).resolves.toBeUndefined()
    } finally {
      standIn.apiKey = ourKey
    }

    expect(eventRequests()).toHaveLength(1) // not retried
    expect(sleeps).toEqual([])
    expect(await logState()).toEqual(state)
    expect(await inboxRows([event as PaddleEvent])).toEqual([])
    const errors = logsSince(mark).filter((record) => record.level === 50)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ step: 'catch_up', kind: 'unauthorized', err: { message: expect.stringContaining('invalid_token') } })
    for (const permission of ['event.read', 'notification.read', 'notification.write', 'subscription.read']) {
      expect(errors[0]?.msg).toContain(permission)
    }
    expect(harness.testApp.logs.lines.filter((line) => line.includes(ourKey))).toEqual([])
    expect(harness.testApp.logs.text()).not.toContain(ourKey.slice(-20))
    const after = await ownMetrics()
    expect(after).not.toContain(ourKey)
    expect(runs(after, 'unauthorized') - runs(before, 'unauthorized')).toBe(1)

    // A Retry-After longer than a run waits ends the run at once, as rate_limited.
    standIn.requests = []
    standIn.failNext('events', { status: 429, retryAfterSeconds: 120 })
    await reconciler.run()
    expect(eventRequests()).toHaveLength(1)
    expect(sleeps).toEqual([])
    expect(await inboxRows([event as PaddleEvent])).toEqual([])
    expect(runs(await ownMetrics(), 'rate_limited') - runs(before, 'rate_limited')).toBe(1)

    // The key back (or a fixed permission): the next run reads what was missed.
    await reconciler.run()
    expect(await inboxRows([event as PaddleEvent])).toHaveLength(1)
    expect(runs(await ownMetrics(), 'ok') - runs(before, 'ok')).toBe(1)
  })
})

describe('what reconciled events change', () => {
  it('mails nothing about changes older than EMAIL_EVENT_MAX_AGE_HOURS, mails a fresh one, and nothing for a stale event', async () => {
    harness.now = Date.parse(at(10 * DAY))
    const ids = freshIds()
    const [completed, created, fresh] = publish(
      transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: 1, payments: [{ status: 'captured' }] }),
      subscriptionEvent('subscription.created', ids, { status: 'active', time: 2, transactionId: ids.checkout }),
      // An hour before now.
      subscriptionEvent('subscription.updated', ids, { status: 'active', time: 10 * DAY - 3600, scheduledChange: { action: 'cancel', effectiveAt: 30 * DAY } })
    )
    await reconciler.run()
    expect(await harness.loops.worker.drain()).toBe(3)

    const emails = await emailRows(ids)
    expect(emails.map((row) => [row.type, row.status, row.source_event_id])).toEqual([
      ['payment.succeeded', 'suppressed', completed?.event_id],
      ['subscription.cancellation_scheduled', 'pending', fresh?.event_id],
      ['subscription.started', 'suppressed', created?.event_id],
    ])

    // Paddle's log also holds an older state of the subscription: stale, it changes and mails nothing.
    const [stale] = publish(subscriptionEvent('subscription.canceled', ids, { status: 'canceled', time: 5 * DAY, period: null, nextBilledAt: null, canceledAt: 5 * DAY }))
    await reconciler.run()
    expect(await harness.loops.worker.drain()).toBe(1)
    expect(await inboxRows([stale as PaddleEvent])).toMatchObject([{ origin: 'reconcile', status: 'processed', outcome: 'stale' }])
    expect(await emailRows(ids)).toEqual(emails)
    expect(await entitlement(ids)).toMatchObject({ access: 'granted', reason: 'cancel_scheduled' })
  })

  it('says how far behind the cursor is, and warns past 80 days', async () => {
    publish(subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: 39 * DAY }))
    await reconciler.run()
    const state = await logState()
    expect(state.cursor).toBeDefined()
    const now = timestampFromDate(new Date(harness.now))
    await writeJobState(harness.database.handle, EVENT_LOG_JOB, { cursor: state.cursor, syncedThrough: addDays(now, -81) })
    standIn.failNext('events', { status: 500 }, 4)
    const mark = logMark()

    await reconciler.run()

    const warning = logsSince(mark).find((record) => typeof record.msg === 'string' && record.msg.includes('more than 80 days behind'))
    expect(warning).toMatchObject({ level: 40, cursor_age_days: 81 })
    expect(sample(await ownMetrics(), 'billing_reconcile_cursor_age_seconds')).toBeGreaterThan(80 * DAY)
    expect((await logState()).cursor).toBe(state.cursor)

    const caughtUp = logMark()
    await reconciler.run()
    expect(sample(await ownMetrics(), 'billing_reconcile_cursor_age_seconds')).toBeLessThan(60)
    expect(await logState()).toEqual({ cursor: state.cursor, syncedThrough: now })
    expect(logsSince(caughtUp).some((record) => typeof record.msg === 'string' && record.msg.includes('days behind'))).toBe(false)
  })

  it('keeps no card, PayPal, address or tax data from the event log: not in any column, log line or email event', async () => {
    const ids = freshIds()
    const stream = checkoutStream(ids).map((event) => plantSentinels(event))
    const renewal = plantSentinels(transactionEvent('transaction.completed', ids, {
      id: ids.renewal, status: 'completed', time: 39 * DAY, origin: 'subscription_recurring', payments: [{ status: 'captured' }],
    }))
    const events = publish(...stream, renewal)
    expect(JSON.stringify(standIn.events)).toMatch(new RegExp(SENTINEL_PATTERN))

    await reconciler.run()
    expect(await inboxRows(events)).toHaveLength(events.length)
    expect(await harness.loops.worker.drain()).toBe(events.length)

    const { columnsScanned, hits } = await scanAllColumns(harness.database.handle.db, SENTINEL_PATTERN)
    expect(columnsScanned).toBeGreaterThan(80)
    expect(hits).toEqual([])
    expect(harness.testApp.logs.text()).not.toMatch(new RegExp(SENTINEL_PATTERN))
    const emails = await emailRows(ids)
    expect(emails.map((row) => row.type)).toEqual(expect.arrayContaining(['payment.succeeded', 'subscription.started']))
    expect(JSON.stringify(await harness.database.handle.query({ name: 'catch_up_email_data', text: 'SELECT * FROM email_events WHERE transaction_id = ANY($1::text[])' }, [[ids.checkout, ids.renewal]])))
      .not.toMatch(new RegExp(SENTINEL_PATTERN))
    // The scan is not blind: the transactions reached state, the inbox and email events.
    const { hits: applied } = await scanAllColumns(harness.database.handle.db, ids.renewal)
    expect(applied.map((hit) => hit.table)).toEqual(expect.arrayContaining(['"public"."transactions"', '"public"."email_events"', '"public"."paddle_inbox"']))
  })
})
