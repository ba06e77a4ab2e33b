/**
 * The entitlement answer as the read API gives it (GET /internal/accounts/:id/entitlement) and as
 * entitlement.changed carries it: one rendering, so that "the answer changed" means exactly "its
 * ETag changed", for the route and for the events alike.
 */
import { createHash } from 'node:crypto'
import type { Decision } from './decide.js'
import type { AccountSubscription } from './entitlements.repository.js'

export interface RenderedAnswer {
  /** The answer without asOf and without its closing brace, as JSON text: append `,"asOf":...}`. */
  partial: string
  /** The strong ETag over everything but asOf. */
  etag: string
}

export function renderAnswer (accountId: string, decision: Decision<AccountSubscription>): RenderedAnswer {
  // The subscription's JSON was serialised once when it was read (see entitlements.repository.ts)
  // and is kept as text, so nothing here serialises it again.
  const partial = `{"accountId":${JSON.stringify(accountId)},"access":"${decision.access}","reason":"${decision.reason}",` +
    `"until":${JSON.stringify(decision.until)},"subscription":${decision.subscription?.json ?? 'null'}`
  // The tag covers the answer, not the time it was given: asOf alone never defeats a 304.
  const etag = `"${createHash('sha256').update(partial).digest('base64url').slice(0, 27)}"`
  return { partial, etag }
}

/** The whole answer as JSON text. */
export function answerJson (rendered: RenderedAnswer, asOf: string): string {
  return `${rendered.partial},"asOf":"${asOf}"}`
}
