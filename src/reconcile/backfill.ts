/**
 * Backfill: mirrors everything a Paddle account already has (customers, subscriptions, transactions,
 * adjustments; every status, every date) when the service is switched on for an account that has been
 * billing for years. The event-log catch-up reaches back 90 days only, and the drift resync brings
 * subscriptions but not their customers or invoices.
 *
 * Each entity Paddle lists goes through the same path as every event: a synthetic event of origin
 * `backfill` (the entity as it is now, its occurred_at the entity's updated_at) is put into the inbox
 * through the same allow-list projection, and the worker applies it under the version rule, with the
 * same account resolution and locks. So an entity already as new here (a webhook got there first) is
 * left alone, and account links come out as they would have from the original events (resolution
 * depends on the stored facts, not on their order). Backfilled events emit no email events
 * (email-events/outbox.ts): imported history is not news to a customer.
 *
 * Before anything is stored, each entity's version is compared with the stored one (the same
 * comparison the worker makes): one that is not newer (`stale`, or `unchanged` when it is the very
 * version a previous backfill applied) is not put into the inbox at all, so a second run writes
 * nothing and a dry run can tell what a real one would do without writing. The others are stored, the
 * workers woken, and the run waits for their outcomes before the next page: at most a page of
 * backfill is ahead of the live webhooks in the inbox, and the counts are what the worker did.
 *
 * Resumable: after each page, the id of its last entity is saved per entity type (job_state
 * `paddle-backfill`); a run resumes after it, and a run that reaches the end clears the cursors, so the
 * next one goes over everything again (finding it unchanged). The synthetic event ids are derived
 * from the entity and its updated_at, so a page listed twice stores its events once.
 */
import type { Logger } from 'pino'
import { ALREADY_APPLIED } from '../billing/apply-context.js'
import { compareVersions, entityVersion } from '../billing/version.js'
import type { DatabaseHandle } from '../db/client.js'
import type { InboxRow, InboxWriter } from '../intake/inbox-writer.js'
import { projectEvent } from '../paddle/projection.js'
import { randomBase36Id } from '../platform/random-ids.js'
import { errorSummary } from '../platform/safe-error.js'
import {
  finishRun, inboxOutcomes, insertRun, markAbandonedRuns, recordRunProgress, storedVersions, type InboxOutcomeRow,
} from './backfill.repository.js'
import { readJobState, writeJobState } from './job-state.repository.js'
import { BACKFILL_ENTITIES, type BackfillEntity, type PaddleApi, type RawEntity } from './paddle-api.js'

export const BACKFILL_JOB = 'paddle-backfill'

/**
 * - `created`: not stored here before; now it is.
 * - `updated`: stored at an older version; now at Paddle's.
 * - `unchanged`: stored at exactly this version already (a previous backfill brought it).
 * - `stale`: ours is newer (a webhook brought a later change): left alone.
 * - `failed`: could not be applied (no id, or the worker refused it: see GET /internal/admin/events).
 */
export type BackfillOutcome = 'created' | 'updated' | 'unchanged' | 'stale' | 'failed'
export const BACKFILL_OUTCOMES: readonly BackfillOutcome[] = ['created', 'updated', 'unchanged', 'stale', 'failed']

export type OutcomeCounts = Record<BackfillOutcome, number>

export interface EntityProgress extends OutcomeCounts {
  pages: number
  listed: number
  /** Paddle's estimate of the whole list (null before the first page). */
  estimatedTotal: number | null
  /** The last id done: the next run of an unfinished pass resumes after it. */
  cursor: string | null
  done: boolean
}

/** Keyed by the plural of each entity, as operators read it. */
export type BackfillProgress = Record<`${BackfillEntity}s`, EntityProgress>

export interface BackfillReport {
  runId: string
  dryRun: boolean
  status: 'completed' | 'interrupted'
  /** Whether this run resumed a pass an earlier run left unfinished. */
  resumed: boolean
  entities: BackfillProgress
  totals: OutcomeCounts & { listed: number }
}

export interface BackfillPage {
  runId: string
  dryRun: boolean
  entity: BackfillEntity
  /** This entity's page number in this run, from 1. */
  page: number
  listed: number
  counts: OutcomeCounts
  progress: EntityProgress
}

export interface BackfillOptions {
  dryRun: boolean
  /** Ignore (and clear) the cursors of an unfinished pass: start from the first entity. */
  restart?: boolean
}

export interface BackfillDependencies {
  database: DatabaseHandle
  api: PaddleApi
  writer: InboxWriter
  customDataKeys: readonly string[]
  logger: Logger
  /** Wakes the workers after a page's events were stored. */
  onStored?: () => void
  /** A page whose events no worker moves on for this long ends the run (no worker running?). */
  stallTimeoutMs?: number
}

