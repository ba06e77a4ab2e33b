/** The queues' backlog as operators watch it: the metrics' gauges and the readiness check's inbox lag. */
import { sql, type SQL } from 'drizzle-orm'
import { selectRows, type DatabaseHandle } from '../db/client.js'
import { emailEventsTable, entitlementEventsTable, paddleInboxTable } from '../db/schema.js'
import type { Backlog } from '../platform/metrics.js'

const inbox = paddleInboxTable
const email = emailEventsTable
const entitlement = entitlementEventsTable

/** Seconds the oldest pending inbox row has waited (0 when none is pending). */
const oldestPendingSeconds: SQL = sql`(SELECT COALESCE(extract(epoch FROM now() - min(${inbox.receivedAt})), 0)
  FROM ${inbox} WHERE ${inbox.status} = 'pending')::float8`

/** Every backlog gauge in one round trip. */
export async function readBacklog (database: Pick<DatabaseHandle, 'db'>): Promise<Backlog | null> {
  const [row] = await selectRows<Backlog>(database.db, sql`SELECT
      (SELECT count(*) FROM ${inbox} WHERE ${inbox.status} IN ('pending', 'failed'))::int AS inbox_depth,
      ${oldestPendingSeconds} AS inbox_oldest_pending_seconds,
      (SELECT count(*) FROM ${inbox} WHERE ${inbox.status} = 'dead')::int AS inbox_dead,
      (SELECT count(*) FROM ${email} WHERE ${email.status} = 'pending')::int AS email_pending,
      (SELECT count(*) FROM ${email} WHERE ${email.status} = 'dead')::int AS email_dead,
      (SELECT count(*) FROM ${entitlement} WHERE ${entitlement.status} = 'pending')::int AS entitlement_pending,
      (SELECT count(*) FROM ${entitlement} WHERE ${entitlement.status} = 'dead')::int AS entitlement_dead`)
  return row ?? null
}

export async function readInboxLagSeconds (database: Pick<DatabaseHandle, 'db'>): Promise<number> {
  const [row] = await selectRows<{ seconds: number }>(database.db, sql`SELECT ${oldestPendingSeconds} AS seconds`)
  return row?.seconds ?? 0
}
