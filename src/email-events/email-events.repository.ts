/**
 * Delivery of an outbox: the pull feed, the dispatcher's claim and outcomes, redelivery. One
 * implementation for every stream (email events, entitlement events), each an outbox table with the
 * same delivery columns (schema.ts, outboxColumns) named by its OutboxStream.
 */
import { and, eq, getTableName, sql } from 'drizzle-orm'
import { selectRows, type DatabaseHandle, type RawStatement } from '../db/client.js'
import { emailEventsTable, type entitlementEventsTable } from '../db/schema.js'
import { canonicalTimestamp } from '../platform/timestamps.js'

/** An outbox and where its events go: what the dispatcher, the feed and the metrics are parameterised by. */
export interface OutboxStream {
  /** The metrics' `stream` label and the logs' name. */
  name: 'email' | 'entitlement'
  table: typeof emailEventsTable | typeof entitlementEventsTable
  /** NOTIFY channel that wakes the dispatchers of this stream. */
  channel: string
  /** Public ids start with it (eml_, ent_). */
  idPrefix: string
}

export const EMAIL_STREAM: OutboxStream = { name: 'email', table: emailEventsTable, channel: 'billing_email_events', idPrefix: 'eml_' }

/**
 * The pull feed's position: (writing transaction id, sequence). Rows are served only when every
 * transaction older than theirs has ended, so no row can later appear behind a cursor a consumer has
 * already passed (a sequence alone is not enough: sequence order is not commit order).
 */
export interface FeedCursor { txId: string, seq: string }

export const FEED_START: FeedCursor = { txId: '0', seq: '0' }

export function encodeCursor (cursor: FeedCursor): string {
  return Buffer.from(`${cursor.txId}.${cursor.seq}`).toString('base64url')
}

const BIGINT_MAX = 9_223_372_036_854_775_807n

export function decodeCursor (value: string): FeedCursor | null {
  const match = /^(\d{1,19})\.(\d{1,19})$/.exec(Buffer.from(value, 'base64url').toString('utf8'))
  if (match === null) return null
  const [txId = '0', seq = '0'] = match.slice(1)
  return BigInt(txId) > BIGINT_MAX || BigInt(seq) > BIGINT_MAX ? null : { txId, seq }
}

interface EventRow {
  id: string
  type: string
  idempotency_key: string
  occurred_at: string
  account_id: string | null
  customer_id: string | null
  subscription_id: string | null
  transaction_id: string | null
  data: Record<string, unknown>
}

/** What every stream's events carry (email events narrow `type` and `data`, see email-event.schemas.ts). */
export interface OutboxEventBody {
  id: string
  type: string
  idempotencyKey: string
  occurredAt: string
  accountId: string | null
  customerId: string | null
  subscriptionId: string | null
  transactionId: string | null
  data: Record<string, unknown>
}

export function toEventBody (row: EventRow): OutboxEventBody {
  return {
    id: row.id,
    type: row.type,
    idempotencyKey: row.idempotency_key,
    occurredAt: canonicalTimestamp(row.occurred_at),
    accountId: row.account_id,
    customerId: row.customer_id,
    subscriptionId: row.subscription_id,
    transactionId: row.transaction_id,
    data: row.data,
  }
}

const EVENT_COLUMNS = 'id, type, idempotency_key, occurred_at, account_id, customer_id, subscription_id, transaction_id, data'

type StatementName = 'claim' | 'markDelivered' | 'markFailed'

/** Every stream's table has the same columns (schema.ts, outboxColumns): the email table's type names them. */
const tableOf = (stream: OutboxStream): typeof emailEventsTable => stream.table as typeof emailEventsTable

/**
 * The dispatcher's statements, named per table so that each is parsed and planned once per
 * connection: they run for every delivery, where the query builder costs what `npm run bench --
 * sql-builder` shows (README, "One rule for SQL"). The table name comes from the Drizzle schema
 * (getTableName): a renamed table renames them too.
 */