interface Cursors {
  /** Per entity type, the last id of the last page done in the current pass. */
  after: Partial<Record<BackfillEntity, string>>
  /** Entity types the current pass has finished. */
  done: BackfillEntity[]
}

const NO_CURSORS: Cursors = { after: {}, done: [] }

export class BackfillStalledError extends Error {
  override name = 'BackfillStalledError'
}

export class BackfillBusyError extends Error {
  override name = 'BackfillBusyError'
  constructor () {
    super('a backfill is already running (see GET /internal/admin/backfill)')
  }
}

const zeroCounts = (): OutcomeCounts => ({ created: 0, updated: 0, unchanged: 0, stale: 0, failed: 0 })

function emptyProgress (): BackfillProgress {
  const progress = {} as BackfillProgress
  for (const entity of BACKFILL_ENTITIES) {
    progress[`${entity}s`] = { pages: 0, listed: 0, estimatedTotal: null, ...zeroCounts(), cursor: null, done: false }
  }
  return progress
}

export function totalsOf (progress: Partial<BackfillProgress>): OutcomeCounts & { listed: number } {
  const totals = { listed: 0, ...zeroCounts() }
  for (const entity of Object.values(progress)) {
    if (entity === undefined) continue
    totals.listed += entity.listed
    for (const outcome of BACKFILL_OUTCOMES) totals[outcome] += entity[outcome]
  }
  return totals
}

export function newBackfillRunId (): string {
  return randomBase36Id('bfr_', 26)
}

/** One entity of Paddle's list as the event the worker applies, with what decides its fate. */
interface Synthetic {
  entityId: string
  version: string
  row: InboxRow
}

/**
 * Paddle's entity as an inbox event (origin `backfill`). Its occurred_at is the entity's updated_at:
 * the version rule then ranks it just below any webhook about the same entity version (whose
 * occurred_at is at or after that updated_at), so a webhook always wins a tie.
 */
export function backfillEvent (entity: BackfillEntity, raw: RawEntity, customDataKeys: readonly string[]): Synthetic | null {
  const data = raw
  const probe = projectEvent({ eventId: 'probe', eventType: `${entity}.updated`, occurredAt: '1970-01-01T00:00:00.000000Z', notificationId: null, data },
    { customDataKeys })
  const payload = probe.payload as { id: string | null, updated_at: string | null, created_at: string | null } | null
  if (payload === null || payload.id === null) return null
  const occurredAt = payload.updated_at ?? payload.created_at ?? '1970-01-01T00:00:00.000000Z'
  const eventId = `backfill_${payload.id}_${occurredAt.replace(/\D/g, '')}`
  return {
    entityId: payload.id,
    version: entityVersion(payload.updated_at, occurredAt, eventId),
    row: {
      eventId,
      notificationId: null,
      eventType: `${entity}.updated`,
      entityType: probe.entityType,
      entityId: probe.entityId,
      customerId: probe.customerId,
      subscriptionId: probe.subscriptionId,
      occurredAt,
      origin: 'backfill',
      payload: probe.payload,
    },
  }
}

/** What the version comparison says before anything is stored (the worker makes the same one). */
function expectedOutcome (stored: string | undefined, incoming: string): BackfillOutcome {
  if (stored === undefined || stored === '') return 'created' // '' : a row a manual link or an erasure made, no Paddle data yet
  switch (compareVersions(incoming, stored)) {
    case 'newer': return 'updated'
    case 'same': return 'unchanged'
    case 'older': return 'stale'
  }
}

/** What the worker did with an event expected to be `created` or `updated`; null while it waits. */
function appliedOutcome (expected: BackfillOutcome, row: InboxOutcomeRow | undefined): BackfillOutcome | null {
  if (row === undefined) return null
  switch (row.status) {
    case 'processed':
    case 'ignored':
      if (row.outcome === 'stale') return 'stale'
      return row.note === ALREADY_APPLIED ? 'unchanged' : expected
    case 'failed': // its first attempt failed; the worker retries it, and it is listed by GET /internal/admin/events
    case 'dead':
      return 'failed'
    default:
      return null
  }
}

/**
 * One run of the backfill, start to end or until `stopping` is aborted (it then stops after the page
 * in hand, its cursor saved). The caller makes sure only one runs at a time (see createBackfiller).
 * A Paddle API error (after paddle-api.ts's retries) or a stall ends it with the error; the cursors
 * of the pages done are saved either way.
 */
