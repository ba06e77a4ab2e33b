/**
 * Failed-notification replay: Paddle is asked to deliver again the notifications to our destination
 * that it gave up on, and they come back through the signed webhook path. What the inbox already
 * holds, what was replayed already, replays themselves and what Paddle will not replay are left alone.
 * And without the configuration for it, none of this runs, and the service says so once.
 */
import type { Logger } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createBackgroundLoops } from '#src/app/background.js'
import { readJobState } from '#src/reconcile/job-state.repository.js'
import { createLogger } from '#src/platform/logger.js'
import { createReconciler } from '#src/reconcile/reconciler.js'
import { NOTIFICATION_REPLAY_JOB, type NotificationReplayState } from '#src/reconcile/notification-replay.js'
import { LogCapture, TEST_API_TOKEN, testConfig } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { deliver, paddleId, type PaddleEvent } from '../helpers/paddle.js'
import { startPaddleStandIn, type PaddleStandIn, type StandInRequest } from '../helpers/paddle-stand-in.js'
import { at, customerEvent, DAY, freshIds, subscriptionEvent, type ScenarioIds } from '../helpers/scenarios.js'
import { sample } from '../helpers/prometheus.js'

const OUR_SETTING = 'ntfset_01hvtrackserabilling00000000'
const OTHER_SETTING = 'ntfset_01hvsomeoneelsesendpoint0000'
const NOW = Date.parse(at(10 * DAY))
const auth = { authorization: `Bearer ${TEST_API_TOKEN}` }

let standIn: PaddleStandIn
const env: Record<string, string> = {}
beforeAll(async () => {
  standIn = await startPaddleStandIn()
  Object.assign(env, {
    ...standIn.serviceEnv,
    PADDLE_NOTIFICATION_SETTING_ID: OUR_SETTING,
    RECONCILE_INTERVAL_MINUTES: '15',
  })
})
afterAll(async () => { await standIn.close() })

const harness = useHarness({ now: NOW, env })
beforeEach(() => {
  harness.now = NOW
  standIn.requests = []
})

type Entity = Record<string, unknown>
let sequence = 0
/** Paddle's ids sort in the order they were made. */
const sortableId = (prefix: string): string => {
  sequence += 1
  return `${prefix}_01k${sequence.toString(36).padStart(6, '0')}${paddleId('x').slice(2, 19)}`
}

/** A notification of Paddle's for this event, as GET /notifications lists it. */
function notificationOf (event: PaddleEvent, status: string, options: { setting?: string, replayedAt?: string, origin?: string } = {}): Entity {
  const id = sortableId('ntf')
  return {
    id,
    type: event.event_type,
    status,
    payload: { ...structuredClone(event), notification_id: id },
    occurred_at: event.occurred_at,
    delivered_at: status === 'delivered' ? event.occurred_at : null,
    replayed_at: options.replayedAt ?? null,
    origin: options.origin ?? 'event',
    last_attempt_at: event.occurred_at,
    retry_at: status === 'needs_retry' ? at(11 * DAY) : null,
    times_attempted: status === 'delivered' ? 1 : 5,
    notification_setting_id: options.setting ?? OUR_SETTING,
  }
}

/** A fresh subscription's creation at `time`, with an event id of Paddle's shape. */
function created (ids: ScenarioIds, time: number): PaddleEvent {
  return { ...subscriptionEvent('subscription.created', ids, { status: 'active', time }), event_id: sortableId('evt') }
}

interface InboxRow { event_id: string, origin: string, notification_id: string | null, status: string }
const inboxRow = async (eventId: string): Promise<InboxRow | undefined> => (await harness.database.handle.query<InboxRow>({
  name: 'replay_inbox_row',
  text: 'SELECT event_id, origin, notification_id, status FROM paddle_inbox WHERE event_id = $1',
}, [eventId]))[0]
const replayState = async (): Promise<Partial<NotificationReplayState>> =>
  await readJobState<NotificationReplayState>(harness.database.handle, NOTIFICATION_REPLAY_JOB)

