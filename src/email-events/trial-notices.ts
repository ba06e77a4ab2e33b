/** trial.ending_soon: a scheduled check, since no Paddle event says a trial is about to end. */
import type { DatabaseHandle, RawStatement } from '../db/client.js'

const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

const RECORD_TRIAL_NOTICES: RawStatement = {
  name: 'email_events_trial_ending_soon',
  text: `INSERT INTO email_events (id, type, idempotency_key, occurred_at, account_id, customer_id, subscription_id,
      ordering_key, data, source_event_id, status)
    SELECT 'eml_' || replace(gen_random_uuid()::text, '-', ''), 'trial.ending_soon',
      'trial.ending_soon:' || s.id || ':' || ${iso('s.trial_ends_at')}, $1::timestamptz, s.account_id, s.customer_id, s.id,
      s.id, jsonb_build_object('trialEndsAt', ${iso('s.trial_ends_at')}, 'nextBilledAt', ${iso('s.next_billed_at')}),
      'scheduled:trial-ending', 'pending'
    FROM subscriptions s
    WHERE s.status = 'trialing' AND s.trial_ends_at > $1::timestamptz
      AND s.trial_ends_at <= $1::timestamptz + make_interval(days => $2)
      AND (s.scheduled_change_action IS NULL OR s.scheduled_change_action <> 'cancel')
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id`,
}

/** One notice per trial end (the key carries it): a trial extended to a new end gets a new notice. */
export async function recordTrialEndingNotices (database: DatabaseHandle, now: string, noticeDays: number): Promise<number> {
  return (await database.query<{ id: string }>(RECORD_TRIAL_NOTICES, [now, noticeDays])).length
}
