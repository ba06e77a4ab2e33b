import { sql } from 'drizzle-orm'
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core'
import { minorUnits, timestamptz, versionText } from './columns.js'

export const INBOX_STATUSES = ['pending', 'failed', 'processed', 'ignored', 'dead'] as const
export type InboxStatus = typeof INBOX_STATUSES[number]
/** What processing did: `applied` changed state (or re-applied the same version), `stale` was older than the state. */
export const INBOX_OUTCOMES = ['applied', 'stale', 'ignored'] as const
export type InboxOutcome = typeof INBOX_OUTCOMES[number]
/**
 * Where an inbox row came from: a signed `webhook`; Paddle's event log or current state (`reconcile`:
 * catch-up, drift resync); or Paddle's list endpoints (`backfill`: the history of an account the
 * service was switched on for, applied silently, see reconcile/backfill.ts).
 */
export const INBOX_ORIGINS = ['webhook', 'reconcile', 'backfill'] as const
export type InboxOrigin = typeof INBOX_ORIGINS[number]

/**
 * Every verified Paddle event, once (keyed by event_id, never notification_id: a replay gets a new
 * notification id). `payload` is the allow-listed projection, never the body as received.
 */
export const paddleInboxTable = pgTable('paddle_inbox', {
  eventId: text('event_id').primaryKey(),
  notificationId: text('notification_id'),
  eventType: text('event_type').notNull(),
  entityType: text('entity_type').notNull(),
  entityId: text('entity_id'),
  customerId: text('customer_id'),
  subscriptionId: text('subscription_id'),
  occurredAt: timestamptz('occurred_at').notNull(),
  origin: text('origin').$type<InboxOrigin>().notNull().default('webhook'),
  payload: jsonb('payload').$type<Record<string, unknown>>(),
  status: text('status').$type<InboxStatus>().notNull().default('pending'),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: timestamptz('next_attempt_at').notNull().default(sql`now()`),
  lastError: text('last_error'),
  receivedAt: timestamptz('received_at').notNull().default(sql`now()`),
  processedAt: timestamptz('processed_at'),
  outcome: text('outcome').$type<InboxOutcome>(),
  /** Why the outcome (for example which version made the event stale). Never personal data. */
  note: text('note'),
  /** W3C traceparent of the webhook request that stored it (null with tracing off): the worker's span continues that trace. */
  traceparent: text('traceparent'),
}, (table) => [
  // The worker's claim order, for the rows it can claim: a queue index that stays small.
  index('paddle_inbox_runnable_idx').on(table.occurredAt, table.eventId).where(sql`status in ('pending', 'failed')`),
  // Per-entity order: the claim asks whether an entity has an older event still waiting (worker.ts).
  index('paddle_inbox_entity_waiting_idx').on(table.entityType, table.entityId, table.occurredAt, table.eventId)
    .where(sql`status in ('pending', 'failed')`),
  index('paddle_inbox_dead_idx').on(table.receivedAt).where(sql`status = 'dead'`),
  // Retention finds old rows by arrival time; a BRIN index costs the intake's inserts next to nothing.
  index('paddle_inbox_received_brin').using('brin', table.receivedAt),
  index('paddle_inbox_subscription_idx').on(table.subscriptionId),
  index('paddle_inbox_customer_idx').on(table.customerId),
])

// State tables. Each row records the version it was built from (see versionText); an older event
// never overwrites a newer one. Personal data (name, email) lives in customers only.

export const customersTable = pgTable('customers', {
  id: text('id').primaryKey(),
  /** Personal data, erasable. */
  email: text('email'),
  /** Personal data, erasable. */
  name: text('name'),
  status: text('status'),
  /** The account id from the customer's own custom_data. */
  customAccountId: text('custom_account_id'),
  /** Set by PUT /internal/customers/:id/account; wins over everything Paddle says. */
  manualAccountId: text('manual_account_id'),
  /** The resolved account: manual link, else custom_data, else the customer's transactions or subscriptions. */
  accountId: text('account_id'),
  paddleCreatedAt: timestamptz('paddle_created_at'),
  paddleUpdatedAt: timestamptz('paddle_updated_at'),
  /** Empty until a customer event arrives (a manual link or an erasure can create the row first). */
  version: versionText('version').notNull().default(''),
  /**
   * When name and email were last erased on request. Paddle data from before then does not bring
   * them back; a customer Paddle changed afterwards (a newer updated_at) does.
   */
  erasedAt: timestamptz('erased_at'),
  rowUpdatedAt: timestamptz('row_updated_at').notNull().default(sql`now()`),
}, (table) => [
  index('customers_account_idx').on(table.accountId),
])