const requestsTo = (path: string | RegExp): StandInRequest[] =>
  standIn.requests.filter((request) => typeof path === 'string' ? request.path === path : path.test(request.path))
const replayRequests = (): string[] => requestsTo(/^\/notifications\/[^/]+\/replay$/).map((request) => request.path.split('/')[2] ?? '')
const lookedAt = (mark: number): Entity[] => harness.testApp.logs.records().slice(mark)
  .filter((record) => record.msg === 'failed Paddle notifications looked at')

describe('failed-notification replay', () => {
  it('asks Paddle to replay the failed notifications whose event we lack, once, and receives them by webhook', async () => {
    const idsA = freshIds()
    const missing = created(idsA, 9 * DAY)
    const received = created(freshIds(), 9 * DAY + 60)
    const retrying = { ...customerEvent('customer.created', freshIds(), { time: 9 * DAY + 120 }), event_id: sortableId('evt') }
    const replayedBefore = created(freshIds(), 9 * DAY + 180)
    const elsewhere = created(freshIds(), 9 * DAY + 240)
    const delivered = created(freshIds(), 9 * DAY + 300)
    const inTheLog = created(freshIds(), 9 * DAY + 360)
    const aReplay = created(freshIds(), 9 * DAY + 420)
    const notifications = {
      missing: notificationOf(missing, 'failed'),
      received: notificationOf(received, 'failed'),
      retrying: notificationOf(retrying, 'needs_retry'),
      replayedBefore: notificationOf(replayedBefore, 'failed', { replayedAt: at(9 * DAY + 3600) }),
      elsewhere: notificationOf(elsewhere, 'failed', { setting: OTHER_SETTING }),
      delivered: notificationOf(delivered, 'delivered'),
      inTheLog: notificationOf(inTheLog, 'failed'),
      aReplay: notificationOf(aReplay, 'failed', { origin: 'replay' }),
    }
    standIn.notifications = Object.values(notifications)
    // The catch-up, which runs first, finds one of them in Paddle's event log.
    const { notification_id: _ignored, ...logged } = inTheLog
    standIn.events = [logged]
    // One came by webhook after all (Paddle's last retry went through, say).
    await harness.send(received)
    // Paddle's replay arrives as a new notification of the same event, signed like any other.
    const arrivals: Entity[] = []
    standIn.onReplay = async (notification) => {
      arrivals.push(notification)
      const response = await deliver(harness.testApp.app, notification.payload as PaddleEvent, { timestamp: Math.floor(harness.now / 1000) })
      expect(response.statusCode, response.body).toBe(200)
    }
    const mark = harness.testApp.logs.lines.length

    expect(await harness.loops.scheduler.runNow('paddle-reconcile')).toBe(true)

    expect(standIn.replayed).toEqual([notifications.missing.id])
    // Paddle refused the one it is still retrying; nothing was asked about the others.
    expect(replayRequests()).toEqual([notifications.missing.id, notifications.retrying.id])
    const [listing, ...moreListings] = requestsTo('/notifications')
    expect(moreListings).toEqual([])
    expect(Object.fromEntries(listing?.query ?? [])).toMatchObject({
      notification_setting_id: OUR_SETTING,
      status: 'failed,needs_retry',
      from: at(6 * DAY), // four days back on the first run
      to: at(10 * DAY),
    })
    expect(lookedAt(mark)).toMatchObject([{ listed: 6, replayed: 1, alreadyStored: 2, alreadyReplayed: 1, notReplayable: 2 }])
    expect(await replayState()).toEqual({ lastWindowEnd: at(10 * DAY) })

    expect(arrivals).toHaveLength(1)
    const replayId = arrivals[0]?.id as string
    expect(replayId).not.toBe(notifications.missing.id)
    expect(await inboxRow(missing.event_id)).toMatchObject({ origin: 'webhook', notification_id: replayId })
    expect(await inboxRow(inTheLog.event_id)).toMatchObject({ origin: 'reconcile', notification_id: null })
    expect(await inboxRow(received.event_id)).toMatchObject({ origin: 'webhook', notification_id: received.notification_id })
    for (const event of [retrying, replayedBefore, elsewhere, delivered, aReplay]) expect(await inboxRow(event.event_id)).toBeUndefined()
    await harness.loops.worker.drain()
    expect(await inboxRow(missing.event_id)).toMatchObject({ status: 'processed' })
    const access = await harness.testApp.app.inject({ url: `/internal/accounts/${idsA.account}/entitlement`, headers: auth })
    expect(access.json()).toMatchObject({ access: 'granted', subscription: { id: idsA.subscription } })
    const metrics = (await harness.testApp.app.inject({ url: '/metrics', headers: auth })).body
    expect(sample(metrics, 'billing_reconcile_runs_total', { step: 'replay', outcome: 'ok' })).toBe(1)
    expect(sample(metrics, 'billing_reconcile_items_total', { step: 'replay' })).toBe(1)

    // A day later: nothing is replayed again, and the window reaches four days behind the last one's end.
    harness.now = NOW + DAY * 1000
    standIn.requests = []
    const second = harness.testApp.logs.lines.length
    expect(await harness.loops.scheduler.runNow('paddle-reconcile')).toBe(true)
    expect(standIn.replayed).toEqual([notifications.missing.id])
    expect(replayRequests()).toEqual([notifications.retrying.id])
    expect(Object.fromEntries(requestsTo('/notifications')[0]?.query ?? [])).toMatchObject({ from: at(6 * DAY), to: at(11 * DAY) })
    expect(lookedAt(second)).toMatchObject([{ listed: 6, replayed: 0, alreadyStored: 3, alreadyReplayed: 1, notReplayable: 2 }])
    expect(await replayState()).toEqual({ lastWindowEnd: at(11 * DAY) })

    // Paddle has since given up on the one it was retrying: inside the overlap, it is replayed now.
    harness.now = NOW + 2 * DAY * 1000
    notifications.retrying.status = 'failed'
    standIn.requests = []
    expect(await harness.loops.scheduler.runNow('paddle-reconcile')).toBe(true)
    expect(Object.fromEntries(requestsTo('/notifications')[0]?.query ?? [])).toMatchObject({ from: at(7 * DAY), to: at(12 * DAY) })
    expect(standIn.replayed).toEqual([notifications.missing.id, notifications.retrying.id])
    expect(await inboxRow(retrying.event_id)).toMatchObject({ origin: 'webhook', notification_id: arrivals[1]?.id })
    await harness.loops.worker.drain()
  })
})

