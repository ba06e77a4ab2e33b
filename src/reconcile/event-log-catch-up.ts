/**
 * Catch-up from Paddle's own event log: every event after the last one read this way goes into
 * the same inbox as the webhooks, marked `origin: reconcile`, through the same allow-list
 * projection. The inbox keys on event_id, so events that also came (or will come) by webhook are
 * stored once and applied once; the worker applies the rest like any other event, and the email
 * age rule keeps a late catch-up from mailing customers about the past.
 *
 * The cursor (the last event id read) is saved after every page, so a run that fails half-way
 * resumes where it stopped. The caller runs this under an advisory lock: one process at a time.
 */
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import type { InboxWriter } from '../intake/inbox-writer.js'
import { envelopeFrom } from '../paddle/envelope.js'
import { projectEvent } from '../paddle/projection.js'
import { readJobState, writeJobState } from './job-state.repository.js'
import type { PaddleApi } from './paddle-api.js'

export const EVENT_LOG_JOB = 'paddle-event-log'
/** Paddle keeps 90 days of events; past this age the cursor is at risk of pointing past what Paddle still has. */
export const CURSOR_WARNING_DAYS = 80

export interface EventLogState {
  /** The last event id read from the log. */
  cursor: string
  /**
   * Every event that occurred before this time has been read: the start of the last run that
   * reached the end of the log, else the occurred_at of the cursor's event.
   */
  syncedThrough: string
}

export interface CatchUpReport {
  pages: number
  fetched: number
  stored: number
  duplicates: number
  /** Log entries that are not event envelopes: skipped (counted and logged by id). */
  invalid: number
  cursor: string | null
  syncedThrough: string | null
  /** Seconds between syncedThrough and now; null before the first event was read. */
  cursorAgeSeconds: number | null
}

export interface CatchUpDependencies {
  database: DatabaseHandle
  api: PaddleApi
  writer: InboxWriter
  customDataKeys: readonly string[]
  logger: Logger
  /** Canonical timestamp of now. */
  now: () => string
  /** Aborted at shutdown: the run stops after the page in hand (its cursor saved). */
  stopping?: AbortSignal
}

export async function catchUpFromEventLog (dependencies: CatchUpDependencies): Promise<CatchUpReport> {
  const { database, api, writer, logger } = dependencies
  const state = await readJobState<EventLogState>(database, EVENT_LOG_JOB)
  const startedAt = dependencies.now()
  const report: CatchUpReport = {
    pages: 0,
    fetched: 0,
    stored: 0,
    duplicates: 0,
    invalid: 0,
    cursor: state.cursor ?? null,
    syncedThrough: state.syncedThrough ?? null,
    cursorAgeSeconds: null,
  }

  for await (const page of api.eventPages(report.cursor)) {
    report.pages += 1
    report.fetched += page.length
    const inserts: Array<Promise<'stored' | 'duplicate'>> = []
    for (const entry of page) {
      const parsed = envelopeFrom(entry)
      if (!parsed.ok) {
        report.invalid += 1
        logger.warn({ event_id: typeof entry.event_id === 'string' ? entry.event_id : null, problem: parsed.problem },
          'skipped an entry of Paddle\'s event log that is not an event')
        continue
      }
      const { envelope } = parsed
      inserts.push(writer.insert({
        eventId: envelope.eventId,
        notificationId: null,
        eventType: envelope.eventType,
        occurredAt: envelope.occurredAt,
        origin: 'reconcile',
        ...projectEvent(envelope, { customDataKeys: dependencies.customDataKeys }),
      }))
      report.cursor = envelope.eventId
      report.syncedThrough = envelope.occurredAt
    }
    for (const outcome of await Promise.all(inserts)) {
      if (outcome === 'stored') report.stored += 1
      else report.duplicates += 1
    }
    await saveState(database, report)
    if (dependencies.stopping?.aborted === true) return finish(report, dependencies.now())
  }
  // The log's end: everything that occurred before this run started has been read.
  if (report.cursor !== null) {
    report.syncedThrough = startedAt
    await saveState(database, report)
  }
  return finish(report, dependencies.now())
}

function finish (report: CatchUpReport, now: string): CatchUpReport {
  report.cursorAgeSeconds = report.syncedThrough === null ? null : secondsBetween(report.syncedThrough, now)
  return report
}

async function saveState (database: DatabaseHandle, report: CatchUpReport): Promise<void> {
  if (report.cursor === null || report.syncedThrough === null) return
  const state: EventLogState = { cursor: report.cursor, syncedThrough: report.syncedThrough }
  await writeJobState(database, EVENT_LOG_JOB, state)
}

/** The cursor's age from what is stored, for when a run could not reach Paddle at all. */
export async function eventLogCursorAgeSeconds (database: DatabaseHandle, now: string): Promise<number | null> {
  const state = await readJobState<EventLogState>(database, EVENT_LOG_JOB)
  return state.syncedThrough === undefined ? null : secondsBetween(state.syncedThrough, now)
}

export const CURSOR_WARNING_SECONDS = CURSOR_WARNING_DAYS * 86_400

function secondsBetween (earlier: string, later: string): number {
  return Math.max(0, Math.round((Date.parse(later) - Date.parse(earlier)) / 1000))
}