function statementsOf (stream: OutboxStream): Record<StatementName, RawStatement> {
  const known = cachedStatements.get(stream.table)
  if (known !== undefined) return known
  const table = getTableName(stream.table)
  const texts: Record<StatementName, string> = {
    /**
     * Claims deliverable events with a lease (no transaction is held while the receiver answers):
     * pending, due, not leased, and the oldest pending event of their ordering key (a subscription,
     * an account), so that one key's events reach the receiver in order. Within one key `seq` is
     * commit order: its events are written under the key's lock, so one insert commits before
     * the next begins (transaction ids are handed out earlier, before that lock is taken).
     */
    claim: `WITH claimable AS (
      SELECT c.id FROM ${table} c
      WHERE c.status = 'pending' AND c.next_attempt_at <= now() AND (c.leased_until IS NULL OR c.leased_until < now())
        AND NOT EXISTS (
          SELECT 1 FROM ${table} p
          WHERE p.ordering_key = c.ordering_key AND p.status = 'pending' AND p.seq < c.seq)
      ORDER BY c.seq
      LIMIT $1
      FOR UPDATE SKIP LOCKED
    )
    UPDATE ${table} e SET leased_until = now() + make_interval(secs => $2), attempts = e.attempts + 1
    FROM claimable WHERE e.id = claimable.id
    RETURNING ${EVENT_COLUMNS.split(', ').map((column) => `e.${column}`).join(', ')}, e.attempts, e.traceparent`,
    markDelivered: `UPDATE ${table} e SET status = 'delivered', delivered_at = now(), leased_until = NULL, last_error = NULL,
      last_status_code = d.code
    FROM unnest($1::text[], $2::int[]) AS d(id, code)
    WHERE e.id = d.id`,
    markFailed: `UPDATE ${table} SET status = $2, next_attempt_at = now() + make_interval(secs => $3), leased_until = NULL,
      last_error = $4, last_status_code = $5
    WHERE id = $1`,
  }
  // The email stream keeps the statement names it always had.
  const prefix = stream.name === 'email' ? 'email_events' : table
  const made = Object.fromEntries(Object.entries(texts).map(([key, text]) => [key, { name: `${prefix}_${key}`, text }])) as Record<StatementName, RawStatement>
  cachedStatements.set(stream.table, made)
  return made
}
const cachedStatements = new Map<OutboxStream['table'], Record<StatementName, RawStatement>>()

/**
 * Suppressed events (about the past) are not in the feed: nobody is to be told about them. Served
 * only once every transaction older than theirs has ended (see FeedCursor).
 */
export async function readFeed (database: DatabaseHandle, stream: OutboxStream, after: FeedCursor, limit: number): Promise<{ events: OutboxEventBody[], next: FeedCursor }> {
  const t = tableOf(stream)
  const rows = await selectRows<EventRow & { tx_id: string, seq: string }>(database.db, sql`SELECT ${t.id}, ${t.type},
      ${t.idempotencyKey}, ${t.occurredAt}, ${t.accountId}, ${t.customerId}, ${t.subscriptionId}, ${t.transactionId}, ${t.data},
      ${t.txId}::text AS tx_id, ${t.seq}::text AS seq
    FROM ${t}
    WHERE (${t.txId}, ${t.seq}) > (${after.txId}::bigint, ${after.seq}::bigint) AND ${t.status} <> 'suppressed'
      AND ${t.txId} < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
    ORDER BY ${t.txId}, ${t.seq}
    LIMIT ${limit}`)
  const last = rows.at(-1)
  return {
    events: rows.map(toEventBody),
    next: last === undefined ? after : { txId: String(last.tx_id), seq: String(last.seq) },
  }
}

/** A dead event back to pending; 'not_found' or 'not_dead' when there is nothing to put back. */
export async function redeliver (database: DatabaseHandle, stream: OutboxStream, id: string): Promise<'redelivering' | 'not_found' | 'not_dead'> {
  const t = tableOf(stream)
  const [updated] = await database.db.update(t)
    .set({ status: 'pending', attempts: 0, nextAttemptAt: sql`now()`, leasedUntil: null, lastError: null })
    .where(and(eq(t.id, id), eq(t.status, 'dead')))
    .returning({ id: t.id })
  if (updated !== undefined) return 'redelivering'
  const [exists] = await database.db.select({ status: t.status }).from(t).where(eq(t.id, id))
  return exists === undefined ? 'not_found' : 'not_dead'
}

/** `traceparent`: the trace context of the processing that wrote it, which its delivery continues. */
export interface ClaimedEvent { body: OutboxEventBody, attempts: number, traceparent: string | null }

export async function claimDeliverable (database: DatabaseHandle, stream: OutboxStream, limit: number, leaseSeconds: number): Promise<ClaimedEvent[]> {
  const rows = await database.query<EventRow & { attempts: number, traceparent: string | null }>(statementsOf(stream).claim, [limit, leaseSeconds])
  return rows.map((row) => ({ body: toEventBody(row), attempts: row.attempts, traceparent: row.traceparent }))
}

export async function markDelivered (database: DatabaseHandle, stream: OutboxStream, deliveries: Array<{ id: string, statusCode: number }>): Promise<void> {
  if (deliveries.length === 0) return
  await database.query(statementsOf(stream).markDelivered, [deliveries.map((delivery) => delivery.id), deliveries.map((delivery) => delivery.statusCode)])
}

export async function markFailed (
  database: DatabaseHandle,
  stream: OutboxStream,
  failure: { id: string, dead: boolean, retryInSeconds: number, error: string, statusCode: number | null }
): Promise<void> {
  await database.query(statementsOf(stream).markFailed, [failure.id, failure.dead ? 'dead' : 'pending', failure.retryInSeconds, failure.error, failure.statusCode])
}
