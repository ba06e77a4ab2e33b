/**
 * Retention, run by the scheduler: inbox payloads are dropped (the envelope stays, as the
 * subscription's history) after INBOX_PAYLOAD_RETENTION_DAYS; delivered (and suppressed) email
 * events go after EMAIL_EVENT_RETENTION_DAYS; billing records (transactions, adjustments, ended
 * subscriptions, the inbox envelopes) are kept BILLING_RECORD_RETENTION_YEARS and then deleted.
 * Deletes go in batches so that no run holds many locks for long.
 */
import type { DatabaseHandle, RawStatement } from '../db/client.js'

export interface RetentionPolicy {
  inboxPayloadDays: number
  emailEventDays: number
  billingRecordYears: number
  /** With no push configured, pending email events exist for the pull feed only: they age out too. */
  pushEnabled: boolean
}

export interface RetentionReport {
  inboxPayloadsDropped: number
  emailEventsDeleted: number
  inboxEnvelopesDeleted: number
  transactionsDeleted: number
  adjustmentsDeleted: number
  subscriptionsDeleted: number
}

const BATCH = 5_000

const statement = (name: string, text: string): RawStatement => ({ name: `retention_${name}`, text })

// $1: the cutoff (timestamptz), $2: the batch size. Each returns the rows it touched.
const DROP_INBOX_PAYLOADS = statement('inbox_payloads', `UPDATE paddle_inbox SET payload = NULL
  WHERE event_id IN (SELECT event_id FROM paddle_inbox
    WHERE received_at < $1 AND payload IS NOT NULL AND status NOT IN ('pending', 'failed') LIMIT $2)
  RETURNING 1`)
const DELETE_EMAIL_EVENTS = statement('email_events', `DELETE FROM email_events
  WHERE id IN (SELECT id FROM email_events
    WHERE created_at < $1 AND (status IN ('delivered', 'suppressed') OR (status = 'pending' AND NOT $3::boolean)) LIMIT $2)
  RETURNING 1`)
const DELETE_ADJUSTMENTS = statement('adjustments', `DELETE FROM adjustments
  WHERE id IN (SELECT id FROM adjustments WHERE COALESCE(paddle_updated_at, row_updated_at) < $1 LIMIT $2) RETURNING 1`)
const DELETE_TRANSACTIONS = statement('transactions', `DELETE FROM transactions
  WHERE id IN (SELECT id FROM transactions WHERE COALESCE(paddle_updated_at, paddle_created_at) < $1 LIMIT $2) RETURNING 1`)
// Only subscriptions that ended (canceled) before the cutoff: a live one is never history.
const DELETE_SUBSCRIPTIONS = statement('subscriptions', `WITH gone AS (
    DELETE FROM subscriptions WHERE id IN (SELECT id FROM subscriptions
      WHERE status = 'canceled' AND COALESCE(canceled_at, paddle_updated_at) < $1 LIMIT $2)
    RETURNING id)
  , items AS (DELETE FROM subscription_items WHERE subscription_id IN (SELECT id FROM gone))
  SELECT 1 FROM gone`)
const DELETE_INBOX_ENVELOPES = statement('inbox_envelopes', `DELETE FROM paddle_inbox
  WHERE event_id IN (SELECT event_id FROM paddle_inbox
    WHERE received_at < $1 AND status NOT IN ('pending', 'failed') LIMIT $2)
  RETURNING 1`)

async function inBatches (database: DatabaseHandle, work: RawStatement, values: unknown[]): Promise<number> {
  let total = 0
  for (;;) {
    const rows = await database.query(work, [values[0], BATCH, ...values.slice(1)])
    total += rows.length
    if (rows.length < BATCH) return total
  }
}

export async function applyRetention (database: DatabaseHandle, policy: RetentionPolicy, now: string): Promise<RetentionReport> {
  const daysAgo = (days: number): string => new Date(Date.parse(now) - days * 86_400_000).toISOString()
  const billingCutoff = new Date(Date.parse(now))
  billingCutoff.setUTCFullYear(billingCutoff.getUTCFullYear() - policy.billingRecordYears)
  const billing = billingCutoff.toISOString()
  return {
    inboxPayloadsDropped: await inBatches(database, DROP_INBOX_PAYLOADS, [daysAgo(policy.inboxPayloadDays)]),
    emailEventsDeleted: await inBatches(database, DELETE_EMAIL_EVENTS, [daysAgo(policy.emailEventDays), policy.pushEnabled]),
    adjustmentsDeleted: await inBatches(database, DELETE_ADJUSTMENTS, [billing]),
    transactionsDeleted: await inBatches(database, DELETE_TRANSACTIONS, [billing]),
    subscriptionsDeleted: await inBatches(database, DELETE_SUBSCRIPTIONS, [billing]),
    inboxEnvelopesDeleted: await inBatches(database, DELETE_INBOX_ENVELOPES, [billing]),
  }
}
