/**
 * The worker: applies pending inbox rows. Each row is claimed with FOR UPDATE SKIP LOCKED, so any
 * number of processes can share the inbox without applying an event twice; the state change, its
 * consequences (email events) and the row's new status commit in one transaction. Work on one
 * entity is serialised by advisory locks (see billing/locks.ts), taken in the claiming statement.
 *
 * Rows are claimed a few at a time (batchSize) and applied one after another in one transaction,
 * in claim order: the statements that cost the same whatever the batch holds (BEGIN, the claim, the
 * status update, COMMIT and its WAL flush) are paid once per batch, not once per event. While the
 * inbox is caught up, claims are spaced out (claim-pacer.ts), so that a steady stream of webhooks is
 * claimed in full batches too.
 *
 * A failing event is retried with exponential backoff and jitter and becomes `dead` after
 * maxAttempts; it never holds up other entities, since nothing waits for it. When an event fails
 * inside a batch, the whole batch rolls back and its rows are claimed again one at a time, so the
 * failure is counted against the event that caused it and the others apply without it.
 */
import type { Logger } from 'pino'
import type { DatabaseHandle, RawStatement, Transaction } from '../db/client.js'
import type { InboxOrigin } from '../db/schema.js'
import { isConnectionError } from '../db/connection-errors.js'
import { applyInboxEvent, type AppliedEvent, type InboxEvent } from '../billing/apply-event.js'
import { lockHash } from '../billing/locks.js'
import { prefetchStates } from '../billing/prefetch.js'
import { TRACKED_ENTITY_TYPES } from '../paddle/event-types.js'
import { canonicalTimestamp } from '../platform/timestamps.js'
import { backoffWithJitter } from '../platform/backoff.js'
import { errorSummary } from '../platform/safe-error.js'
import { INBOX_CHANNEL, type WakeSignal } from '../db/wake-signal.js'
import { createWorkLoop } from '../db/work-loop.js'
import { createClaimPacer } from './claim-pacer.js'
import { createTableUpkeep } from './table-upkeep.js'
import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api'
import { contextFromTraceparent, describeSpan, failSpan, inSpan, tracer, withSpan } from '../platform/tracing.js'

/**
 * What a batch's applied events lead to, recorded in the batch's transaction: worked out after each
 * event (in its processing span), written together once every event of the batch is applied, so
 * that what they cost in statements is paid per batch, not per event.
 */
export interface BatchConsequences {
  /** After the event is applied; returns how many email events it derived (a span attribute). */
  afterApply(event: InboxEvent, applied: AppliedEvent): Promise<number>
  /** Writes them, before the batch is marked processed; returns how many new email events each event made. */
  record(): Promise<ReadonlyMap<string, number>>
}

export interface InboxWorkerOptions {
  database: DatabaseHandle
  logger: Logger
  /** Transactions applying events at once in this process (each on its own connection). */
  concurrency: number
  /** Most events one transaction claims and applies (default DEFAULT_BATCH_SIZE). */
  batchSize?: number
  maxAttempts: number
  /** How often to look for work when nothing wakes the worker (retries falling due, missed NOTIFYs). */
  pollIntervalMs: number
  accountIdKey: string
  /** In-process wake-ups from the intake. */
  wake?: WakeSignal
  /** What the batch's applied events lead to (email events, entitlement changes), made once per batch. */
  consequences?: (tx: Transaction) => BatchConsequences
  /** Retry delay for the given attempt number, in seconds. */
  retryDelaySeconds?: (attempt: number) => number
  /** Observes each processed event once its transaction has committed (metrics, waking the dispatcher). */
  onProcessed?: (event: InboxEvent, result: { status: string, outcome: string | null, recorded: number }) => void
  /** VACUUM (ANALYZE) the busy tables after this many events processed by this process (0: never). */
  vacuumEvery?: number
  /**
   * While the inbox is caught up, how long after a claim that was not full the next claim waits, so
   * that events arriving in a steady stream are claimed in full batches (see claim-pacer.ts; 0: at once).
   */
  claimSpacingMs?: number
}

