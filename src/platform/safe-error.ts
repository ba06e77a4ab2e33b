/**
 * What the service says about an error, in logs and in stored `last_error` columns. Drizzle's query
 * errors carry the query's parameters (names, emails) in their message and properties, and
 * PostgreSQL's `detail` quotes row values: neither may reach a log line or a table.
 */
export interface SafeError {
  type: string
  message: string
  code?: string
  constraint?: string
  table?: string
  column?: string
  stack?: string
}

const MAX_MESSAGE_LENGTH = 500

export function describeError (error: unknown, withStack = false): SafeError {
  let current = error
  // DrizzleQueryError's own message is "Failed query: <sql> params: <values>"; its cause is the driver's error.
  while (current instanceof Error && current.constructor.name === 'DrizzleQueryError' && current.cause !== undefined) {
    current = current.cause
  }
  if (!(current instanceof Error)) return { type: typeof current, message: 'non-error value thrown' }
  const fields = current as Error & { code?: unknown, constraint?: unknown, table?: unknown, column?: unknown }
  const safe: SafeError = { type: current.name, message: current.message.slice(0, MAX_MESSAGE_LENGTH) }
  if (typeof fields.code === 'string') safe.code = fields.code
  if (typeof fields.constraint === 'string') safe.constraint = fields.constraint
  if (typeof fields.table === 'string') safe.table = fields.table
  if (typeof fields.column === 'string') safe.column = fields.column
  // fetch's "fetch failed" says why only in its cause (ECONNREFUSED, ENOTFOUND...).
  const cause = current.cause as { code?: unknown } | undefined
  if (safe.code === undefined && typeof cause?.code === 'string') safe.code = cause.code
  if (withStack && current.stack !== undefined) safe.stack = current.stack
  return safe
}

/** One line for a `last_error` column. */
export function errorSummary (error: unknown): string {
  const safe = describeError(error)
  return `${safe.type}${safe.code === undefined ? '' : ` ${safe.code}`}: ${safe.message}`
}
