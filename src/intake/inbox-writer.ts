/**
 * The intake's only write: insert-once into paddle_inbox, keyed by event_id.
 *
 * Requests that arrive while earlier inserts are in flight are coalesced into one multi-row
 * statement: fewer commits and round trips for the database, which is this path's bottleneck.
 * Each caller still learns the fate of its own row, and only after the statement has committed.
 */
import { context, trace, type Context, type Link } from '@opentelemetry/api'
import { isConnectionError } from '../db/connection-errors.js'
import type { DatabaseHandle, RawStatement } from '../db/client.js'
import type { InboxOrigin } from '../db/schema.js'
import { describeSpan, inSpan } from '../platform/tracing.js'

export interface InboxRow {
  eventId: string
  notificationId: string | null
  eventType: string
  entityType: string
  entityId: string | null
  customerId: string | null
  subscriptionId: string | null
  /** Canonical microsecond timestamp. */
  occurredAt: string
  origin: InboxOrigin
  payload: unknown
  /** W3C traceparent of the request that received it, continued by the worker; null or absent with tracing off. */
  traceparent?: string | null
}

export type InsertOutcome = 'stored' | 'duplicate'

export interface InboxWriter {
  insert(row: InboxRow): Promise<InsertOutcome>
}

export interface InboxWriterOptions {
  /** Most rows in one statement. */
  maxBatchSize?: number
  /**
   * Statements in flight at once. Few and large beats many and small: measured here, 2 statements
   * in flight carried ~20% more webhooks per second than 5, and 16 fewer still (bench/intake.ts).
   */
  maxConcurrentStatements?: number
  /** Called after a statement stored at least one new row (wakes the worker). */
  onStored?: () => void
}

// One JSON parameter for the whole batch: a single string to send, nothing to escape element by element.
const INSERT_INBOX_ROWS: RawStatement = {
  name: 'inbox_insert_rows',
  text: `INSERT INTO paddle_inbox
      (event_id, notification_id, event_type, entity_type, entity_id, customer_id, subscription_id, occurred_at, origin, payload, traceparent)
    SELECT event_id, notification_id, event_type, entity_type, entity_id, customer_id, subscription_id, occurred_at, origin, payload, traceparent
    FROM jsonb_to_recordset($1::jsonb) AS r(event_id text, notification_id text, event_type text, entity_type text,
      entity_id text, customer_id text, subscription_id text, occurred_at timestamptz, origin text, payload jsonb, traceparent text)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id`,
}

interface Pending {
  row: InboxRow
  /** The caller's span, when it has one (tracing on). */
  caller: Context | undefined
  resolve: (outcome: InsertOutcome) => void
  reject: (error: unknown) => void
}

export function createInboxWriter (handle: DatabaseHandle, options: InboxWriterOptions = {}): InboxWriter {
  const maxBatchSize = options.maxBatchSize ?? 64
  const maxConcurrent = options.maxConcurrentStatements ?? 2
  const queue: Pending[] = []
  let inFlight = 0

  function flush (): void {
    while (inFlight < maxConcurrent && queue.length > 0) {
      const batch = queue.splice(0, maxBatchSize)
      inFlight += 1
      insertBatch(batch).finally(() => {
        inFlight -= 1
        flush()
      })
    }
  }

  /**
   * With tracing on, one span per statement: the child of its first row's caller (a batch of one sits
   * inside that request's trace), linked to the other callers.
   */
  async function insertBatch (batch: Pending[]): Promise<void> {
    const parent = batch[0]?.caller
    if (parent === undefined) {
      await insertRows(batch)
      return
    }
    const links: Link[] = []
    for (const pending of batch.slice(1)) {
      const linked = pending.caller === undefined ? undefined : trace.getSpanContext(pending.caller)
      if (linked !== undefined) links.push({ context: linked })
    }
    await inSpan('paddle_inbox.write', { links }, async (span) => {
      describeSpan(span, () => ({ 'billing.batch.size': batch.length }))
      await insertRows(batch)
    }, parent)
  }

  async function insertRows (batch: Pending[]): Promise<void> {
    try {
      const rows = batch.map((pending) => pending.row)
      const inserted = await handle.query<{ event_id: string }>(INSERT_INBOX_ROWS, columnsOf(rows))
      const newIds = new Set(inserted.map((row) => row.event_id))
      for (const pending of batch) {
        // The same event twice in one batch: the first caller stored it, the second is a duplicate.
        const stored = newIds.delete(pending.row.eventId)
        pending.resolve(stored ? 'stored' : 'duplicate')
      }
      if (inserted.length > 0) options.onStored?.()
    } catch (error) {
      if (batch.length > 1 && !isConnectionError(error)) {
        // One row the database refuses must not fail the rows coalesced with it: each on its own,
        // so that every caller gets its own answer.
        await Promise.all(batch.map(async (pending) => await insertBatch([pending])))
        return
      }
      for (const pending of batch) pending.reject(error)
    }
  }

  return {
    async insert (row) {
      const active = context.active()
      const caller = trace.getSpan(active) === undefined ? undefined : active
      return await new Promise<InsertOutcome>((resolve, reject) => {
        queue.push({ row, caller, resolve, reject })
        flush()
      })
    },
  }
}

function columnsOf (rows: InboxRow[]): unknown[] {
  return [JSON.stringify(rows.map((row) => ({
    event_id: row.eventId,
    notification_id: row.notificationId,
    event_type: row.eventType,
    entity_type: row.entityType,
    entity_id: row.entityId,
    customer_id: row.customerId,
    subscription_id: row.subscriptionId,
    occurred_at: row.occurredAt,
    origin: row.origin,
    payload: row.payload,
    traceparent: row.traceparent ?? null,
  })))]
}