export const subscriptionsTable = pgTable('subscriptions', {
  id: text('id').primaryKey(),
  customerId: text('customer_id'),
  accountId: text('account_id'),
  customAccountId: text('custom_account_id'),
  /** The checkout transaction, from subscription.created. */
  originTransactionId: text('origin_transaction_id'),
  status: text('status').notNull(),
  currencyCode: text('currency_code'),
  collectionMode: text('collection_mode'),
  billingInterval: text('billing_interval'),
  billingFrequency: integer('billing_frequency'),
  currentPeriodStartsAt: timestamptz('current_period_starts_at'),
  currentPeriodEndsAt: timestamptz('current_period_ends_at'),
  nextBilledAt: timestamptz('next_billed_at'),
  startedAt: timestamptz('started_at'),
  firstBilledAt: timestamptz('first_billed_at'),
  pausedAt: timestamptz('paused_at'),
  canceledAt: timestamptz('canceled_at'),
  trialEndsAt: timestamptz('trial_ends_at'),
  scheduledChangeAction: text('scheduled_change_action'),
  scheduledChangeEffectiveAt: timestamptz('scheduled_change_effective_at'),
  scheduledChangeResumeAt: timestamptz('scheduled_change_resume_at'),
  discountId: text('discount_id'),
  /** Paddle's import_meta.imported_from: the subscription was migrated from another platform (paddle_classic...). */
  importedFrom: text('imported_from'),
  paddleCreatedAt: timestamptz('paddle_created_at'),
  paddleUpdatedAt: timestamptz('paddle_updated_at'),
  version: versionText('version').notNull(),
  rowUpdatedAt: timestamptz('row_updated_at').notNull().default(sql`now()`),
}, (table) => [
  index('subscriptions_account_idx').on(table.accountId),
  index('subscriptions_customer_idx').on(table.customerId),
])

export const subscriptionItemsTable = pgTable('subscription_items', {
  subscriptionId: text('subscription_id').notNull(),
  priceId: text('price_id').notNull(),
  productId: text('product_id'),
  quantity: integer('quantity').notNull(),
  status: text('status'),
  recurring: boolean('recurring'),
  unitPriceAmount: minorUnits('unit_price_amount'),
  unitPriceCurrencyCode: text('unit_price_currency_code'),
  billingInterval: text('billing_interval'),
  billingFrequency: integer('billing_frequency'),
  trialStartsAt: timestamptz('trial_starts_at'),
  trialEndsAt: timestamptz('trial_ends_at'),
  previouslyBilledAt: timestamptz('previously_billed_at'),
  nextBilledAt: timestamptz('next_billed_at'),
}, (table) => [
  primaryKey({ columns: [table.subscriptionId, table.priceId] }),
])

export interface StoredPayment {
  paymentAttemptId: string | null
  status: string | null
  errorCode: string | null
  methodType: string | null
  amount: string | null
  createdAt: string | null
  capturedAt: string | null
}

export const transactionsTable = pgTable('transactions', {
  id: text('id').primaryKey(),
  status: text('status').notNull(),
  origin: text('origin'),
  customerId: text('customer_id'),
  subscriptionId: text('subscription_id'),
  accountId: text('account_id'),
  customAccountId: text('custom_account_id'),
  invoiceNumber: text('invoice_number'),
  currencyCode: text('currency_code'),
  collectionMode: text('collection_mode'),
  subtotal: minorUnits('subtotal'),
  discount: minorUnits('discount'),
  tax: minorUnits('tax'),
  total: minorUnits('total'),
  grandTotal: minorUnits('grand_total'),
  billingPeriodStartsAt: timestamptz('billing_period_starts_at'),
  billingPeriodEndsAt: timestamptz('billing_period_ends_at'),
  billedAt: timestamptz('billed_at'),
  revisedAt: timestamptz('revised_at'),
  /** Payment attempts, newest first: status, method type, dates. Never method details. */
  payments: jsonb('payments').$type<StoredPayment[]>().notNull().default([]),
  /** Price ids and quantities, for plan-change and receipt events. */
  items: jsonb('items').$type<Array<{ priceId: string | null, productId: string | null, quantity: number | null }>>().notNull().default([]),
  paddleCreatedAt: timestamptz('paddle_created_at'),
  paddleUpdatedAt: timestamptz('paddle_updated_at'),
  version: versionText('version').notNull(),
  rowUpdatedAt: timestamptz('row_updated_at').notNull().default(sql`now()`),
}, (table) => [
  index('transactions_account_created_idx').on(table.accountId, table.paddleCreatedAt, table.id),
  index('transactions_customer_idx').on(table.customerId),
  index('transactions_subscription_idx').on(table.subscriptionId),
  // Account resolution reads the earliest transaction carrying an account id, of a customer and of a
  // subscription (accounts.repository.ts): found in one index probe, whatever the history.
  index('transactions_customer_custom_account_idx').on(table.customerId, table.paddleCreatedAt, table.id).where(sql`custom_account_id IS NOT NULL`),
  index('transactions_subscription_custom_account_idx').on(table.subscriptionId, table.paddleCreatedAt, table.id).where(sql`custom_account_id IS NOT NULL`),
  // The transactions that take their account from their subscription (relink_subscription_fact): without
  // it, a change to a subscription read every transaction it ever had and kept those with no account id.
  index('transactions_subscription_unlinked_idx').on(table.subscriptionId).where(sql`custom_account_id IS NULL`),
])