/**
 * Table upkeep (table-upkeep.ts) the worker does not leave to autovacuum, which may be off (it is off on the machine
 * these figures come from) or wait until a fifth of a table is dead. Every processed row leaves a dead entry
 * at the front of the claim index, and a backlog grows the state tables faster than their planner
 * statistics follow. Measured draining a 50,000-event backlog with autovacuum off: without this the
 * rate fell from ~1,400 to ~600 events/s as the run went on (relinking took 0.4 ms, then 2.6 ms);
 * with it, it held at ~1,400-2,100. The inbox's ANALYZE samples few rows and no payloads (migration
 * 0011): with the default sample it was a fifth of the statement time of a 10,000-event backlog.
 */
const DEFAULT_VACUUM_EVERY = 5_000
const FIRST_VACUUM_AFTER = 500

/**
 * A batch pays once for what does not depend on its size (BEGIN, the claim, reading its entities
 * ahead, recording its email events and entitlement answers, marking it processed, COMMIT): ~9
 * statements. Measured in a same-run A/B draining a backlog with one worker process (WORKER_CONCURRENCY=4,
 * 2 CPUs shared with PostgreSQL), against batches of 8: mixed lifecycles 1.16-1.35x with 32 (4.2
 * statements per event instead of 5.1), no better with 64; new customers' transactions 1.24x with 32.
 */
export const DEFAULT_BATCH_SIZE = 32
/** Measured in `npm run bench -- burst`: see README, "A steady stream is claimed in full batches". */
export const DEFAULT_CLAIM_SPACING_MS = 20

export interface InboxWorker {
  start(): Promise<void>
  /** Stops claiming; waits for the events being applied to commit or roll back. */
  stop(): Promise<void>
  /** Applies one batch of runnable events; false when there was none. */
  processNext(): Promise<boolean>
  /** Applies runnable events until none is left; returns how many it processed. */
  drain(): Promise<number>
}

/**
 * An older event of the same entity that is still waiting holds the newer ones back (per-entity
 * order, below) for its first few attempts only: one that keeps failing (a bug, a poison payload)
 * must not stop its entity's later events for the hours its backoff grows to. Past this many
 * attempts the newer events go ahead, and the versioned apply keeps the state right either way.
 */
export const ORDER_HOLD_ATTEMPTS = 3

/**
 * Claims up to `limit` of the oldest runnable rows (in (occurred_at, event_id) order, FOR UPDATE SKIP
 * LOCKED) and, in the same round trip, decides which of them may be applied now:
 *
 * - Per-entity order across processes: a row is applied only if no older event of the same entity is
 *   still waiting outside this claim (pending, or failed and still within ORDER_HOLD_ATTEMPTS). An
 *   entity's events are then applied in (occurred_at, event_id) order, whichever process or slot
 *   claims them: a newer one can only be applied in the same batch as the older ones, after them, or
 *   once they have committed. Rows about an entity or customer that this process is applying or found
 *   contended ($2, $3) are passed over.
 * - The advisory locks of their entities and customers (keyed as lockKey() spells them) are tried,
 *   never waited for (pg_try_advisory_xact_lock): a row whose locks are held elsewhere is left alone,
 *   so a slow or frozen holder delays only its own entities, never the claim. The CTEs are
 *   materialised so that locks are tried only for the rows claimed in order, never for a row SKIP
 *   LOCKED passed over.
 *
 * Rows that may not be applied now come back with `runnable = false`; they are not touched and stay
 * claimable once this transaction ends.
 *
 * The limit is written into the statement (one named statement per limit: the batch size, and 1 for
 * the single claims after a failed batch). As a parameter, PostgreSQL's generic plan expected a tenth
 * of the table from the LIMIT, so it planned every claim again with the values: about 0.5 ms of its
 * CPU per claim (replayed claims of the mixed stream: 1,167-1,193 us each with the limit written in,
 * 1,433-1,747 us as a parameter).
 */
