/** Writing email events: in the transaction that applied the Paddle event, once per idempotency key. */
import { randomBytes } from 'node:crypto'
import type { AppliedEvent, InboxEvent } from '../billing/apply-event.js'
import type { RawStatement, Transaction } from '../db/client.js'
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

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const ID_LENGTH = 26
// Random bytes drawn a few hundred ids at a time: one call into the CSPRNG per id cost more than the
// rest of building the id (seen in a CPU profile of the worker draining a backlog).
let entropy = Buffer.alloc(0)
let entropyUsed = 0
export function newEmailEventId (): string {
  if (entropyUsed + ID_LENGTH > entropy.length) {
    entropy = randomBytes(ID_LENGTH * 256)
    entropyUsed = 0
  }
  let id = 'eml_'
  for (let index = 0; index < ID_LENGTH; index += 1) id += ALPHABET[(entropy[entropyUsed + index] ?? 0) % ALPHABET.length]
  entropyUsed += ID_LENGTH
  return id
}

/**
 * Appends the events, once per idempotency key. Account links are resolved again in the same
 * transaction after the state row is written, so the account is read back in the statement
 * (subscription, else transaction, else customer) rather than taken from the state snapshot.
 */
const INSERT_EMAIL_EVENTS: RawStatement = {
  name: 'email_events_insert',
  text: `INSERT INTO email_events (id, type, idempotency_key, occurred_at, account_id, customer_id, subscription_id,
      transaction_id, ordering_key, data, source_event_id, status, traceparent)
    SELECT e.id, e.type, e.idempotency_key, e.occurred_at, account.account_id, e.customer_id, e.subscription_id,
      e.transaction_id, e.ordering_key, e.data, e.source_event_id, e.status, $5::text
    FROM jsonb_to_recordset($1::jsonb) AS e(id text, type text, idempotency_key text, occurred_at timestamptz,
      customer_id text, subscription_id text, transaction_id text, ordering_key text, data jsonb,
      source_event_id text, status text),
      (SELECT COALESCE(
        (SELECT account_id FROM subscriptions WHERE id = $2),
        (SELECT account_id FROM transactions WHERE id = $3),
        (SELECT account_id FROM customers WHERE id = $4)) AS account_id) AS account
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id`,
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
  const oldest = addSeconds(options.now, -options.maxAgeHours * 3600)
  const rows = drafts.map((draft) => ({
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
  }))
  // The processing that made them (its span is active here): each delivery continues that trace.
  const inserted = await tx.query<{ id: string }>(INSERT_EMAIL_EVENTS,
    [JSON.stringify(rows), first?.subscriptionId ?? null, first?.transactionId ?? null, first?.customerId ?? null, activeTraceparent()])
  return inserted.length
}
