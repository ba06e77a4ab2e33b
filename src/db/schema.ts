import { sql } from 'drizzle-orm'
import { index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core'
import { timestamptz } from './columns.js'

export const INBOX_STATUSES = ['pending', 'failed', 'processed', 'ignored', 'dead'] as const
export type InboxStatus = typeof INBOX_STATUSES[number]

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
  origin: text('origin').$type<'webhook' | 'reconcile'>().notNull().default('webhook'),
  payload: jsonb('payload').$type<Record<string, unknown>>(),
  status: text('status').$type<InboxStatus>().notNull().default('pending'),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: timestamptz('next_attempt_at').notNull().default(sql`now()`),
  lastError: text('last_error'),
  receivedAt: timestamptz('received_at').notNull().default(sql`now()`),
  processedAt: timestamptz('processed_at'),
}, (table) => [
  index('paddle_inbox_runnable_idx').on(table.occurredAt).where(sql`status in ('pending', 'failed')`),
  index('paddle_inbox_subscription_idx').on(table.subscriptionId),
  index('paddle_inbox_customer_idx').on(table.customerId),
])