function claimStatement (limit: number): RawStatement {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`a claim's limit must be a positive integer, not ${limit}`)
  return {
    name: `inbox_claim_batch_${limit}`,
    text: `WITH picked AS MATERIALIZED (
      SELECT event_id, event_type, entity_type, entity_id, customer_id, occurred_at, origin, payload, attempts, traceparent
      FROM paddle_inbox
      WHERE status IN ('pending', 'failed') AND next_attempt_at <= now()
        AND (entity_id IS NULL OR entity_id <> ALL($2::text[]))
        AND (customer_id IS NULL OR customer_id <> ALL($3::text[]))
      ORDER BY occurred_at, event_id
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ),
    claimed AS MATERIALIZED (
      SELECT picked.*, (picked.entity_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM paddle_inbox older
        WHERE older.entity_type = picked.entity_type AND older.entity_id = picked.entity_id
          AND older.status IN ('pending', 'failed') AND (older.status = 'pending' OR older.attempts < $4)
          AND (older.occurred_at, older.event_id) < (picked.occurred_at, picked.event_id)
          AND older.event_id NOT IN (SELECT event_id FROM picked))) AS in_order
      FROM picked
    ),
    wanted AS MATERIALIZED (
      SELECT DISTINCT ${lockHash('lock.key')} AS hash
      FROM claimed, LATERAL (VALUES (claimed.entity_type || ':' || claimed.entity_id), ('customer:' || claimed.customer_id)) AS lock (key)
      WHERE claimed.in_order AND claimed.entity_type = ANY($1::text[]) AND claimed.entity_id IS NOT NULL AND lock.key IS NOT NULL
    ),
    held AS MATERIALIZED (SELECT hash FROM wanted WHERE pg_try_advisory_xact_lock(hash))
    SELECT claimed.event_id, claimed.event_type, claimed.entity_type, claimed.entity_id, claimed.customer_id,
      claimed.occurred_at, claimed.origin, claimed.payload, claimed.attempts, claimed.traceparent, claimed.in_order,
      claimed.in_order AND (claimed.entity_id IS NULL OR claimed.entity_type <> ALL($1::text[]) OR (
        ${lockHash("claimed.entity_type || ':' || claimed.entity_id")} IN (SELECT hash FROM held)
        AND (claimed.customer_id IS NULL OR ${lockHash("'customer:' || claimed.customer_id")} IN (SELECT hash FROM held))
      )) AS runnable
    FROM claimed ORDER BY claimed.occurred_at, claimed.event_id`,
  }
}

const MARK_PROCESSED: RawStatement = {
  name: 'inbox_mark_processed_batch',
  text: `UPDATE paddle_inbox i
    SET status = done.status, outcome = done.outcome, note = done.note, attempts = i.attempts + 1, last_error = NULL, processed_at = now()
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS done (event_id, status, outcome, note)
    WHERE i.event_id = done.event_id`,
}

/** Only while it is still waiting: between the rollback and this update another worker may have applied it. */
const MARK_FAILED: RawStatement = {
  name: 'inbox_mark_failed',
  text: `UPDATE paddle_inbox
    SET status = CASE WHEN attempts + 1 >= $2 THEN 'dead' ELSE 'failed' END, attempts = attempts + 1,
      last_error = $3, next_attempt_at = now() + make_interval(secs => $4)
    WHERE event_id = $1 AND status IN ('pending', 'failed')
    RETURNING status, attempts`,
}

interface ClaimedRow {
  event_id: string
  event_type: string
  entity_type: string
  entity_id: string | null
  customer_id: string | null
  occurred_at: string
  origin: InboxOrigin
  payload: unknown
  attempts: number
  /** The webhook request's trace context, continued by the processing span. */
  traceparent: string | null
  /** False when an older event of its entity waits outside this claim. */
  in_order: boolean
  /** In order, and its locks taken. */
  runnable: boolean
}

interface ProcessedEvent {
  event: InboxEvent
  status: 'processed' | 'ignored'
  outcome: AppliedEvent['outcome']
  note: string | null
  recorded: number
}

function toInboxEvent (row: ClaimedRow): InboxEvent {
  return {
    eventId: row.event_id,
    eventType: row.event_type,
    entityType: row.entity_type,
    entityId: row.entity_id,
    customerId: row.customer_id,
    occurredAt: canonicalTimestamp(row.occurred_at),
    origin: row.origin,
    payload: row.payload,
  }
}

