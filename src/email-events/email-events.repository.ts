import type { DatabaseHandle, RawStatement } from '../db/client.js'
import { canonicalTimestamp } from '../platform/timestamps.js'
import type { EmailEventBody, EmailEventType } from './email-event.schemas.js'

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
  type: EmailEventType
  idempotency_key: string
  occurred_at: string
  account_id: string | null
  customer_id: string | null
  subscription_id: string | null
  transaction_id: string | null
  data: Record<string, unknown>
}

export function toEmailEventBody (row: EventRow): EmailEventBody {
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

const FEED: RawStatement = {
  name: 'email_events_feed',
  text: `SELECT ${EVENT_COLUMNS}, tx_id, seq FROM email_events
    WHERE (tx_id, seq) > ($1::bigint, $2::bigint) AND status <> 'suppressed'
      AND tx_id < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
    ORDER BY tx_id, seq
    LIMIT $3`,
}

/** Suppressed events (about the past) are not in the feed: nobody is to be emailed about them. */
export async function readFeed (database: DatabaseHandle, after: FeedCursor, limit: number): Promise<{ events: EmailEventBody[], next: FeedCursor }> {
  const rows = await database.query<EventRow & { tx_id: string, seq: string }>(FEED, [after.txId, after.seq, limit])
  const last = rows.at(-1)
  return {
    events: rows.map(toEmailEventBody),
    next: last === undefined ? after : { txId: String(last.tx_id), seq: String(last.seq) },
  }
}

const REDELIVER: RawStatement = {
  name: 'email_events_redeliver',
  text: `UPDATE email_events SET status = 'pending', attempts = 0, next_attempt_at = now(), leased_until = NULL, last_error = NULL
    WHERE id = $1 AND status = 'dead'
    RETURNING id`,
}

/** A dead event back to pending; 'not_found' or 'not_dead' when there is nothing to put back. */
export async function redeliver (database: DatabaseHandle, id: string): Promise<'redelivering' | 'not_found' | 'not_dead'> {
  const [updated] = await database.query<{ id: string }>(REDELIVER, [id])
  if (updated !== undefined) return 'redelivering'
  const [exists] = await database.query<{ status: string }>({ name: 'email_events_status', text: 'SELECT status FROM email_events WHERE id = $1' }, [id])
  return exists === undefined ? 'not_found' : 'not_dead'
}

/**
 * Claims deliverable events with a lease (no transaction is held while the receiver answers):
 * pending, due, not leased, and the oldest pending event of their subscription (the ordering key),
 * so that one subscription's events reach the receiver in order. Within one subscription `seq` is
 * commit order: its events are written under the subscription's lock, so one insert commits before
 * the next begins (transaction ids are handed out earlier, before that lock is taken).
 */
const CLAIM: RawStatement = {
  name: 'email_events_claim',
  text: `WITH claimable AS (
      SELECT c.id FROM email_events c
      WHERE c.status = 'pending' AND c.next_attempt_at <= now() AND (c.leased_until IS NULL OR c.leased_until < now())
        AND NOT EXISTS (
          SELECT 1 FROM email_events p
          WHERE p.ordering_key = c.ordering_key AND p.status = 'pending' AND p.seq < c.seq)
      ORDER BY c.seq
      LIMIT $1
      FOR UPDATE SKIP LOCKED
    )
    UPDATE email_events e SET leased_until = now() + make_interval(secs => $2), attempts = e.attempts + 1
    FROM claimable WHERE e.id = claimable.id
    RETURNING ${EVENT_COLUMNS.split(', ').map((column) => `e.${column}`).join(', ')}, e.attempts, e.traceparent`,
}

/** `traceparent`: the trace context of the processing that wrote it, which its delivery continues. */
export interface ClaimedEmailEvent { body: EmailEventBody, attempts: number, traceparent: string | null }

export async function claimDeliverable (database: DatabaseHandle, limit: number, leaseSeconds: number): Promise<ClaimedEmailEvent[]> {
  const rows = await database.query<EventRow & { attempts: number, traceparent: string | null }>(CLAIM, [limit, leaseSeconds])
  return rows.map((row) => ({ body: toEmailEventBody(row), attempts: row.attempts, traceparent: row.traceparent }))
}

const MARK_DELIVERED: RawStatement = {
  name: 'email_events_mark_delivered',
  text: `UPDATE email_events e SET status = 'delivered', delivered_at = now(), leased_until = NULL, last_error = NULL,
      last_status_code = d.code
    FROM unnest($1::text[], $2::int[]) AS d(id, code)
    WHERE e.id = d.id`,
}

export async function markDelivered (database: DatabaseHandle, deliveries: Array<{ id: string, statusCode: number }>): Promise<void> {
  if (deliveries.length === 0) return
  await database.query(MARK_DELIVERED, [deliveries.map((delivery) => delivery.id), deliveries.map((delivery) => delivery.statusCode)])
}

const MARK_FAILED: RawStatement = {
  name: 'email_events_mark_failed',
  text: `UPDATE email_events SET status = $2, next_attempt_at = now() + make_interval(secs => $3), leased_until = NULL,
      last_error = $4, last_status_code = $5
    WHERE id = $1`,
}

export async function markFailed (
  database: DatabaseHandle,
  failure: { id: string, dead: boolean, retryInSeconds: number, error: string, statusCode: number | null }
): Promise<void> {
  await database.query(MARK_FAILED, [failure.id, failure.dead ? 'dead' : 'pending', failure.retryInSeconds, failure.error, failure.statusCode])
}
