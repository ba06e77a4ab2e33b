import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { UnauthorizedError } from './errors.js'

/**
 * Whether a presented token is one of `tokens`. Tokens are compared as SHA-256 digests, so every
 * comparison has the same length and takes the same time, and every configured token is compared
 * whichever matches: the time taken says nothing about a token.
 */
export function createTokenCheck (tokens: readonly string[]): (presented: string) => boolean {
  const digests = tokens.map(digest)
  return (presented) => {
    const candidate = digest(presented)
    let matched = false
    for (const known of digests) matched = timingSafeEqual(candidate, known) || matched
    return matched
  }
}

/** Bearer-token check for /internal/*. Tokens are never logged (the header is redacted). */
export function createBearerAuth (tokens: readonly string[]): (request: FastifyRequest) => Promise<void> {
  const isKnownToken = createTokenCheck(tokens)
  return async (request) => {
    const presented = bearerToken(request.headers.authorization)
    if (presented === null || !isKnownToken(presented)) throw new UnauthorizedError()
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
