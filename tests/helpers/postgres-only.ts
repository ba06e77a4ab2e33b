/**
 * The test groups that need a PostgreSQL server, and why: on an embedded PGlite run they are
 * skipped, and global-setup.ts names each one with its reason. A group is skipped through
 * `skipWithoutPostgres(key)` (helpers/database.ts), so a skip cannot exist without its entry here.
 */
export const POSTGRES_ONLY = {
  'dispatcher-killed': {
    group: 'tests/email-events/delivery.test.ts > a dispatcher process killed mid-delivery',
    why: 'a second process (the worker) must share the test database, and PGlite lives in one process',
  },
  'open-transaction-feed': {
    group: 'tests/email-events/delivery.test.ts > ... > neither serves nor skips an event whose transaction is still open',
    why: 'holds a transaction open on a second connection while the feed reads; PGlite has one connection',
  },
  'production-artifact': {
    group: 'tests/platform/container.test.ts > the production artifact, built as the image builds it, run as a non-root user',
    why: 'the production server refuses the embedded database (NODE_ENV=production needs DATABASE_URL)',
  },
  'multi-instance': {
    group: 'tests/processing/multi-instance.test.ts > several processes on one database',
    why: 'two service instances and a worker process on one database, each with a pool of its own',
  },
  'entitlement-cache': {
    group: 'tests/entitlements/entitlement-cache.test.ts > entitlement cache',
    why: 'invalidation travels by LISTEN/NOTIFY between connections and processes, and the LISTEN connection is cut',
  },
  'intake-outage': {
    group: 'tests/intake/outage.test.ts > POST /webhooks/paddle while PostgreSQL is unreachable',
    why: 'cuts the connection to the server; embedded PGlite has no connection to cut',
  },
  'round-trips': {
    group: 'tests/db/deferred-statements.test.ts > pipelines on PostgreSQL',
    why: 'counts the socket writes of a pg connection; PGlite runs in process, with no socket',
  },
} as const

export type PostgresOnlyGroup = keyof typeof POSTGRES_ONLY