export const adjustmentsTable = pgTable('adjustments', {
  id: text('id').primaryKey(),
  transactionId: text('transaction_id'),
  subscriptionId: text('subscription_id'),
  customerId: text('customer_id'),
  action: text('action').notNull(),
  type: text('type'),
  status: text('status').notNull(),
  currencyCode: text('currency_code'),
  subtotal: minorUnits('subtotal'),
  tax: minorUnits('tax'),
  total: minorUnits('total'),
  creditAppliedToBalance: boolean('credit_applied_to_balance'),
  paddleCreatedAt: timestamptz('paddle_created_at'),
  paddleUpdatedAt: timestamptz('paddle_updated_at'),
  version: versionText('version').notNull(),
  rowUpdatedAt: timestamptz('row_updated_at').notNull().default(sql`now()`),
}, (table) => [
  index('adjustments_transaction_idx').on(table.transactionId),
  index('adjustments_customer_idx').on(table.customerId),
])

export const EMAIL_EVENT_STATUSES = ['pending', 'delivered', 'dead', 'suppressed'] as const
export type EmailEventStatus = typeof EMAIL_EVENT_STATUSES[number]

/**
 * The delivery columns every outbox shares (email events, entitlement events): one dispatcher and one
 * delivery repository serve them all, parameterised by the table (email-events.repository.ts).
 */
function outboxColumns () {
  return {
    /** Public id, the Standard Webhooks `webhook-id`. */
    id: text('id').primaryKey(),
    /** Insertion order within a transaction; with tx_id, the pull feed's cursor. */
    seq: bigint('seq', { mode: 'number' }).generatedAlwaysAsIdentity(),
    /** The writing transaction's id: rows are served only once every older transaction has ended (see email-events.repository.ts). */
    txId: bigint('tx_id', { mode: 'number' }).notNull().default(sql`(pg_current_xact_id()::text)::bigint`),
    type: text('type').notNull(),
    idempotencyKey: text('idempotency_key').notNull().unique(),
    occurredAt: timestamptz('occurred_at').notNull(),
    accountId: text('account_id'),
    customerId: text('customer_id'),
    subscriptionId: text('subscription_id'),
    transactionId: text('transaction_id'),
    /** Deliveries keep this order: one subscription's (one account's) events reach the receiver in the order they were made. */
    orderingKey: text('ordering_key').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    /** The Paddle event (or scheduled job) that produced it. */
    sourceEventId: text('source_event_id'),
    status: text('status').$type<EmailEventStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamptz('next_attempt_at').notNull().default(sql`now()`),
    /** A dispatcher holds the row until then while it delivers; a crashed one lets go by itself. */
    leasedUntil: timestamptz('leased_until'),
    lastError: text('last_error'),
    lastStatusCode: integer('last_status_code'),
    deliveredAt: timestamptz('delivered_at'),
    createdAt: timestamptz('created_at').notNull().default(sql`now()`),
    /** W3C traceparent of the processing that wrote it (null with tracing off): each delivery's span continues that trace. */
    traceparent: text('traceparent'),
  }
}

/**
 * The outbox of events for transactional emails, written in the transaction that applies the Paddle
 * event they come from. `idempotency_key` makes one real change one row, whatever order or duplicates
 * of Paddle events led to it. Personal data never: the email sender looks the customer up by id.
 */
