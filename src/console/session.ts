/**
 * The console's sign-in, kept in a signed cookie (no session table): `<payload>.<mac>`, both
 * base64url, the MAC an HMAC-SHA256 over the payload under a key of the console's own. The payload
 * names a random session id, when the session ends, and which configured token signed it in (as an
 * HMAC of it, never the token): a token removed from INTERNAL_API_TOKENS ends its sessions.
 *
 * The CSRF token of a session is an HMAC of its id under the same key (a separate purpose label),
 * so nothing needs storing; forms carry it in a hidden field.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'

export const SESSION_COOKIE = 'billing_console_session'
export const COOKIE_PATH = '/console'

export interface Session {
  /** Random, 128 bits: what the CSRF token is derived from. */
  id: string
  /** Seconds since the epoch. */
  expiresAt: number
  tokenId: string
}

export type SessionProblem = 'missing' | 'malformed' | 'bad_signature' | 'expired' | 'token_revoked'

export interface SessionKeys {
  /** A new session for a token already checked against INTERNAL_API_TOKENS. */
  issue(token: string, nowSeconds: number): { session: Session, cookieValue: string }
  verify(cookieValue: string | undefined, nowSeconds: number): { session: Session } | { problem: SessionProblem }
  csrfToken(session: Session): string
  isCsrfToken(session: Session, presented: unknown): boolean
}

/**
 * The key: HKDF-SHA256 of CONSOLE_SESSION_SECRET, or, without one, of the configured tokens (so
 * every replica derives the same key, restarts keep sessions, and a changed token set ends them).
 */
export function createSessionKeys (options: { secret: string | undefined, tokens: readonly string[], ttlSeconds: number }): SessionKeys {
  const material = options.secret ?? [...options.tokens].sort().join('\n')
  const key = Buffer.from(hkdfSync('sha256', material, 'tracksera-billing', 'console session v1', 32))
  const mac = (purpose: string, value: string): Buffer => createHmac('sha256', key).update(`${purpose}\0${value}`).digest()
  const tokenIdOf = (token: string): string => mac('token', token).subarray(0, 16).toString('base64url')
  const liveTokenIds = options.tokens.map((token) => Buffer.from(tokenIdOf(token)))

  return {
    issue (token, nowSeconds) {
      const session: Session = { id: randomBytes(16).toString('base64url'), expiresAt: nowSeconds + options.ttlSeconds, tokenId: tokenIdOf(token) }
      const payload = Buffer.from(JSON.stringify({ v: 1, sid: session.id, exp: session.expiresAt, tid: session.tokenId })).toString('base64url')
      return { session, cookieValue: `${payload}.${mac('session', payload).toString('base64url')}` }
    },

    verify (cookieValue, nowSeconds) {
      if (cookieValue === undefined || cookieValue === '') return { problem: 'missing' }
      const [payload, signature, ...rest] = cookieValue.split('.')
      if (payload === undefined || signature === undefined || rest.length > 0 || payload.length > 512) return { problem: 'malformed' }
      if (!equalBytes(Buffer.from(signature, 'base64url'), mac('session', payload))) return { problem: 'bad_signature' }
      let fields: { v?: unknown, sid?: unknown, exp?: unknown, tid?: unknown }
      try {
        fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof fields
      } catch {
        return { problem: 'malformed' }
      }
      const { v, sid, exp, tid } = fields
      if (v !== 1 || typeof sid !== 'string' || typeof exp !== 'number' || typeof tid !== 'string') return { problem: 'malformed' }
      if (exp <= nowSeconds) return { problem: 'expired' }
      const presented = Buffer.from(tid)
      let live = false
      for (const known of liveTokenIds) live = equalBytes(presented, known) || live
      if (!live) return { problem: 'token_revoked' }
      return { session: { id: sid, expiresAt: exp, tokenId: tid } }
    },

    csrfToken (session) {
      return mac('csrf', session.id).toString('base64url')
    },

    isCsrfToken (session, presented) {
      return typeof presented === 'string' && equalBytes(Buffer.from(presented), Buffer.from(mac('csrf', session.id).toString('base64url')))
    },
  }
}

/** Constant-time for equal lengths; different lengths differ at once (a length says nothing secret here). */
function equalBytes (a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

export interface CookieOptions { maxAgeSeconds: number, secure: boolean }

export function serializeSessionCookie (value: string, options: CookieOptions): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    `Path=${COOKIE_PATH}`,
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ')
}

/** The value of one cookie from a Cookie header; undefined when absent. */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const separator = part.indexOf('=')
    if (separator > 0 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim()
  }
  return undefined
}
