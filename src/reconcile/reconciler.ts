/**
 * Gap healing, wired from the configuration: the scheduled run (event-log catch-up, then the
 * replay of failed notifications) and the drift report behind the admin routes. Null when no
 * PADDLE_API_KEY is set: the service then runs on webhooks alone.
 */
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import { ADVISORY_LOCK_KEYS } from '../db/lock-keys.js'
import { createInboxWriter } from '../intake/inbox-writer.js'
import { nowTimestamp, systemClock, type Clock } from '../platform/clock.js'
import type { Config } from '../platform/config.js'
import type { Metrics } from '../platform/metrics.js'
import { createBackfiller, type Backfiller } from './backfill.js'
import { catchUpFromEventLog, CURSOR_WARNING_DAYS, CURSOR_WARNING_SECONDS, eventLogCursorAgeSeconds } from './event-log-catch-up.js'
import { replayFailedNotifications } from './notification-replay.js'
import { createPaddleApi, PaddleApiError, type PaddleApi, type PaddleApiOptions } from './paddle-api.js'
import { reconcileSubscriptions, type DriftReport } from './subscription-drift.js'

export interface Reconciler {
  /** One scheduled run: catch up from the event log, then replay failed notifications. Never throws. */
  run(stopping?: AbortSignal): Promise<void>
  /** The drift report; applies Paddle's state unless dryRun. Throws PaddleApiError when Paddle cannot be asked. */
  reconcile(options: { dryRun: boolean, ids?: string[] }): Promise<DriftReport>
  /** The backfill of everything Paddle has (reconcile/backfill.ts): npm run paddle:backfill and POST /internal/admin/backfill. */
  backfiller: Backfiller
}

export interface ReconcilerDependencies {
  database: DatabaseHandle
  logger: Logger
  metrics?: Metrics
  clock?: Clock
  /** Wakes the workers after events were stored. */
  onStored?: () => void
  /** Tests: a faster retry policy, a stand-in's page size. */
  apiOptions?: Partial<PaddleApiOptions>
  /** How long the drift report waits for the workers to apply what it queued. */
  applyWaitMs?: number
  /** How long a backfill waits for the workers to move on before it gives up (default 60 s). */
  backfillStallTimeoutMs?: number
}

type ReconcileConfig = Pick<Config, 'PADDLE_API_KEY' | 'PADDLE_ENVIRONMENT' | 'PADDLE_NOTIFICATION_SETTING_ID' |
'PADDLE_API_TIMEOUT_MS' | 'ACCOUNT_ID_CUSTOM_DATA_KEY'>

