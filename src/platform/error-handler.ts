import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { RETRY_AFTER_SECONDS } from './errors.js'

/**
 * The one error handler. 4xx: `{ code, message }` as declared in errors.ts (or Fastify's own codes).
 * 5xx: logged with the request's context; the caller gets a generic message, never internals, except
 * for the 501, 502 and 503 declared in errors.ts, whose messages are written to be shown.
 */
export function handleError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.validation !== undefined) {
    return reply.status(400).send({ code: 'INVALID_REQUEST', message: error.message })
  }
  const statusCode = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
  if (statusCode < 500) {
    return reply.status(statusCode).send({ code: error.code ?? 'BAD_REQUEST', message: error.message })
  }
  if (statusCode === 503) {
    request.log.warn({ err: error }, 'service unavailable')
    return reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS))
      .send({ code: error.code ?? 'SERVICE_UNAVAILABLE', message: error.message })
  }
  if (statusCode === 501 || statusCode === 502) {
    request.log.warn({ err: error }, 'request could not be served')
    return reply.status(statusCode).send({ code: error.code, message: error.message })
  }
  request.log.error({ err: error }, 'request failed')
  return reply.status(statusCode).send({ code: 'INTERNAL_ERROR', message: 'Internal server error' })
}

export function handleNotFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.status(404).send({ code: 'NOT_FOUND', message: `Route ${request.method} ${request.url.split('?')[0] ?? ''} not found` })
}
