import type { DatabaseHandle, RawStatement } from '../db/client.js'
import type { EntitlementSubscription } from './decide.js'

/** A timestamptz column as the canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ` string, formatted by PostgreSQL. */
const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/**
 * The hottest read in the service, so PostgreSQL builds the answer's subscription itself, as JSON
 * text in the shape of GET /internal/subscriptions/:id with canonical timestamps, and this process
 * passes that text through untouched; it reads only the few columns the decision needs.
 * A named statement: parsed and planned once per connection.
 */
export const ACCOUNT_SUBSCRIPTIONS: RawStatement = {
  name: 'entitlement_account_subscriptions',
  text: `SELECT json_build_object(
      'id', s.id, 'status', s.status, 'customerId', s.customer_id, 'accountId', s.account_id,
      'items', COALESCE((SELECT json_agg(json_build_object('priceId', i.price_id, 'productId', i.product_id,
        'quantity', i.quantity, 'status', i.status) ORDER BY i.price_id COLLATE "C")
        FROM subscription_items i WHERE i.subscription_id = s.id), '[]'),
      'currencyCode', s.currency_code,
      'billingCycle', CASE WHEN s.billing_interval IS NOT NULL AND s.billing_frequency IS NOT NULL
        THEN json_build_object('interval', s.billing_interval, 'frequency', s.billing_frequency) END,
      'currentBillingPeriod', CASE WHEN s.current_period_starts_at IS NOT NULL AND s.current_period_ends_at IS NOT NULL
        THEN json_build_object('startsAt', ${iso('s.current_period_starts_at')}, 'endsAt', ${iso('s.current_period_ends_at')}) END,
      'nextBilledAt', ${iso('s.next_billed_at')},
      'startedAt', ${iso('s.started_at')},
      'firstBilledAt', ${iso('s.first_billed_at')},
      'pausedAt', ${iso('s.paused_at')},
      'canceledAt', ${iso('s.canceled_at')},
      'scheduledChange', CASE WHEN s.scheduled_change_action IS NOT NULL
        THEN json_build_object('action', s.scheduled_change_action, 'effectiveAt', ${iso('s.scheduled_change_effective_at')},
          'resumeAt', ${iso('s.scheduled_change_resume_at')}) END,
      'trialEndsAt', ${iso('s.trial_ends_at')},
      'updatedAt', ${iso('s.paddle_updated_at')}
    )::text AS subscription_json,
    s.id, s.status, s.scheduled_change_action,
    ${iso('s.current_period_starts_at')} AS current_period_starts_at,
    ${iso('s.current_period_ends_at')} AS current_period_ends_at,
    ${iso('s.next_billed_at')} AS next_billed_at,
    ${iso('s.trial_ends_at')} AS trial_ends_at,
    ${iso('s.scheduled_change_effective_at')} AS scheduled_change_effective_at,
    ${iso('s.scheduled_change_resume_at')} AS scheduled_change_resume_at
    FROM subscriptions s WHERE s.account_id = $1`,
}

interface Row {
  subscription_json: string
  id: string
  status: string
  scheduled_change_action: string | null
  current_period_starts_at: string | null
  current_period_ends_at: string | null
  next_billed_at: string | null
  trial_ends_at: string | null
  scheduled_change_effective_at: string | null
  scheduled_change_resume_at: string | null
}

/** What the decision reads, and the subscription as the answer shows it (JSON text, see above). */
export type AccountSubscription = EntitlementSubscription & { json: string }

export async function findAccountSubscriptions (database: Pick<DatabaseHandle, 'query'>, accountId: string): Promise<AccountSubscription[]> {
  const rows = await database.query<Row>(ACCOUNT_SUBSCRIPTIONS, [accountId])
  return rows.map((row) => ({
    id: row.id,
    status: row.status,
    currentPeriodStartsAt: row.current_period_starts_at,
    currentPeriodEndsAt: row.current_period_ends_at,
    nextBilledAt: row.next_billed_at,
    trialEndsAt: row.trial_ends_at,
    scheduledChangeAction: row.scheduled_change_action,
    scheduledChangeEffectiveAt: row.scheduled_change_effective_at,
    scheduledChangeResumeAt: row.scheduled_change_resume_at,
    json: row.subscription_json,
  }))
}