export async function runBackfill (
  dependencies: BackfillDependencies,
  options: BackfillOptions & { runId: string, stopping?: AbortSignal, onPage?: (page: BackfillPage) => void }
): Promise<BackfillReport> {
  const { database, api, logger } = dependencies
  const { dryRun, runId } = options
  const entities = emptyProgress()
  // A dry run always looks at everything and never touches the cursors.
  const stored = dryRun || options.restart === true ? NO_CURSORS : { ...NO_CURSORS, ...await readJobState<Cursors>(database, BACKFILL_JOB) }
  const cursors: Cursors = { after: { ...stored.after }, done: [...stored.done] }
  if (!dryRun && options.restart === true) await writeJobState(database, BACKFILL_JOB, cursors)
  const resumed = cursors.done.length > 0 || Object.keys(cursors.after).length > 0
  const report = (status: BackfillReport['status']): BackfillReport => ({ runId, dryRun, status, resumed, entities, totals: totalsOf(entities) })
  if (resumed) logger.info({ run_id: runId, done: cursors.done, after: cursors.after }, 'backfill resumes an unfinished pass')

  for (const entity of BACKFILL_ENTITIES) {
    const progress = entities[`${entity}s`]
    progress.cursor = cursors.after[entity] ?? null
    if (cursors.done.includes(entity)) {
      progress.done = true
      continue
    }
    // The next page is asked for while this one is applied: Paddle's answer and the worker overlap.
    const pages = api.entityPages(entity, progress.cursor)
    let upcoming = pages.next()
    for (;;) {
      const next = await upcoming
      if (next.done === true) break
      const page = next.value
      upcoming = pages.next()
      upcoming.catch(() => {}) // awaited on the next turn; a run that ends first never asks
      const counts = await backfillPage(dependencies, entity, page.entities, dryRun)
      progress.pages += 1
      progress.listed += page.entities.length
      progress.estimatedTotal = page.estimatedTotal
      for (const outcome of BACKFILL_OUTCOMES) progress[outcome] += counts[outcome]
      const last = [...page.entities].reverse().find((raw) => typeof raw.id === 'string')
      if (last !== undefined) progress.cursor = last.id as string
      if (!dryRun && progress.cursor !== null) {
        cursors.after[entity] = progress.cursor
        await writeJobState(database, BACKFILL_JOB, cursors)
      }
      await recordRunProgress(database, runId, entities)
      const line = { run_id: runId, dry_run: dryRun, entity, page: progress.pages, listed: page.entities.length, ...counts }
      logger.info({ ...line, entity_listed: progress.listed, estimated_total: page.estimatedTotal }, 'backfill page')
      options.onPage?.({ runId, dryRun, entity, page: progress.pages, listed: page.entities.length, counts, progress })
      if (options.stopping?.aborted === true) return report('interrupted')
    }
    progress.done = true
    if (!dryRun) {
      cursors.done.push(entity)
      await writeJobState(database, BACKFILL_JOB, cursors)
    }
  }
  // The pass is complete: the next run goes over everything again.
  if (!dryRun) await writeJobState(database, BACKFILL_JOB, NO_CURSORS)
  return report('completed')
}

async function backfillPage (dependencies: BackfillDependencies, entity: BackfillEntity, page: RawEntity[], dryRun: boolean): Promise<OutcomeCounts> {
  const { database } = dependencies
  const counts = zeroCounts()
  const events: Synthetic[] = []
  for (const raw of page) {
    const event = backfillEvent(entity, raw, dependencies.customDataKeys)
    if (event === null) {
      counts.failed += 1
      dependencies.logger.warn({ entity }, 'backfill: Paddle listed an entity without an id; skipped')
    } else {
      events.push(event)
    }
  }
  const versions = await storedVersions(database, entity, events.map((event) => event.entityId))
  const toApply: Array<{ event: Synthetic, expected: BackfillOutcome }> = []
  for (const event of events) {
    const expected = expectedOutcome(versions.get(event.entityId), event.version)
    if (dryRun || (expected !== 'created' && expected !== 'updated')) counts[expected] += 1
    else toApply.push({ event, expected })
  }
  if (toApply.length === 0) return counts

  await Promise.all(toApply.map(async ({ event }) => await dependencies.writer.insert(event.row)))
  dependencies.onStored?.()
  const outcomes = await waitForOutcomes(dependencies, toApply)
  for (const outcome of outcomes) counts[outcome] += 1
  return counts
}

