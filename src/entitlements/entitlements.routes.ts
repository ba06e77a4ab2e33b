import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Subscription } from '../billing/billing.schemas.js'
import { nowTimestamp, type Clock } from '../platform/clock.js'
import { AccountId, errorResponses, Nullable, NullableTimestamp, Timestamp } from '../platform/schemas.js'
import { decideEntitlement, type Access, type EntitlementPolicy } from './decide.js'
import type { EntitlementCache } from './entitlement-cache.js'
import { answerJson, renderAnswer } from './entitlement-answer.js'
import { findAccountSubscriptions } from './entitlements.repository.js'

export const AccessSchema = Type.Union([Type.Literal('granted'), Type.Literal('grace'), Type.Literal('denied')])
export const ReasonSchema = Type.Union(['active', 'trialing', 'past_due_grace', 'cancel_scheduled', 'pause_scheduled', 'past_due', 'paused', 'canceled', 'no_subscription']
  .map((reason) => Type.Literal(reason)))

export const Entitlement = Type.Object({
  accountId: Type.String(),
  access: AccessSchema,
  reason: ReasonSchema,
  until: NullableTimestamp,
  subscription: Nullable(Subscription),
  asOf: Timestamp,
}, { description: 'Whether the account is paid up, why, and until when' })

export interface EntitlementRoutesOptions {
  policy: EntitlementPolicy
  clock: Clock
  /** The decision inputs in memory; absent: read from the database on every request. */
  cache?: EntitlementCache
  onAnswer?: (access: Access) => void
}

export const entitlementRoutes: FastifyPluginAsyncTypebox<EntitlementRoutesOptions> = async (app, options) => {
  app.get('/accounts/:accountId/entitlement', {
    // The hottest route (asked on every request of TrackSera's product): a "request completed" line
    // each time would cost more than the answer and drown the other logs. Its errors are still
    // logged, and the answers are counted by the metrics (billing_entitlement_answers_total, http).
    logLevel: 'warn',
    schema: {
      tags: ['entitlements'],
      summary: 'Is this account paid up?',
      description: 'Evaluated at request time. An unknown account is denied / no_subscription. With several ' +
        'subscriptions the most generous answer wins. Send If-None-Match with the last ETag to get 304 when nothing changed.',
      params: Type.Object({ accountId: AccountId }),
      response: { 200: Entitlement, 304: Type.Unsafe<undefined>({ description: 'Not modified: the answer is the one with this ETag' }), ...errorResponses },
    },
  }, async (request, reply) => {
    const { accountId } = request.params
    const asOf = nowTimestamp(options.clock)
    const subscriptions = options.cache === undefined
      ? await findAccountSubscriptions(app.database, accountId)
      : await options.cache.subscriptionsOf(accountId)
    const decision = decideEntitlement(subscriptions, options.policy, asOf)
    options.onAnswer?.(decision.access)
    // The answer as JSON text (entitlement-answer.ts), the same rendering entitlement.changed carries.
    const rendered = renderAnswer(accountId, decision)
    const etag = rendered.etag
    reply.header('etag', etag).header('cache-control', 'private, no-cache')
    if (matchesEtag(request.headers['if-none-match'], etag)) return await reply.status(304).send()
    // Already JSON text: Fastify sends a string as it is, so the schema above documents the answer
    // without serialising it a second time.
    const json: unknown = answerJson(rendered, asOf)
    return await reply.type('application/json; charset=utf-8').send(json as Static<typeof Entitlement>)
  })
}

function matchesEtag (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '')
    return tag === etag || tag === '*'
  })
}
