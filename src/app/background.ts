/**
 * The loops that run beside (or without) the HTTP service: the inbox worker, the dispatchers (email
 * events, entitlement events), the entitlement timer and the scheduled jobs. Each is restartable at any moment without losing work;
 * PostgreSQL is the only state they share.
 */
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import { ADVISORY_LOCK_KEYS } from '../db/lock-keys.js'
import { createDispatcher, type Dispatcher } from '../email-events/dispatcher.js'
import { EMAIL_STREAM, type OutboxStream } from '../email-events/email-events.repository.js'
import { createEmailEventBatch } from '../email-events/outbox.js'
import { announceEntitlementChanges } from '../entitlements/entitlement-cache.js'
import { createEntitlementRecorder, ENTITLEMENT_STREAM } from '../entitlements/entitlement-events.js'
import { createEntitlementTimer, type EntitlementTimer } from '../entitlements/entitlement-timer.js'
import { recordTrialEndingNotices } from '../email-events/trial-notices.repository.js'
import { applyRetention } from '../privacy/retention.js'
import { createWakeSignal, type WakeSignal } from '../db/wake-signal.js'
import { createInboxWorker, type InboxWorker } from '../processing/worker.js'
import { createReconciler, describeReconciliation, type Reconciler } from '../reconcile/reconciler.js'
import { nowTimestamp, systemClock, type Clock } from '../platform/clock.js'
import type { Config } from '../platform/config.js'
import type { Metrics } from '../platform/metrics.js'
import { activeTraceparent } from '../platform/tracing.js'
import { createScheduler, type ScheduledJob, type Scheduler } from './scheduler.js'

export interface BackgroundLoops {
  worker: InboxWorker
  /** Null when EMAIL_EVENTS_URL is not set: pull only. */
  dispatcher: Dispatcher | null
  /** Null when ENTITLEMENT_EVENTS_URL is not set: pull only. */
  entitlementDispatcher: Dispatcher | null
  /** Emits the entitlement changes time alone makes (runs where the scheduler runs). */
  entitlementTimer: EntitlementTimer
  scheduler: Scheduler
  /** Null without PADDLE_API_KEY. Its scheduled run is the job `paddle-reconcile`. */
  reconciler: Reconciler | null
  /** Starts what the configuration enables: worker, dispatchers, scheduler and entitlement timer. */
  start(): Promise<void>
  stop(): Promise<void>
}

export interface BackgroundDependencies {
  database: DatabaseHandle
  logger: Logger
  /** In-process wake-ups from the intake. */
  wake?: WakeSignal
  clock?: Clock
  metrics?: Metrics
  /** Made from the configuration when absent (null: no PADDLE_API_KEY). */
  reconciler?: Reconciler | null
}

const TRIAL_NOTICE_INTERVAL_MS = 10 * 60_000
const RETENTION_INTERVAL_MS = 60 * 60_000

