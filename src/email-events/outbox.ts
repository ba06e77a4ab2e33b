/** Writing email events: in the transaction that applied the Paddle event, once per idempotency key. */
import type { AppliedEvent, InboxEvent } from '../billing/apply-event.js'
import type { RawStatement, Transaction } from '../db/client.js'
import { randomBase36Id } from '../platform/random-ids.js'
import { addSeconds } from '../platform/timestamps.js'
import { activeTraceparent } from '../platform/tracing.js'
import { deriveEmailEvents, type EmailEventDraft } from './derive.js'

export interface OutboxOptions {
  /** Older than this, an event is kept but `suppressed`: a late backlog never emails about the past. */
  maxAgeHours: number
  receiptUrlTemplate: string | null
  /** EMAIL_EVENTS_ON_IMPORT: false sets imported subscriptions up silently. */
  emailEventsOnImport: boolean
}

export function newEmailEventId (): string {
  return randomBase36Id('eml_', 26)
}

/**
 * Appends the events, once per idempotency key, in the order given (their seq: the delivery order).
 * Account links are resolved again in the same transaction after the state rows are written, so each
 * event's account is read back in the statement (subscription, else transaction, else customer, as
 * named by the first event its Paddle event derived) rather than taken from the state snapshot.
 */
const INSERT_EMAIL_EVENTS: RawStatement = {
  name: 'email_events_insert',
  text: `INSERT INTO email_events (id, type, idempotency_key, occurred_at, account_id, customer_id, subscription_id,
      transaction_id, ordering_key, data, source_event_id, status, traceparent)
    SELECT e.id, e.type, e.idempotency_key, e.occurred_at, COALESCE(
        (SELECT account_id FROM subscriptions WHERE id = e.account_subscription_id),
        (SELECT account_id FROM transactions WHERE id = e.account_transaction_id),
        (SELECT account_id FROM customers WHERE id = e.account_customer_id)),
      e.customer_id, e.subscription_id, e.transaction_id, e.ordering_key, e.data, e.source_event_id, e.status, e.traceparent
    FROM jsonb_to_recordset($1::jsonb) AS e(id text, type text, idempotency_key text, occurred_at timestamptz,
      customer_id text, subscription_id text, transaction_id text, ordering_key text, data jsonb,
      source_event_id text, status text, traceparent text, account_subscription_id text, account_transaction_id text,
      account_customer_id text, position integer)
    ORDER BY e.position
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING source_event_id`,
}

interface EmailEventRow {
  id: string
  type: string
  idempotency_key: string
  occurred_at: string
  customer_id: string | null
  subscription_id: string | null
  transaction_id: string | null
  ordering_key: string
  data: Record<string, unknown>
  source_event_id: string | null
  status: 'pending' | 'suppressed'
  traceparent: string | null
  account_subscription_id: string | null
  account_transaction_id: string | null
  account_customer_id: string | null
}

/**
 * The email events of a batch of applied Paddle events: derived after each event (in its processing
 * span, whose trace each delivery continues) and appended together in one statement before the
 * batch commits.
 */
export interface EmailEventBatch {
  /** Derives the event's email events; returns how many. */
  derive(event: InboxEvent, applied: AppliedEvent): number
  /**
   * Appends them, deferred (Transaction.deferRead: sent with the transaction's next statement);
   * the answer is how many were new, per Paddle event.
   */
  record(tx: Pick<Transaction, 'deferRead'>): () => Promise<Map<string, number>>
}

/**
 * A backfill (reconcile/backfill.ts) brings an account's history in from Paddle's lists: nothing it
 * sets up is news to a customer (a completed transaction from 2023 is not a receipt to send), so it
 * derives nothing, not even suppressed rows. Changes that arrive after it are told as usual.
 */
export function createEmailEventBatch (options: OutboxOptions, now: string): EmailEventBatch {
  const rows: EmailEventRow[] = []
  return {
    derive (event, applied) {
      if (applied.transition === null || event.origin === 'backfill') return 0
      const drafts = deriveEmailEvents(applied.transition, {
        occurredAt: event.occurredAt,
        eventType: event.eventType,
        receiptUrlTemplate: options.receiptUrlTemplate,
        emailEventsOnImport: options.emailEventsOnImport,
      })
      rows.push(...toRows(drafts, { sourceEventId: event.eventId, maxAgeHours: options.maxAgeHours, now }))
      return drafts.length
    },
    record (tx) {
      const batch = rows.splice(0)
      const inserted = batch.length === 0 ? null : tx.deferRead<{ source_event_id: string | null }>(INSERT_EMAIL_EVENTS, [insertParameter(batch)])
      return async () => {
        const recorded = new Map<string, number>()
        for (const { source_event_id: sourceEventId } of await inserted?.rows() ?? []) {
          if (sourceEventId !== null) recorded.set(sourceEventId, (recorded.get(sourceEventId) ?? 0) + 1)
        }
        return recorded
      }
    },
  }
}

/** Appends email events made outside the worker (scheduled notices); returns how many were new. */
export async function insertEmailEvents (
  tx: Pick<Transaction, 'query'>,
  drafts: EmailEventDraft[],
  options: { sourceEventId: string | null, maxAgeHours: number, now: string }
): Promise<number> {
  return (await appendRows(tx, toRows(drafts, options))).length
}

function toRows (drafts: EmailEventDraft[], options: { sourceEventId: string | null, maxAgeHours: number, now: string }): EmailEventRow[] {
  const [first] = drafts
  const oldest = addSeconds(options.now, -options.maxAgeHours * 3600)
  // The processing that made them (its span is active here): each delivery continues that trace.
  const traceparent = activeTraceparent()
  return drafts.map((draft) => ({
    id: newEmailEventId(),
    type: draft.type,
    idempotency_key: draft.idempotencyKey,
    occurred_at: draft.occurredAt,
    customer_id: draft.customerId,
    subscription_id: draft.subscriptionId,
    transaction_id: draft.transactionId,
    ordering_key: draft.subscriptionId ?? draft.transactionId ?? draft.customerId ?? draft.idempotencyKey,
    data: draft.data,
    source_event_id: options.sourceEventId,
    status: draft.occurredAt < oldest ? 'suppressed' : 'pending',
    traceparent,
    account_subscription_id: first?.subscriptionId ?? null,
    account_transaction_id: first?.transactionId ?? null,
    account_customer_id: first?.customerId ?? null,
  }))
}

/** The source event of each row that was new. */
async function appendRows (tx: Pick<Transaction, 'query'>, rows: EmailEventRow[]): Promise<Array<string | null>> {
  if (rows.length === 0) return []
  const inserted = await tx.query<{ source_event_id: string | null }>(INSERT_EMAIL_EVENTS, [insertParameter(rows)])
  return inserted.map((row) => row.source_event_id)
}

/** INSERT_EMAIL_EVENTS' one parameter: the rows, each with its position in the batch. */
function insertParameter (rows: EmailEventRow[]): string {
  return JSON.stringify(rows.map((row, position) => ({ ...row, position })))
}
