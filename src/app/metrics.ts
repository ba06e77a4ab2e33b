/** The service's metrics: platform/metrics.ts fed with the database backlog and Paddle's event-type catalogue. */
import type { DatabaseHandle, RawStatement } from '../db/client.js'
import { KNOWN_EVENT_TYPES } from '../paddle/event-types.js'
import { createMetrics, type Backlog, type Metrics } from '../platform/metrics.js'

const BACKLOG: RawStatement = {
  name: 'metrics_backlog',
  text: `SELECT
      (SELECT count(*) FROM paddle_inbox WHERE status IN ('pending', 'failed'))::int AS inbox_depth,
      (SELECT COALESCE(extract(epoch FROM now() - min(received_at)), 0) FROM paddle_inbox WHERE status = 'pending')::float8 AS inbox_oldest_pending_seconds,
      (SELECT count(*) FROM paddle_inbox WHERE status = 'dead')::int AS inbox_dead,
      (SELECT count(*) FROM email_events WHERE status = 'pending')::int AS email_pending,
      (SELECT count(*) FROM email_events WHERE status = 'dead')::int AS email_dead,
      (SELECT count(*) FROM entitlement_events WHERE status = 'pending')::int AS entitlement_pending,
      (SELECT count(*) FROM entitlement_events WHERE status = 'dead')::int AS entitlement_dead`,
}

export function createServiceMetrics (database: DatabaseHandle): Metrics {
  return createMetrics({
    readBacklog: async () => (await database.query<Backlog>(BACKLOG, []))[0] ?? null,
    eventTypeLabel: (eventType) => (KNOWN_EVENT_TYPES.has(eventType) ? eventType : 'other'),
  })
}