export function createReconciler (config: ReconcileConfig, dependencies: ReconcilerDependencies): Reconciler | null {
  const apiKey = config.PADDLE_API_KEY
  if (apiKey === undefined) return null
  const { database, metrics } = dependencies
  const logger = dependencies.logger.child({ component: 'reconcile' })
  const clock = dependencies.clock ?? systemClock
  const now = (): string => nowTimestamp(clock)
  const apiWith = (extra: Partial<PaddleApiOptions> = {}): PaddleApi => createPaddleApi({
    apiKey,
    environment: config.PADDLE_ENVIRONMENT,
    timeoutMs: config.PADDLE_API_TIMEOUT_MS,
    onRetry: (operation, attempt, delayMs, error) => {
      logger.info({ operation, attempt, retry_in_ms: Math.round(delayMs), kind: error.kind, code: error.code }, 'Paddle API call failed; retrying')
    },
    ...extra,
    ...dependencies.apiOptions,
  })
  const api = apiWith()
  const writer = createInboxWriter(database, { ...(dependencies.onStored === undefined ? {} : { onStored: dependencies.onStored }) })
  // A backfill of years pages for a long time: it waits out more rate limiting before it gives up
  // (and then resumes from its cursors when run again).
  const backfillApi = apiWith({ maxAttempts: 8 })
  const backfiller = createBackfiller({
    database,
    api: backfillApi,
    writer: createInboxWriter(database, { maxBatchSize: 200 }),
    customDataKeys: [config.ACCOUNT_ID_CUSTOM_DATA_KEY],
    logger: logger.child({ step: 'backfill' }),
    lockKey: ADVISORY_LOCK_KEYS.backfill,
    ...(dependencies.onStored === undefined ? {} : { onStored: dependencies.onStored }),
    ...(dependencies.backfillStallTimeoutMs === undefined ? {} : { stallTimeoutMs: dependencies.backfillStallTimeoutMs }),
  })
  const customDataKeys = [config.ACCOUNT_ID_CUSTOM_DATA_KEY]

  const reportFailure = (step: 'catch_up' | 'replay' | 'drift', error: unknown): void => {
    const kind = error instanceof PaddleApiError ? error.kind : 'error'
    metrics?.reconcileRun(step, kind)
    const line = { step, kind, err: error }
    if (kind === 'unauthorized') logger.error(line, 'Paddle refused the API key: check PADDLE_API_KEY and its permissions (event.read, notification.read, notification.write, subscription.read)')
    else logger.warn(line, 'reconciliation step failed; it runs again at the next interval')
  }

  const reportCursorAge = (seconds: number | null): void => {
    metrics?.reconcileCursorAge(seconds)
    if (seconds !== null && seconds > CURSOR_WARNING_SECONDS) {
      logger.warn({ cursor_age_days: Math.floor(seconds / 86_400) },
        `the event-log catch-up is more than ${CURSOR_WARNING_DAYS} days behind; Paddle keeps 90 days of events`)
    }
  }

  async function catchUp (stopping: AbortSignal | undefined): Promise<void> {
    try {
      const report = await catchUpFromEventLog({ database, api, writer, customDataKeys, logger, now, ...(stopping === undefined ? {} : { stopping }) })
      metrics?.reconcileRun('catch_up', 'ok', report.stored)
      const line = { ...report }
      if (report.stored > 0) logger.info(line, 'caught up from Paddle\'s event log: stored events we had not received')
      else logger.debug(line, 'Paddle\'s event log holds nothing we lack')
      reportCursorAge(report.cursorAgeSeconds)
    } catch (error) {
      reportFailure('catch_up', error)
      reportCursorAge(await eventLogCursorAgeSeconds(database, now()).catch(() => null))
    }
  }

  async function replay (stopping: AbortSignal | undefined): Promise<void> {
    if (config.PADDLE_NOTIFICATION_SETTING_ID === undefined || stopping?.aborted === true) return
    try {
      const report = await replayFailedNotifications({
        database, api, logger, now, notificationSettingId: config.PADDLE_NOTIFICATION_SETTING_ID,
      })
      metrics?.reconcileRun('replay', 'ok', report.replayed)
      if (report.listed > 0) logger.info({ ...report }, 'failed Paddle notifications looked at')
    } catch (error) {
      reportFailure('replay', error)
    }
  }

  return {
    backfiller,
    async run (stopping) {
      await catchUp(stopping)
      await replay(stopping)
    },
    async reconcile (options) {
      try {
        const report = await reconcileSubscriptions({
          database,
          api,
          writer,
          customDataKeys,
          ...(dependencies.onStored === undefined ? {} : { onStored: dependencies.onStored }),
          ...(dependencies.applyWaitMs === undefined ? {} : { applyWaitMs: dependencies.applyWaitMs }),
        }, options)
        metrics?.reconcileRun('drift', 'ok', report.drifted)
        logger.info({ dry_run: report.dryRun, checked: report.checked, drifted: report.drifted }, 'subscription drift report')
        return report
      } catch (error) {
        reportFailure('drift', error)
        throw error
      }
    },
  }
}

/** Said once at start-up: what reconciliation will and will not do in this process. */
export function describeReconciliation (config: Pick<Config, 'PADDLE_API_KEY' | 'PADDLE_NOTIFICATION_SETTING_ID' | 'RECONCILE_INTERVAL_MINUTES' | 'SCHEDULER_ENABLED'>, logger: Logger): void {
  if (config.PADDLE_API_KEY === undefined) {
    logger.info('reconciliation with Paddle is off: PADDLE_API_KEY is not set (webhooks only; no catch-up, replay or drift report)')
    return
  }
  if (config.RECONCILE_INTERVAL_MINUTES === 0) {
    logger.info('scheduled reconciliation is off (RECONCILE_INTERVAL_MINUTES=0); POST /internal/admin/reconcile still works')
  } else if (config.SCHEDULER_ENABLED && config.PADDLE_NOTIFICATION_SETTING_ID === undefined) {
    logger.info('failed-notification replay is off: PADDLE_NOTIFICATION_SETTING_ID is not set (the event-log catch-up runs)')
  }
}
