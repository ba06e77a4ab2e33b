/**
 * Whether an error means "the database could not be reached or dropped the session", as opposed to
 * "this statement failed". The first kind is nobody's fault: the work is retried as it is once the
 * database answers, without counting an attempt against the event or delivery that was running.
 */
const CONNECTION_SQLSTATES = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, or a fast shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '53300', // too_many_connections
  '25P03', // idle_in_transaction_session_timeout: our own session was ended
])
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
const DRIVER_MESSAGES = [
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed',
  'terminating connection',
]

export function isConnectionError (error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && (CONNECTION_SQLSTATES.has(code) || code.startsWith('08') || NETWORK_CODES.has(code))) return true
    if (DRIVER_MESSAGES.some((message) => current instanceof Error && current.message.includes(message))) return true
    if (current instanceof AggregateError && current.errors.some(isConnectionError)) return true
  }
  return false
}
