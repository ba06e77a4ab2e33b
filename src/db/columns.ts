import { customType } from 'drizzle-orm/pg-core'
import { canonicalTimestamp } from '../paddle/timestamps.js'

/**
 * timestamptz at microsecond precision, exchanged as the canonical
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` string so no value ever passes through a JS Date.
 */
export const timestamptz = customType<{ data: string, driverData: string }>({
  dataType: () => 'timestamp (6) with time zone',
  fromDriver: (value) => canonicalTimestamp(value),
  toDriver: (value) => value,
})
