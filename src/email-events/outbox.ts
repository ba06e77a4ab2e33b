/** Writing email events: in the transaction that applied the Paddle event, once per idempotency key. */
import { randomBytes } from 'node:crypto'
import type { AppliedEvent, InboxEvent } from '../billing/apply-event.js'
import type { RawStatement, Transaction } from '../db/client.js'
import { addSeconds } from '../platform/timestamps.js'
import { deriveEmailEvents, type EmailEventDraft } from './derive.js'

export interface OutboxOptions {
  /** Older than this, an event is kept but `suppressed`: a late backlog never emails about the past. */
  maxAgeHours: number
  receiptUrlTemplate: string | null
  /** EMAIL_EVENTS_ON_IMPORT: false sets imported subscriptions up silently. */
  emailEventsOnImport: boolean
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
export function newEmailEventId (): string {
  return `eml_${[...randomBytes(26)].map((byte) => ALPHABET[byte % ALPHABET.length]).join('')}`
}

const INSERT_EMAIL_EVENTS: RawStatement = {
  name: 'email_events_insert',
  text: `INSERT INTO email_events (id, type, idempotency_key, occurred_at, account_id, customer_id, subscription_id,
      transaction_id, ordering_key, data, source_event_id, status)
    SELECT id, type, idempotency_key, occurred_at, account_id, customer_id, subscription_id,
      transaction_id, ordering_key, data, source_event_id, status
    FROM jsonb_to_recordset($1::jsonb) AS e(id text, type text, idempotency_key text, occurred_at timestamptz,
      account_id text, customer_id text, subscription_id text, transaction_id text, ordering_key text, data jsonb,
      source_event_id text, status text)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id`,
}

// Account links are resolved again in the same transaction after the state row is written, so the
// account is read back rather than taken from the state snapshot.
const ACCOUNT_OF: RawStatement = {
  name: 'email_events_account_of',
  text: `SELECT COALESCE(
      (SELECT account_id FROM subscriptions WHERE id = $1),
      (SELECT account_id FROM transactions WHERE id = $2),
      (SELECT account_id FROM customers WHERE id = $3)) AS account_id`,
}

/**
 * Derives the events of an applied change and appends them; returns how many were new. A backfill
 * (reconcile/backfill.ts) brings an account's history in from Paddle's lists: nothing it sets up is
 * news to a customer (a completed transaction from 2023 is not a receipt to send), so it records
 * nothing, not even suppressed rows. Changes that arrive after it are told as usual.
 */
export async function recordEmailEvents (tx: Transaction, event: InboxEvent, applied: AppliedEvent, options: OutboxOptions, now: string): Promise<number> {
  if (applied.transition === null || event.origin === 'backfill') return 0
  const drafts = deriveEmailEvents(applied.transition, {
    occurredAt: event.occurredAt,
    eventType: event.eventType,
    receiptUrlTemplate: options.receiptUrlTemplate,
    emailEventsOnImport: options.emailEventsOnImport,
  })
  return await insertEmailEvents(tx, drafts, { sourceEventId: event.eventId, maxAgeHours: options.maxAgeHours, now })
}

export async function insertEmailEvents (
  tx: Transaction,
  drafts: EmailEventDraft[],
  options: { sourceEventId: string | null, maxAgeHours: number, now: string }
): Promise<number> {
  if (drafts.length === 0) return 0
  const first = drafts[0]
  const [account] = await tx.query<{ account_id: string | null }>(ACCOUNT_OF, [first?.subscriptionId ?? null, first?.transactionId ?? null, first?.customerId ?? null])
  const oldest = addSeconds(options.now, -options.maxAgeHours * 3600)
  const rows = drafts.map((draft) => ({
    id: newEmailEventId(),
    type: draft.type,
    idempotency_key: draft.idempotencyKey,
    occurred_at: draft.occurredAt,
    account_id: account?.account_id ?? null,
    customer_id: draft.customerId,
    subscription_id: draft.subscriptionId,
    transaction_id: draft.transactionId,
    ordering_key: draft.subscriptionId ?? draft.transactionId ?? draft.customerId ?? draft.idempotencyKey,
    data: draft.data,
    source_event_id: options.sourceEventId,
    status: draft.occurredAt < oldest ? 'suppressed' : 'pending',
  }))
  const inserted = await tx.query<{ id: string }>(INSERT_EMAIL_EVENTS, [JSON.stringify(rows)])
  return inserted.length
}
