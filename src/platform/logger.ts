import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import pino, { type DestinationStream, type Logger } from 'pino'
import type { Config } from './config.js'
import { describeError } from './safe-error.js'

/**
 * Header values that authenticate a caller. Bodies are never logged at all (they hold names, emails
 * and addresses), so only headers need redacting.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["paddle-signature"]',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'headers["paddle-signature"]',
  // The console's session cookie.
  'req.headers.cookie',
  'headers.cookie',
  'res.headers["set-cookie"]',
]

/** Pino's JSON lines, to stdout or `destination` (`npm run dev` passes pino-pretty's stream: colourised lines). */
export function createLogger (config: Pick<Config, 'LOG_LEVEL'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.LOG_LEVEL,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { service: 'tracksera-billing' },
    // Errors are logged through describeError: never a query's parameters or a row's values.
    serializers: { err: (error: unknown) => describeError(error, true) },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Fields a handler wants on every later line about this request (the webhook's event ids). */
    logFields: Record<string, unknown> | null
  }
  interface FastifyContextConfig {
    /** The level of a route's "request completed" line when it did not fail (`info` unless the route says; the health probes say `debug`). */
    completedLogLevel?: 'debug' | 'info'
  }
}

/**
 * One line per request, written after the handler, so it carries the fields the handler set in
 * `request.logFields` (the webhook route's event_id, event_type, notification_id). No "incoming request" line.
 */
export class ServiceLogController extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      ...request.logFields,
      req: { method: request.method, url: request.routeOptions.url ?? request.url.split('?')[0] },
      res: { statusCode: reply.statusCode },
      responseTime: Math.round(reply.elapsedTime * 100) / 100,
    }
    if (error !== null && error !== undefined) request.log.error({ ...line, err: error }, 'request errored')
    else request.log[request.routeOptions.config.completedLogLevel ?? 'info'](line, 'request completed')
  }
}
