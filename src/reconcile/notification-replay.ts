/**
 * Failed-notification replay: asks Paddle to deliver again the notifications to our destination
 * that it gave up on (`failed`) or is still retrying (`needs_retry`), so that they arrive through
 * the normal, signed webhook path. Skipped: notifications whose event the inbox already holds (by
 * webhook or by the event-log catch-up), those already replayed, and replays themselves.
 *
 * The window reaches a few days behind the previous run, past Paddle's own retry period, so a
 * notification that was still `needs_retry` last time is seen again once it has become `failed`.
 */
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import { isRecord } from '../paddle/envelope.js'
import { addDays } from '../platform/timestamps.js'
import { findInboxEvents } from './reconcile.repository.js'
import { readJobState, writeJobState } from './job-state.repository.js'
import { PaddleApiError, type PaddleApi, type RawEntity } from './paddle-api.js'

export const NOTIFICATION_REPLAY_JOB = 'paddle-notification-replay'
/** Paddle retries a live notification for 3 days before it is `failed`; one more day of margin. */
const WINDOW_OVERLAP_DAYS = 4
/** Paddle keeps 90 days of notifications. */
const OLDEST_DAYS = 89

export interface NotificationReplayState { lastWindowEnd: string }

export interface ReplayReport {
  from: string
  to: string
  /** Failed or needs_retry notifications in the window. */
  listed: number
  replayed: number
  alreadyStored: number
  alreadyReplayed: number
  /** Paddle refused the replay (a notification still being retried, a replay of a replay...). */
  notReplayable: number
}

export interface ReplayDependencies {
  database: DatabaseHandle
  api: PaddleApi
  notificationSettingId: string
  logger: Logger
  /** Canonical timestamp of now. */
  now: () => string
}

export async function replayFailedNotifications (dependencies: ReplayDependencies): Promise<ReplayReport> {
  const { database, api, logger } = dependencies
  const state = await readJobState<NotificationReplayState>(database, NOTIFICATION_REPLAY_JOB)
  const to = dependencies.now()
  const oldest = addDays(to, -OLDEST_DAYS)
  const since = addDays(state.lastWindowEnd ?? to, -WINDOW_OVERLAP_DAYS)
  const report: ReplayReport = {
    from: since < oldest ? oldest : since,
    to,
    listed: 0,
    replayed: 0,
    alreadyStored: 0,
    alreadyReplayed: 0,
    notReplayable: 0,
  }

  const pages = api.notificationPages({
    notificationSettingId: dependencies.notificationSettingId,
    statuses: ['failed', 'needs_retry'],
    from: report.from,
    to: report.to,
  })
  for await (const page of pages) {
    report.listed += page.length
    const stored = await storedEventIds(database, page)
    for (const notification of page) {
      const id = typeof notification.id === 'string' ? notification.id : null
      if (id === null) continue
      if (stored.has(eventIdOf(notification) ?? '')) {
        report.alreadyStored += 1
      } else if (notification.replayed_at !== null && notification.replayed_at !== undefined) {
        report.alreadyReplayed += 1
      } else if (notification.origin !== undefined && notification.origin !== 'event') {
        report.notReplayable += 1
      } else {
        try {
          const replayId = await api.replayNotification(id)
          report.replayed += 1
          logger.info({ notification_id: id, replay_notification_id: replayId, event_id: eventIdOf(notification) },
            'asked Paddle to replay a notification we did not receive')
        } catch (error) {
          // Paddle refuses some replays (a notification it is still retrying): nothing to do about those.
          // Anything else (the key, rate limits, an outage) ends the run; the window is not advanced.
          if (!(error instanceof PaddleApiError) || error.kind !== 'rejected') throw error
          report.notReplayable += 1
          logger.info({ notification_id: id, code: error.code }, 'Paddle did not replay a notification')
        }
      }
    }
  }
  const next: NotificationReplayState = { lastWindowEnd: report.to }
  await writeJobState(database, NOTIFICATION_REPLAY_JOB, next)
  return report
}

function eventIdOf (notification: RawEntity): string | null {
  const payload = notification.payload
  return isRecord(payload) && typeof payload.event_id === 'string' ? payload.event_id : null
}

async function storedEventIds (database: DatabaseHandle, page: RawEntity[]): Promise<Set<string>> {
  const ids = page.map(eventIdOf).filter((id): id is string => id !== null)
  if (ids.length === 0) return new Set()
  return new Set((await findInboxEvents(database.db, ids)).map((row) => row.eventId))
}
