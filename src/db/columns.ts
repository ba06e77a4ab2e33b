import { customType } from 'drizzle-orm/pg-core'
import { canonicalTimestamp } from '../platform/timestamps.js'

/**
 * timestamptz at microsecond precision, exchanged as the canonical
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` string so no value ever passes through a JS Date.
 */
export const timestamptz = customType<{ data: string, driverData: string }>({
  dataType: () => 'timestamp (6) with time zone',
  fromDriver: (value) => canonicalTimestamp(value),
  toDriver: (value) => value,
})

/**
 * The version a state row was built from: `<entity updated_at>|<event occurred_at>|<event_id>`,
 * fixed-width timestamps, so that byte order is version order. COLLATE "C" makes PostgreSQL compare
 * bytes too, whatever the database's default collation.
 */
export const versionText = customType<{ data: string, driverData: string }>({
  dataType: () => 'text COLLATE "C"',
})

/** Amounts in minor units: numeric in the database, decimal strings in TypeScript, never floats. */
export const minorUnits = customType<{ data: string, driverData: string }>({
  dataType: () => 'numeric(30, 0)',
})
