/** trial.ending_soon: a scheduled check, since no Paddle event says a trial is about to end. */
import { sql, type SQL } from 'drizzle-orm'
import type { PgColumn } from 'drizzle-orm/pg-core'
import { selectRows, type DatabaseHandle } from '../db/client.js'
import { emailEventsTable, subscriptionsTable } from '../db/schema.js'

/** A timestamptz column as the canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ` string, formatted by PostgreSQL. */
const iso = (column: PgColumn): SQL => sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
/** Column names as an INSERT's column list takes them (unqualified). */
const names = (...columns: PgColumn[]): SQL => sql.join(columns.map((column) => sql.identifier(column.name)), sql`, `)

/** One notice per trial end (the key carries it): a trial extended to a new end gets a new notice. */
export async function recordTrialEndingNotices (database: Pick<DatabaseHandle, 'db'>, now: string, noticeDays: number): Promise<number> {
  const e = emailEventsTable
  const s = subscriptionsTable
  const inserted = await selectRows<{ id: string }>(database.db, sql`
    INSERT INTO ${e} (${names(e.id, e.type, e.idempotencyKey, e.occurredAt, e.accountId, e.customerId, e.subscriptionId,
      e.orderingKey, e.data, e.sourceEventId, e.status)})
    SELECT 'eml_' || replace(gen_random_uuid()::text, '-', ''), 'trial.ending_soon',
      'trial.ending_soon:' || ${s.id} || ':' || ${iso(s.trialEndsAt)}, ${now}::timestamptz, ${s.accountId}, ${s.customerId}, ${s.id},
      ${s.id}, jsonb_build_object('trialEndsAt', ${iso(s.trialEndsAt)}, 'nextBilledAt', ${iso(s.nextBilledAt)}),
      'scheduled:trial-ending', 'pending'
    FROM ${s}
    WHERE ${s.status} = 'trialing' AND ${s.trialEndsAt} > ${now}::timestamptz
      AND ${s.trialEndsAt} <= ${now}::timestamptz + make_interval(days => ${noticeDays}::int)
      AND (${s.scheduledChangeAction} IS NULL OR ${s.scheduledChangeAction} <> 'cancel')
    ON CONFLICT (${names(e.idempotencyKey)}) DO NOTHING
    RETURNING ${e.id}`)
  return inserted.length
}