/** Waits until the worker has applied (or failed) every event of the page. */
async function waitForOutcomes (
  dependencies: BackfillDependencies,
  toApply: Array<{ event: Synthetic, expected: BackfillOutcome }>
): Promise<BackfillOutcome[]> {
  const stallTimeoutMs = dependencies.stallTimeoutMs ?? 60_000
  const eventIds = toApply.map(({ event }) => event.row.eventId)
  let settled = 0
  let lastProgressAt = Date.now()
  let delayMs = 10
  for (;;) {
    const rows = new Map((await inboxOutcomes(dependencies.database, eventIds)).map((row) => [row.eventId, row]))
    const outcomes = toApply.map(({ event, expected }) => appliedOutcome(expected, rows.get(event.row.eventId)))
    const done = outcomes.filter((outcome) => outcome !== null).length
    if (done === outcomes.length) return outcomes as BackfillOutcome[]
    if (done > settled) {
      settled = done
      lastProgressAt = Date.now()
      delayMs = 10
    } else if (Date.now() - lastProgressAt > stallTimeoutMs) {
      throw new BackfillStalledError(`no worker applied the backfill's events for ${Math.round(stallTimeoutMs / 1000)} s ` +
        `(${outcomes.length - done} of ${outcomes.length} still waiting): is a worker running (WORKER_ENABLED, npm run worker)? ` +
        'They stay in the inbox; run the backfill again to resume')
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    delayMs = Math.min(50, delayMs * 2)
  }
}

// --- One run at a time, with a record operators can follow -------------------------------------

export interface BackfillStart extends BackfillOptions {
  /** Who asked: `cli` (npm run paddle:backfill) or `api` (POST /internal/admin/backfill). */
  trigger: 'cli' | 'api'
}

export interface Backfiller {
  /**
   * Runs a backfill in the foreground (the CLI); throws BackfillBusyError when one is running
   * already, here or in another process, and the run's error when it fails.
   */
  run(start: BackfillStart & { stopping?: AbortSignal, onPage?: (page: BackfillPage) => void }): Promise<BackfillReport>
  /**
   * Starts one in the background (the admin route) and resolves with its run id as soon as it holds
   * the lock; throws BackfillBusyError when one is running already. Its record says how it goes.
   */
  start(start: BackfillStart): Promise<{ runId: string }>
  /** Stops the background run after its page in hand (shutdown); resolves once it has. */
  stop(): Promise<void>
}

export function createBackfiller (dependencies: BackfillDependencies & { lockKey: number }): Backfiller {
  const { database, logger } = dependencies
  let active: Promise<unknown> | null = null
  const stopping = new AbortController()

  /** Under the lock: the record, the run, the record's end. `started` is told the run id once it holds the lock. */
  async function locked (
    start: BackfillStart & { stopping?: AbortSignal, onPage?: (page: BackfillPage) => void },
    started: (runId: string) => void
  ): Promise<BackfillReport> {
    if (active !== null) throw new BackfillBusyError()
    const outcome = await database.withLock(dependencies.lockKey, async () => {
      const runId = newBackfillRunId()
      await insertRun(database, { id: runId, dryRun: start.dryRun, trigger: start.trigger, progress: emptyProgress() })
      const abandoned = await markAbandonedRuns(database, runId)
      if (abandoned > 0) logger.warn({ run_id: runId, abandoned }, 'backfill runs left marked running by a stopped process are now marked interrupted')
      logger.info({ run_id: runId, dry_run: start.dryRun, restart: start.restart === true, trigger: start.trigger }, 'backfill started')
      started(runId)
      let entities = emptyProgress()
      try {
        const report = await runBackfill(dependencies, {
          runId,
          dryRun: start.dryRun,
          ...(start.restart === undefined ? {} : { restart: start.restart }),
          ...(start.stopping === undefined ? {} : { stopping: start.stopping }),
          onPage: (page) => {
            entities = { ...entities, [`${page.entity}s`]: page.progress }
            start.onPage?.(page)
          },
        })
        await finishRun(database, runId, { status: report.status, progress: report.entities, error: null })
        logger.info({ run_id: runId, dry_run: report.dryRun, status: report.status, ...report.totals }, 'backfill finished')
        return report
      } catch (error) {
        await finishRun(database, runId, { status: 'failed', progress: entities, error: errorSummary(error) }).catch(() => {})
        logger.error({ run_id: runId, err: error }, 'backfill failed; run it again to resume after the last page done')
        throw error
      }
    })
    if (!outcome.ran) throw new BackfillBusyError()
    return outcome.result
  }

  function track<T> (work: Promise<T>): Promise<T> {
    active = work
    work.finally(() => { if (active === work) active = null }).catch(() => {})
    return work
  }

  return {
    async run (start) {
      return await track(locked(start, () => {}))
    },
    async start (start) {
      return await new Promise<{ runId: string }>((resolve, reject) => {
        if (active !== null) {
          reject(new BackfillBusyError())
          return
        }
        let told = false
        const work = track(locked({ ...start, stopping: stopping.signal }, (runId) => {
          told = true
          resolve({ runId })
        }))
        // Before the lock: the caller learns why (busy, database down); after it, the record tells.
        work.catch((error: unknown) => { if (!told) reject(error) })
      })
    },
    async stop () {
      stopping.abort()
      await active?.catch(() => {})
    },
  }
}
