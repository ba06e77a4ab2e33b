/**
 * Retention, run by the scheduler: inbox payloads are dropped (the envelope stays, as the
 * subscription's history) after INBOX_PAYLOAD_RETENTION_DAYS; delivered (and suppressed) email
 * events go after EMAIL_EVENT_RETENTION_DAYS, delivered entitlement events after
 * ENTITLEMENT_EVENT_RETENTION_DAYS (each account's last answer stays in entitlement_states); billing records (transactions, adjustments, ended
 * subscriptions, the inbox envelopes) are kept BILLING_RECORD_RETENTION_YEARS and then deleted.
 * Deletes go in batches so that no run holds many locks for long.
 */
import type { Database, DatabaseHandle } from '../db/client.js'
import { emailEventsTable, entitlementEventsTable } from '../db/schema.js'
import {
  deleteAdjustments, deleteEndedSubscriptions, deleteInboxEnvelopes, deleteOutboxEvents, deleteTransactions, dropInboxPayloads,
} from './privacy.repository.js'

export interface RetentionPolicy {
  inboxPayloadDays: number
  emailEventDays: number
  entitlementEventDays: number
  billingRecordYears: number
  /** With no push configured, pending email events exist for the pull feed only: they age out too. */
  pushEnabled: boolean
  /** The same for entitlement events and their own push target. */
  entitlementPushEnabled: boolean
}

export interface RetentionReport {
  inboxPayloadsDropped: number
  emailEventsDeleted: number
  entitlementEventsDeleted: number
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
      async (db, cutoff, limit) => await deleteOutboxEvents(db, emailEventsTable, cutoff, limit, { keepPending: policy.pushEnabled })),
    entitlementEventsDeleted: await inBatches(db, daysAgo(policy.entitlementEventDays),
      async (db, cutoff, limit) => await deleteOutboxEvents(db, entitlementEventsTable, cutoff, limit, { keepPending: policy.entitlementPushEnabled })),
    adjustmentsDeleted: await inBatches(db, billing, deleteAdjustments),
    transactionsDeleted: await inBatches(db, billing, deleteTransactions),
    subscriptionsDeleted: await inBatches(db, billing, deleteEndedSubscriptions),
    inboxEnvelopesDeleted: await inBatches(db, billing, deleteInboxEnvelopes),
  }
}