describe('when Paddle is slow to answer a replay', () => {
  it('does not ask twice (Paddle may have done it); the event arrives once, and the next run leaves it alone', async () => {
    harness.now = Date.parse(at(20 * DAY))
    const ids = freshIds()
    const missing = created(ids, 19 * DAY)
    const notification = notificationOf(missing, 'failed')
    standIn.notifications = [notification]
    standIn.events = []
    standIn.replayed = []
    const arrivals: Array<{ id: unknown, duplicate: boolean }> = []
    standIn.onReplay = async (replay) => {
      const response = await deliver(harness.testApp.app, replay.payload as PaddleEvent, { timestamp: Math.floor(harness.now / 1000) })
      expect(response.statusCode, response.body).toBe(200)
      arrivals.push({ id: replay.id, duplicate: response.json<{ duplicate: boolean }>().duplicate })
    }
    const sleeps: number[] = []
    const reconciler = createReconciler({ ...harness.testApp.config }, {
      database: harness.database.handle,
      logger: harness.testApp.app.log as unknown as Logger,
      clock: () => harness.now,
      apiOptions: { timeoutMs: 250, sleep: async (ms) => { sleeps.push(ms) } },
    })
    const windowBefore = await replayState()
    standIn.requests = []
    standIn.responseDelayMs = { replay: 600 }
    try {
      await reconciler?.run()
      // The abandoned request is still served by Paddle: the replay arrives as a webhook.
      await vi.waitFor(() => { expect(arrivals.length).toBe(1) })
    } finally {
      standIn.responseDelayMs = 0
    }

    // One POST, no retry: a replay that timed out may have happened, and asking again would only send it twice.
    expect(replayRequests()).toEqual([notification.id])
    expect(sleeps).toEqual([])
    expect(harness.testApp.logs.text()).toMatch(/"step":"replay","kind":"timeout"/)
    // The run did not finish: its window is not advanced, so the next run looks at the same notifications.
    expect(await replayState()).toEqual(windowBefore)
    expect(standIn.replayed).toEqual([notification.id])
    expect(arrivals.map((arrival) => arrival.duplicate)).toEqual([false])
    expect(await inboxRow(missing.event_id)).toMatchObject({ origin: 'webhook', notification_id: arrivals[0]?.id })
    expect(await harness.loops.worker.drain()).toBe(1)
    expect(await inboxRow(missing.event_id)).toMatchObject({ status: 'processed' })

    // The next run leaves it alone: its event is stored.
    standIn.requests = []
    await reconciler?.run()
    expect(replayRequests()).toEqual([])
  })
})

