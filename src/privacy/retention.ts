/**
 * Retention, run by the scheduler: inbox payloads are dropped (the envelope stays, as the
 * subscription's history) after INBOX_PAYLOAD_RETENTION_DAYS; delivered (and suppressed) email
 * events go after EMAIL_EVENT_RETENTION_DAYS; billing records (transactions, adjustments, ended
 * subscriptions, the inbox envelopes) are kept BILLING_RECORD_RETENTION_YEARS and then deleted.
 * Deletes go in batches so that no run holds many locks for long.
 */
import type { Database, DatabaseHandle } from '../db/client.js'
import {
  deleteAdjustments, deleteEmailEvents, deleteEndedSubscriptions, deleteInboxEnvelopes, deleteTransactions, dropInboxPayloads,
} from './privacy.repository.js'

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

/** Runs one batch step (at most BATCH rows older than `cutoff`) until a batch comes back short. */
async function inBatches (db: Database, cutoff: string, step: (db: Database, cutoff: string, limit: number) => Promise<number>): Promise<number> {
  let total = 0
  for (;;) {
    const touched = await step(db, cutoff, BATCH)
    total += touched
    if (touched < BATCH) return total
  }
}

export async function applyRetention (database: DatabaseHandle, policy: RetentionPolicy, now: string): Promise<RetentionReport> {
  const daysAgo = (days: number): string => new Date(Date.parse(now) - days * 86_400_000).toISOString()
  const billingCutoff = new Date(Date.parse(now))
  billingCutoff.setUTCFullYear(billingCutoff.getUTCFullYear() - policy.billingRecordYears)
  const billing = billingCutoff.toISOString()
  const { db } = database
  return {
    inboxPayloadsDropped: await inBatches(db, daysAgo(policy.inboxPayloadDays), dropInboxPayloads),
    emailEventsDeleted: await inBatches(db, daysAgo(policy.emailEventDays),
      async (db, cutoff, limit) => await deleteEmailEvents(db, cutoff, limit, { keepPending: policy.pushEnabled })),
    adjustmentsDeleted: await inBatches(db, billing, deleteAdjustments),
    transactionsDeleted: await inBatches(db, billing, deleteTransactions),
    subscriptionsDeleted: await inBatches(db, billing, deleteEndedSubscriptions),
    inboxEnvelopesDeleted: await inBatches(db, billing, deleteInboxEnvelopes),
  }
}
