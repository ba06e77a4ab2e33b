import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { RETRY_AFTER_SECONDS } from './errors.js'

/**
 * The one error handler. 4xx: `{ code, message }` as declared in errors.ts (or Fastify's own codes).
 * 5xx: logged with the request's context; the caller gets a generic message, never internals, except
 * for the 501, 502 and 503 declared in errors.ts, whose messages are written to be shown.
 */
export function handleError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.validation !== undefined) {
    return reply.status(400).send({ code: 'INVALID_REQUEST', message: validationMessage(error) })
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

interface ValidationIssue { keyword: string, instancePath: string, message?: string, params: Record<string, unknown> }

/**
 * Ajv's messages, except that a value limited to a few constants (a TypeBox union of literals, an
 * enum) names them: `querystring/status must be one of: dead, failed, pending`, where Ajv says
 * "must be equal to constant" once per constant and then "must match a schema in anyOf".
 */
function validationMessage (error: FastifyError): string {
  const issues = (error.validation ?? []) as ValidationIssue[]
  const allowed = new Map<string, unknown[]>()
  for (const issue of issues) {
    if (issue.keyword === 'const') allowed.set(issue.instancePath, [...(allowed.get(issue.instancePath) ?? []), issue.params.allowedValue])
    if (issue.keyword === 'enum' && Array.isArray(issue.params.allowedValues)) allowed.set(issue.instancePath, issue.params.allowedValues)
  }
  if (allowed.size === 0) return error.message
  const context = error.validationContext ?? 'request'
  const messages: string[] = []
  for (const issue of issues) {
    const values = allowed.get(issue.instancePath)
    if (values === undefined) messages.push(`${context}${issue.instancePath} ${issue.message ?? 'is invalid'}`)
    else if (issue.keyword === 'anyOf' || issue.keyword === 'enum') messages.push(`${context}${issue.instancePath} must be one of: ${values.map(String).join(', ')}`)
  }
  return [...new Set(messages)].join(', ')
}