describe('without the configuration for it', () => {
  const logger = (): Logger => harness.testApp.app.log as unknown as Logger

  it('replays nothing without PADDLE_NOTIFICATION_SETTING_ID, and still catches up', async () => {
    const config = testConfig({ ...standIn.serviceEnv, WORKER_ENABLED: 'false', SCHEDULER_ENABLED: 'true' })
    expect(config.PADDLE_NOTIFICATION_SETTING_ID).toBeUndefined()
    const reconciler = createReconciler(config, { database: harness.database.handle, logger: logger(), clock: () => harness.now })
    expect(reconciler).not.toBeNull()
    await reconciler?.run()
    expect(requestsTo('/events').length).toBeGreaterThan(0)
    expect(requestsTo(/^\/notifications/)).toEqual([])

    const logs = new LogCapture()
    const loops = createBackgroundLoops(config, { database: harness.database.handle, logger: createLogger(config, logs.stream), clock: () => harness.now })
    await loops.start()
    await loops.stop()
    expect(logs.lines.filter((line) => line.includes('failed-notification replay is off'))).toHaveLength(1)
    expect(logs.lines.filter((line) => line.includes('reconciliation with Paddle is off'))).toEqual([])
  })

  it('has no reconciler and no reconcile job without PADDLE_API_KEY, and says so once at start-up', async () => {
    const config = testConfig({ WORKER_ENABLED: 'false', SCHEDULER_ENABLED: 'true' })
    expect(config.PADDLE_API_KEY).toBeUndefined()
    const logs = new LogCapture()
    const loops = createBackgroundLoops(config, { database: harness.database.handle, logger: createLogger(config, logs.stream), clock: () => harness.now })
    expect(loops.reconciler).toBeNull()
    await expect(loops.scheduler.runNow('paddle-reconcile')).rejects.toThrow('no scheduled job named paddle-reconcile')

    await loops.start()
    await loops.stop()
    const records = logs.records()
    expect(records.find((record) => record.msg === 'scheduler started')).toMatchObject({ jobs: ['trial-ending-notices', 'retention'] })
    expect(records.filter((record) => typeof record.msg === 'string' && record.msg.startsWith('reconciliation with Paddle is off'))).toHaveLength(1)
    expect(standIn.requests).toEqual([])

    // With a key but RECONCILE_INTERVAL_MINUTES=0: a reconciler for the admin routes, no scheduled job.
    const manual = testConfig({ ...standIn.serviceEnv, RECONCILE_INTERVAL_MINUTES: '0' })
    const manualLoops = createBackgroundLoops(manual, { database: harness.database.handle, logger: logger(), clock: () => harness.now })
    expect(manualLoops.reconciler).not.toBeNull()
    await expect(manualLoops.scheduler.runNow('paddle-reconcile')).rejects.toThrow('no scheduled job named paddle-reconcile')
    await manualLoops.stop()
  })
})
