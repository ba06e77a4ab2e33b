/** The service's metrics: platform/metrics.ts fed with the database backlog, the event-log catch-up's progress and Paddle's event-type catalogue. */
import { readBacklog } from '../admin/backlog.repository.js'
import type { DatabaseHandle } from '../db/client.js'
import { KNOWN_EVENT_TYPES } from '../paddle/event-types.js'
import { createMetrics, type Metrics } from '../platform/metrics.js'
import { toEpochMicros } from '../platform/timestamps.js'
import { EVENT_LOG_JOB, type EventLogState } from '../reconcile/event-log-catch-up.js'
import { readJobState } from '../reconcile/job-state.repository.js'

export function createServiceMetrics (database: DatabaseHandle): Metrics {
  return createMetrics({
    readBacklog: async () => await readBacklog(database),
    eventTypeLabel: (eventType) => (KNOWN_EVENT_TYPES.has(eventType) ? eventType : 'other'),
    readReconcileSyncedThrough: async () => {
      const { syncedThrough } = await readJobState<EventLogState>(database, EVENT_LOG_JOB)
      return syncedThrough === undefined ? null : Number(toEpochMicros(syncedThrough)) / 1e6
    },
  })
}
