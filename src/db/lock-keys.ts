/**
 * The session-level advisory lock keys the service takes (pg_advisory_lock, pg_try_advisory_lock),
 * named in one place so that no two uses share a key by accident.
 */
export const ADVISORY_LOCK_KEYS = {
  /** Serialises replicas that start together with MIGRATE_ON_START=true (migrate.ts). */
  migrations: 7_301_001,
  /** One per scheduled job: one process runs each run (app/background.ts). */
  trialNotices: 7_301_101,
  retention: 7_301_102,
  reconcile: 7_301_103,
  /** One backfill at a time, whichever process or CLI starts it (reconcile/backfill.ts). */
  backfill: 7_301_104,
} as const
