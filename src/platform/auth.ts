import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { UnauthorizedError } from './errors.js'

/**
 * Bearer-token check for /internal/*. Tokens are compared as SHA-256 digests, so every comparison
 * has the same length and takes the same time, and every configured token is compared whichever
 * matches: the time taken says nothing about a token. Tokens are never logged (the header is redacted).
 */
export function createBearerAuth (tokens: readonly string[]): (request: FastifyRequest) => Promise<void> {
  const digests = tokens.map(digest)
  return async (request) => {
    const presented = bearerToken(request.headers.authorization)
    if (presented === null) throw new UnauthorizedError()
    const candidate = digest(presented)
    let matched = false
    for (const known of digests) matched = timingSafeEqual(candidate, known) || matched
    if (!matched) throw new UnauthorizedError()
  }
}

function bearerToken (header: string | undefined): string | null {
  if (header === undefined) return null
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header)
  return match?.[1] ?? null
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}