function startProcessingSpan (event: InboxEvent, traceparent: string | null, batchSize: number): Span {
  const span = tracer.startSpan('paddle.event.process', { kind: SpanKind.CONSUMER }, contextFromTraceparent(traceparent))
  describeSpan(span, () => ({
    'paddle.event_id': event.eventId,
    'paddle.event_type': event.eventType,
    'billing.origin': event.origin,
    'billing.batch.size': batchSize,
  }))
  return span
}

/** How long a process passes over an entity or customer whose locks it found held by another. */
const CONTENTION_PAUSE_MS = 500

/**
 * Entities and customers found locked by another process, passed over until their pause ends; the
 * worker is woken when it does, so the event waits no longer than the pause once the lock is free.
 * Locks held by this process's own slots are no reason to pause (`forget`): the slot holding them
 * claims their next events itself.
 */
function createContentionTracker (pauseMs: number, onPauseOver: () => void): {
  add(entityId: string | null, customerId: string | null): void
  forget(entityId: string | null, customerId: string | null): void
  entities(): string[]
  customers(): string[]
} {
  const entities = new Map<string, number>()
  const customers = new Map<string, number>()
  let timer: NodeJS.Timeout | undefined
  const current = (map: Map<string, number>): string[] => {
    const now = Date.now()
    for (const [key, until] of map) if (until <= now) map.delete(key)
    return [...map.keys()]
  }
  return {
    add (entityId, customerId) {
      const until = Date.now() + pauseMs
      if (entityId !== null) entities.set(entityId, until)
      if (customerId !== null) customers.set(customerId, until)
      if (timer === undefined) {
        timer = setTimeout(() => {
          timer = undefined
          onPauseOver()
        }, pauseMs + 10)
        timer.unref()
      }
    },
    forget (entityId, customerId) {
      if (entityId !== null) entities.delete(entityId)
      if (customerId !== null) customers.delete(customerId)
    },
    entities: () => current(entities),
    customers: () => current(customers),
  }
}

/** 2 s, 4 s, 8 s... capped at 15 minutes, with up to half of it as jitter so retries spread out. */
export function defaultRetryDelaySeconds (attempt: number, random: () => number = Math.random): number {
  return backoffWithJitter(attempt, { first: 2, max: 900 }, random)
}