export function createBackgroundLoops (config: Config, dependencies: BackgroundDependencies): BackgroundLoops {
  const { database, logger, metrics } = dependencies
  const clock = dependencies.clock ?? systemClock
  // The worker tells the dispatcher about new email events: in this process at once, elsewhere by NOTIFY.
  const emailWake = createWakeSignal(database, { channel: EMAIL_STREAM.channel })
  const entitlementWake = createWakeSignal(database, { channel: ENTITLEMENT_STREAM.channel })
  const policy = { pastDueGraceDays: config.PAST_DUE_GRACE_DAYS, pausedAccess: config.PAUSED_ACCESS, trialAccess: config.TRIAL_ACCESS }
  // Reconciliation stores events too: the workers of this process at once, the others by NOTIFY.
  const ownInboxWake = dependencies.wake === undefined ? createWakeSignal(database) : null
  const inboxWake = dependencies.wake ?? ownInboxWake
  const reconciler = dependencies.reconciler !== undefined
    ? dependencies.reconciler
    : createReconciler(config, { database, logger, clock, ...(metrics === undefined ? {} : { metrics }), onStored: () => inboxWake?.notify() })

  // Accounts whose entitlement inputs an event changed, from its apply until its commit: then the
  // caches of this process drop them at once (other processes hear the NOTIFY of the same commit).
  const entitlementChanges = new Map<string, readonly string[]>()
  // Paddle events whose transaction recorded entitlement events: the dispatcher is woken after the commit.
  const entitlementEventsRecorded = new Set<string>()
  const worker = createInboxWorker({
    database,
    logger: logger.child({ component: 'worker' }),
    concurrency: config.WORKER_CONCURRENCY,
    batchSize: config.WORKER_BATCH_SIZE,
    claimSpacingMs: config.WORKER_CLAIM_SPACING_MS,
    maxAttempts: config.WORKER_MAX_ATTEMPTS,
    pollIntervalMs: config.WORKER_POLL_INTERVAL_MS,
    accountIdKey: config.ACCOUNT_ID_CUSTOM_DATA_KEY,
    ...(dependencies.wake === undefined ? {} : { wake: dependencies.wake }),
    consequences: (tx) => {
      const now = nowTimestamp(clock)
      const emails = createEmailEventBatch({
        maxAgeHours: config.EMAIL_EVENT_MAX_AGE_HOURS,
        receiptUrlTemplate: config.RECEIPT_URL_TEMPLATE ?? null,
        emailEventsOnImport: config.EMAIL_EVENTS_ON_IMPORT,
      }, now)
      // Same transaction, same decision as the read API: an answer an event changed is told once.
      const entitlements = createEntitlementRecorder(tx, { policy, now })
      return {
        async afterApply (event, applied) {
          entitlementEventsRecorded.delete(event.eventId)
          entitlementChanges.delete(event.eventId)
          if (applied.entitlementAccounts.length > 0 || applied.relinked !== null) {
            entitlements.afterEvent(applied.entitlementAccounts, applied.relinked, event.eventId, activeTraceparent())
          }
          return emails.derive(event, applied)
        },
        async record () {
          // The email events travel with the entitlement answers' first statement.
          const emailsRecorded = emails.record(tx)
          const answers = await entitlements.record()
          for (const eventId of answers.emittedBy) if (eventId !== null) entitlementEventsRecorded.add(eventId)
          for (const [eventId, accounts] of answers.accountsBy) if (eventId !== null) entitlementChanges.set(eventId, accounts)
          return await emailsRecorded()
        },
      }
    },
    onProcessed: (event, result) => {
      const changed = entitlementChanges.get(event.eventId)
      if (changed !== undefined) {
        entitlementChanges.delete(event.eventId)
        announceEntitlementChanges(database, changed)
      }
      if (result.recorded > 0) emailWake.notify()
      if (entitlementEventsRecorded.delete(event.eventId)) entitlementWake.notify()
      metrics?.eventProcessed(event, result.status, result.outcome, clock())
    },
  })

  const makeDispatcher = (stream: OutboxStream, target: { url: string | undefined, secret: string | undefined, maxAttempts: number, timeoutMs: number }, wake: WakeSignal): Dispatcher | null =>
    target.url === undefined || target.secret === undefined
      ? null
      : createDispatcher({
        stream,
        database,
        logger: logger.child({ component: 'dispatcher', stream: stream.name }),
        url: target.url,
        signingSecret: target.secret,
        maxAttempts: target.maxAttempts,
        timeoutMs: target.timeoutMs,
        concurrency: config.DISPATCHER_CONCURRENCY,
        pollIntervalMs: config.WORKER_POLL_INTERVAL_MS,
        wake,
        ...(metrics === undefined ? {} : { onAttempt: (outcome: 'delivered' | 'retry' | 'dead') => metrics.deliveryAttempt(stream.name, outcome) }),
      })
  const dispatcher = makeDispatcher(EMAIL_STREAM, {
    url: config.EMAIL_EVENTS_URL,
    secret: config.EMAIL_EVENTS_SIGNING_SECRET,
    maxAttempts: config.EMAIL_EVENTS_MAX_ATTEMPTS,
    timeoutMs: config.EMAIL_EVENTS_TIMEOUT_MS,
  }, emailWake)
  const entitlementDispatcher = makeDispatcher(ENTITLEMENT_STREAM, {
    url: config.ENTITLEMENT_EVENTS_URL,
    secret: config.ENTITLEMENT_EVENTS_SIGNING_SECRET,
    maxAttempts: config.ENTITLEMENT_EVENTS_MAX_ATTEMPTS,
    timeoutMs: config.ENTITLEMENT_EVENTS_TIMEOUT_MS,
  }, entitlementWake)

  const entitlementTimer = createEntitlementTimer({
    database,
    logger: logger.child({ component: 'entitlement-timer' }),
    policy,
    clock,
    onChanged: () => entitlementWake.notify(),
  })

  const jobs: ScheduledJob[] = [{
    name: 'trial-ending-notices',
    lockKey: ADVISORY_LOCK_KEYS.trialNotices,
    intervalMs: TRIAL_NOTICE_INTERVAL_MS,
    run: async () => {
      const recorded = await recordTrialEndingNotices(database, nowTimestamp(clock), config.TRIAL_ENDING_NOTICE_DAYS)
      if (recorded > 0) emailWake.notify()
    },
  }, {
    name: 'retention',
    lockKey: ADVISORY_LOCK_KEYS.retention,
    intervalMs: RETENTION_INTERVAL_MS,
    run: async () => {
      const report = await applyRetention(database, {
        inboxPayloadDays: config.INBOX_PAYLOAD_RETENTION_DAYS,
        emailEventDays: config.EMAIL_EVENT_RETENTION_DAYS,
        entitlementEventDays: config.ENTITLEMENT_EVENT_RETENTION_DAYS,
        billingRecordYears: config.BILLING_RECORD_RETENTION_YEARS,
        pushEnabled: dispatcher !== null,
        entitlementPushEnabled: entitlementDispatcher !== null,
      }, nowTimestamp(clock))
      logger.info({ ...report }, 'retention applied')
    },
  }]
  if (reconciler !== null && config.RECONCILE_INTERVAL_MINUTES > 0) {
    jobs.push({
      name: 'paddle-reconcile',
      lockKey: ADVISORY_LOCK_KEYS.reconcile,
      intervalMs: config.RECONCILE_INTERVAL_MINUTES * 60_000,
      run: async (stopping) => { await reconciler.run(stopping) },
    })
  }
  const scheduler = createScheduler({ database, logger: logger.child({ component: 'scheduler' }), jobs })

  return {
    worker,
    dispatcher,
    entitlementDispatcher,
    entitlementTimer,
    scheduler,
    reconciler,
    async start () {
      if (config.WORKER_ENABLED) await worker.start()
      if (dispatcher !== null && config.DISPATCHER_ENABLED) await dispatcher.start()
      else if (dispatcher === null) logger.info('EMAIL_EVENTS_URL is not set: email events are served by GET /internal/email-events only')
      if (entitlementDispatcher !== null && config.DISPATCHER_ENABLED) await entitlementDispatcher.start()
      else if (entitlementDispatcher === null) logger.info('ENTITLEMENT_EVENTS_URL is not set: entitlement events are served by GET /internal/entitlement-events only')
      if (config.SCHEDULER_ENABLED) {
        scheduler.start()
        await entitlementTimer.start()
      }
      describeReconciliation(config, logger)
    },
    async stop () {
      await scheduler.stop()
      await entitlementTimer.stop()
      await worker.stop()
      await dispatcher?.stop()
      await entitlementDispatcher?.stop()
      emailWake.close()
      entitlementWake.close()
      ownInboxWake?.close()
    },
  }
}
