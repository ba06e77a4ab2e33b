import createError from '@fastify/error'

// Every error a caller can see, declared once with a stable code. 4xx bodies are `{ code, message }`.
export const InvalidSignatureError = createError('PADDLE_SIGNATURE_INVALID', 'Paddle signature verification failed: %s', 401)
export const InvalidEventError = createError('PADDLE_EVENT_INVALID', 'The body is not a Paddle event envelope: %s', 400)
export const DatabaseUnavailableError = createError('DATABASE_UNAVAILABLE', 'The database is unavailable; retry later', 503)
export const MigrationsPendingError = createError('MIGRATIONS_PENDING', 'The database lacks %s migration(s) this version needs; retry later (operators: run node dist/db/migrate.js)', 503)
export const UnauthorizedError = createError('UNAUTHORIZED', 'A valid bearer token is required', 401)
export const NotFoundError = createError('NOT_FOUND', '%s was not found', 404)
export const InvalidRequestError = createError('INVALID_REQUEST', '%s', 400)
export const ConflictError = createError('CONFLICT', '%s', 409)
export const ReconciliationOffError = createError('RECONCILIATION_OFF', 'Reconciliation with Paddle is off: PADDLE_API_KEY is not set', 501)
export const PaddleApiFailedError = createError('PADDLE_API_ERROR', '%s', 502)

/** Seconds a caller should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 10