export function createInboxWorker (options: InboxWorkerOptions): InboxWorker {
  const { database, logger } = options
  const retryDelay = options.retryDelaySeconds ?? ((attempt: number) => defaultRetryDelaySeconds(attempt))
  let running = false
  const vacuumEvery = options.vacuumEvery ?? DEFAULT_VACUUM_EVERY
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
  const claims = { batch: claimStatement(batchSize), single: claimStatement(1) }
  const pacer = createClaimPacer(options.claimSpacingMs ?? DEFAULT_CLAIM_SPACING_MS)
  let processedSinceVacuum = 0
  // The first upkeeps come sooner (after 500, 1,000, 2,000... events, up to vacuumEvery): a process
  // that starts on young tables (a new deploy, a first backlog) has planner statistics that describe
  // them nearly empty, and plans scans for them that grow with every row stored meanwhile.
  let nextVacuumAfter = Math.min(vacuumEvery, FIRST_VACUUM_AFTER)
  let vacuuming: Promise<void> | undefined
  const upkeep = createTableUpkeep(database)

  /** In the background, never holding up the worker's loops. */
  function maybeVacuum (): void {
    processedSinceVacuum += 1
    if (vacuumEvery === 0 || processedSinceVacuum < nextVacuumAfter || vacuuming !== undefined) return
    processedSinceVacuum = 0
    nextVacuumAfter = Math.min(vacuumEvery, nextVacuumAfter * 2)
    vacuuming = upkeep.run().catch((error: unknown) => {
      logger.warn({ err: error }, 'table upkeep (VACUUM ANALYZE) failed; autovacuum, if on, will do it')
    }).finally(() => { vacuuming = undefined })
  }
  // Entities and customers being applied by this process's slots, with how many slots hold each.
  const busyEntities = new Map<string, number>()
  const busyCustomers = new Map<string, number>()
  const hold = (map: Map<string, number>, key: string | null, delta: 1 | -1): void => {
    if (key === null) return
    const count = (map.get(key) ?? 0) + delta
    if (count <= 0) map.delete(key)
    else map.set(key, count)
  }

  const loop = createWorkLoop({
    name: 'inbox worker',
    database,
    logger,
    channel: INBOX_CHANNEL,
    pollIntervalMs: options.pollIntervalMs,
    wake: options.wake,
    slots: options.concurrency,
    // A turn called off (the inbox was found empty meanwhile) sends the slot back to sleep.
    work: async () => await pacer.turn() && running && await processBatch() !== null,
  })
  const contention = createContentionTracker(CONTENTION_PAUSE_MS, loop.wake)

  // After a batch failed: how many claims to make one row at a time, so each of its rows is tried alone.
  let singleClaimsLeft = 0

  /**
   * Claims and applies one batch; resolves to the number of events whose outcome it recorded
   * (applied, ignored or failed), or null when nothing was runnable.
   */
  async function processBatch (): Promise<number | null> {
    const single = singleClaimsLeft > 0
    const [claim, limit] = single ? [claims.single, 1] : [claims.batch, batchSize]
    let claimed: InboxEvent[] = []
    // Processing spans of this batch, ended after its commit (or its failure).
    const spans: Span[] = []
    try {
      const done = await database.transaction(async (tx) => {
        const rows = await tx.query<ClaimedRow>(claim, [
          TRACKED_ENTITY_TYPES,
          [...busyEntities.keys(), ...contention.entities()],
          [...busyCustomers.keys(), ...contention.customers()],
          ORDER_HOLD_ATTEMPTS,
        ])
        pacer.claimed(rows.length, limit)
        if (rows.length === 0) return null
        // Rows held back (an older event of their entity, or their locks, are elsewhere) stay
        // claimable; this process looks at other entities for a moment, unless one of its own slots
        // holds them: two slots' claims can cross, each picking rows of a customer the other locks,
        // and a pause then would stop the holder's own next claims too (measured on one customer's
        // backlog: half a second lost at every crossing, 54 events/s instead of 570).
        for (const row of rows) {
          if (row.runnable || (row.entity_id !== null && busyEntities.has(row.entity_id)) || (row.customer_id !== null && busyCustomers.has(row.customer_id))) continue
          contention.add(row.entity_id, row.in_order ? row.customer_id : null)
        }
        const runnable = rows.filter((row) => row.runnable)
        claimed = runnable.map(toInboxEvent)
        for (const event of claimed) {
          hold(busyEntities, event.entityId, 1)
          hold(busyCustomers, event.customerId, 1)
          // What this slot now holds was not locked by another process, whatever a crossing claim concluded.
          contention.forget(event.entityId, event.customerId)
        }
        const results: ProcessedEvent[] = []
        const prefetched = await prefetchStates(tx, claimed)
        const consequences = options.consequences?.(tx)
        // The processing span of the last event that led to something: the batch's records are written under it.
        let recordedUnder: Span | undefined
        for (const [index, event] of claimed.entries()) {
          // Each event's processing continues the trace of the request that stored it (a fresh trace
          // without one); the span ends once the batch has committed, or failed.
          const span = startProcessingSpan(event, runnable[index]?.traceparent ?? null, claimed.length)
          spans.push(span)
          await withSpan(span, async () => {
            const applied = await inSpan('billing.apply', {}, async (applying) => {
              const result = await applyInboxEvent(tx, event, { accountIdKey: options.accountIdKey, prefetched })
              describeSpan(applying, () => ({ 'billing.outcome': result.outcome }))
              return result
            })
            if (consequences !== undefined) {
              const derived = await inSpan('email_events.derive', {}, async (deriving) => {
                const count = await consequences.afterApply(event, applied)
                describeSpan(deriving, () => ({ 'billing.email_events.derived': count }))
                return count
              })
              if (derived > 0) recordedUnder = span
            }
            results.push({ event, status: applied.outcome === 'ignored' ? 'ignored' : 'processed', outcome: applied.outcome, note: applied.note, recorded: 0 })
          })
        }
        if (consequences !== undefined && results.length > 0) {
          const record = async (): Promise<ReadonlyMap<string, number>> => await inSpan('billing.batch.record', {
            links: spans.map((span) => ({ context: span.spanContext() })),
          }, async () => await consequences.record())
          const recorded = recordedUnder === undefined ? await record() : await withSpan(recordedUnder, record)
          for (const result of results) result.recorded = recorded.get(result.event.eventId) ?? 0
        }
        if (results.length > 0) {
          // Sent with the COMMIT, in one round trip.
          tx.defer(MARK_PROCESSED, [
            results.map((result) => result.event.eventId),
            results.map((result) => result.status),
            results.map((result) => result.outcome),
            results.map((result) => result.note),
          ])
        }
        return results
      })
      if (done === null) return null
      for (const span of spans) {
        if (span.isRecording()) span.setStatus({ code: SpanStatusCode.OK })
        span.end()
      }
      spans.length = 0
      for (const result of done) {
        logger.debug({ event_id: result.event.eventId, event_type: result.event.eventType, outcome: result.outcome }, 'paddle event processed')
        options.onProcessed?.(result.event, result)
        maybeVacuum()
      }
      return done.length
    } catch (error) {
      for (const span of spans) {
        failSpan(span, error)
        span.end()
      }
      spans.length = 0
      // Nothing claimed, or the connection failed: not the events' fault; the caller backs off and
      // the rolled-back rows are claimed again as they are, no attempt counted.
      const [first] = claimed
      if (first === undefined || isConnectionError(error)) throw error
      if (claimed.length > 1) {
        // One event failed and rolled the others back with it: try each alone, so only it counts an attempt.
        singleClaimsLeft = Math.max(singleClaimsLeft, claimed.length)
        logger.warn({ events: claimed.length, err: error }, 'inbox batch rolled back; applying its events one at a time')
        return 0
      }
      await recordFailure(first, error)
      return 1
    } finally {
      for (const event of claimed) {
        hold(busyEntities, event.entityId, -1)
        hold(busyCustomers, event.customerId, -1)
      }
      // Slots share the count: another may have used the last single claim meanwhile.
      if (single && claimed.length > 0) singleClaimsLeft = Math.max(0, singleClaimsLeft - 1)
    }
  }

  /** The applying transaction rolled back: count the attempt and schedule the retry (or give up). */
  async function recordFailure (event: InboxEvent, error: unknown): Promise<void> {
    const [current] = await database.query<{ attempts: number }>(
      { name: 'inbox_attempts', text: 'SELECT attempts FROM paddle_inbox WHERE event_id = $1' }, [event.eventId])
    const delay = retryDelay((current?.attempts ?? 0) + 1)
    const [marked] = await database.query<{ status: string, attempts: number }>(MARK_FAILED,
      [event.eventId, options.maxAttempts, errorSummary(error), delay])
    if (marked === undefined) return // someone else got to it first
    const line = { event_id: event.eventId, event_type: event.eventType, attempts: marked.attempts, err: error }
    if (marked.status === 'dead') logger.error(line, 'paddle event dead after its last attempt')
    else logger.warn({ ...line, retry_in_seconds: Math.round(delay) }, 'paddle event failed; will retry')
    options.onProcessed?.(event, { status: marked.status, outcome: null, recorded: 0 })
  }

  return {
    processNext: async () => await processBatch() !== null,
    async drain () {
      let processed = 0
      for (let batch = await processBatch(); batch !== null; batch = await processBatch()) processed += batch
      return processed
    },
    async start () {
      if (running) return
      running = true
      await loop.start()
      logger.info({ concurrency: options.concurrency }, 'inbox worker started')
    },
    async stop () {
      if (!running) return
      running = false
      pacer.release()
      await loop.stop()
      await vacuuming
      logger.info('inbox worker stopped')
    },
  }
}