export const emailEventsTable = pgTable('email_events', outboxColumns(), (table) => [
  index('email_events_feed_idx').on(table.txId, table.seq),
  index('email_events_deliverable_idx').on(table.seq).where(sql`status = 'pending'`),
  index('email_events_ordering_idx').on(table.orderingKey, table.seq).where(sql`status = 'pending'`),
  index('email_events_customer_idx').on(table.customerId),
  index('email_events_dead_idx').on(table.createdAt).where(sql`status = 'dead'`),
  index('email_events_created_brin').using('brin', table.createdAt),
  index('email_events_account_idx').on(table.accountId),
])

/**
 * The outbox of `entitlement.changed` events (src/entitlements/entitlement-events.ts): the same
 * delivery columns as email_events, delivered by the same dispatcher to ENTITLEMENT_EVENTS_URL.
 * Ordered per account (ordering_key = account id).
 */
export const entitlementEventsTable = pgTable('entitlement_events', outboxColumns(), (table) => [
  index('entitlement_events_feed_idx').on(table.txId, table.seq),
  index('entitlement_events_deliverable_idx').on(table.seq).where(sql`status = 'pending'`),
  index('entitlement_events_ordering_idx').on(table.orderingKey, table.seq).where(sql`status = 'pending'`),
  index('entitlement_events_dead_idx').on(table.createdAt).where(sql`status = 'dead'`),
  index('entitlement_events_created_brin').using('brin', table.createdAt),
  index('entitlement_events_account_idx').on(table.accountId),
])

/**
 * The last entitlement answer emitted per account, so that a change is found by one comparison
 * (the answer's ETag) and the time-driven check reads only the accounts whose answer falls due.
 */
export const entitlementStatesTable = pgTable('entitlement_states', {
  accountId: text('account_id').primaryKey(),
  /** The read API's ETag of the last emitted answer (everything but asOf). */
  etag: text('etag').notNull(),
  access: text('access').notNull(),
  reason: text('reason').notNull(),
  until: timestamptz('until'),
  subscriptionId: text('subscription_id'),
  /** entitlement.changed events emitted for the account so far: the last one's `sequence`. */
  sequence: integer('sequence').notNull(),
  /** The next moment time alone may change the answer (a subscription's `until`); null: nothing scheduled. */
  dueAt: timestamptz('due_at'),
  updatedAt: timestamptz('updated_at').notNull().default(sql`now()`),
}, (table) => [
  index('entitlement_states_due_idx').on(table.dueAt).where(sql`due_at IS NOT NULL`),
])

/** That an erasure of a customer's personal data happened, and when; never what was erased. */
export const personalDataErasuresTable = pgTable('personal_data_erasures', {
  customerId: text('customer_id').primaryKey(),
  firstErasedAt: timestamptz('first_erased_at').notNull().default(sql`now()`),
  lastErasedAt: timestamptz('last_erased_at').notNull().default(sql`now()`),
  requests: integer('requests').notNull().default(1),
})

/** What the scheduled jobs remember between runs (the Paddle event-log cursor, the replay window). */
export const jobStateTable = pgTable('job_state', {
  name: text('name').primaryKey(),
  state: jsonb('state').$type<Record<string, unknown>>().notNull(),
  updatedAt: timestamptz('updated_at').notNull().default(sql`now()`),
})

export const BACKFILL_RUN_STATUSES = ['running', 'completed', 'failed', 'interrupted'] as const
export type BackfillRunStatus = typeof BACKFILL_RUN_STATUSES[number]

/**
 * One backfill run (npm run paddle:backfill, POST /internal/admin/backfill): what it has done so far,
 * readable from any replica while it runs. The cursors it resumes from live in job_state
 * (`paddle-backfill`); this is the record operators follow. Counts and ids only, never entity data.
 */
export const backfillRunsTable = pgTable('backfill_runs', {
  id: text('id').primaryKey(),
  dryRun: boolean('dry_run').notNull(),
  /** `cli` or `api`: who started it. */
  trigger: text('trigger').notNull(),
  status: text('status').$type<BackfillRunStatus>().notNull().default('running'),
  /** Per entity type: pages, listed, created, updated, unchanged, stale, failed, cursor, done. */
  progress: jsonb('progress').$type<Record<string, unknown>>().notNull(),
  /** Why it failed (a safe summary, never entity data). */
  error: text('error'),
  startedAt: timestamptz('started_at').notNull().default(sql`now()`),
  /** Written after every page: a running run whose heartbeat stopped was interrupted. */
  updatedAt: timestamptz('updated_at').notNull().default(sql`now()`),
  finishedAt: timestamptz('finished_at'),
}, (table) => [
  index('backfill_runs_started_idx').on(table.startedAt),
])
