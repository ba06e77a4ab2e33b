/**
 * For operators: the drift between our subscriptions and Paddle's, and a resync of one
 * subscription (src/reconcile/subscription-drift.ts says how Paddle's state is applied).
 */
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { PaddleApiError } from '../reconcile/paddle-api.js'
import type { Reconciler } from '../reconcile/reconciler.js'
import type { DriftReport } from '../reconcile/subscription-drift.js'
import { NotFoundError, PaddleApiFailedError, ReconciliationOffError } from '../platform/errors.js'
import { ErrorResponse, errorResponses, Nullable, paddleId } from '../platform/schemas.js'

export interface ReconcileRoutesOptions {
  /** Null when PADDLE_API_KEY is not set. */
  reconciler: Reconciler | null
}

const SubscriptionDrift = Type.Object({
  subscriptionId: Type.String(),
  kind: Type.Union([Type.Literal('differs'), Type.Literal('missing_locally'), Type.Literal('unknown_to_paddle')], {
    description: 'differs; missing_locally (Paddle has it, we do not); unknown_to_paddle (ours only: reported, never changed)',
  }),
  differences: Type.Array(Type.Object({
    field: Type.Union([Type.Literal('status'), Type.Literal('items'), Type.Literal('nextBilledAt'), Type.Literal('scheduledChange')]),
    local: Type.Unknown(),
    paddle: Type.Unknown(),
  })),
  localUpdatedAt: Nullable(Type.String()),
  paddleUpdatedAt: Nullable(Type.String()),
  result: Type.Optional(Type.Union([Type.Literal('applied'), Type.Literal('stale'), Type.Literal('queued'), Type.Literal('failed')], {
    description: 'Without dry run: applied; stale (ours is as new or newer: kept); queued (not applied yet); failed (see /internal/admin/events)',
  })),
  resyncEventId: Type.Optional(Type.String({ description: 'The inbox event that carried Paddle\'s state (see the timeline)' })),
})

const DriftReportSchema = Type.Object({
  dryRun: Type.Boolean(),
  checked: Type.Integer({ description: 'Subscriptions Paddle listed' }),
  drifted: Type.Integer(),
  subscriptions: Type.Array(SubscriptionDrift, { description: 'At most 1000; truncated says there were more' }),
  truncated: Type.Boolean(),
})

const failureResponses = { ...errorResponses, 501: ErrorResponse, 502: ErrorResponse }

export const reconcileRoutes: FastifyPluginAsyncTypebox<ReconcileRoutesOptions> = async (app, options) => {
  const reconcile = async (request: { dryRun: boolean, ids?: string[] }): Promise<DriftReport> => {
    if (options.reconciler === null) throw new ReconciliationOffError()
    try {
      return await options.reconciler.reconcile(request)
    } catch (error) {
      if (error instanceof PaddleApiError) throw new PaddleApiFailedError(error.message)
      throw error
    }
  }

  app.post('/admin/reconcile', {
    schema: {
      tags: ['admin'],
      summary: 'Compare our subscriptions with Paddle\'s; without dry run, apply Paddle\'s current state',
      description: 'Compares status, items, next billing date and scheduled change of every subscription. ' +
        'dryRun=false puts Paddle\'s state into the inbox and waits (up to 10 s) for the workers to apply it; ' +
        'a Paddle state older than ours is stale and changes nothing.',
      querystring: Type.Object({ dryRun: Type.Boolean({ default: true }) }, { additionalProperties: false }),
      response: { 200: DriftReportSchema, ...failureResponses },
    },
  }, async (request) => await reconcile({ dryRun: request.query.dryRun }))

  app.post('/admin/subscriptions/:subscriptionId/resync', {
    schema: {
      tags: ['admin'],
      summary: 'Fetch one subscription from Paddle and apply its current state',
      params: Type.Object({ subscriptionId: paddleId('sub', 'Paddle subscription id') }),
      response: {
        200: Type.Object({ subscriptionId: Type.String(), drifted: Type.Boolean(), drift: Nullable(SubscriptionDrift) }),
        ...failureResponses,
      },
    },
  }, async (request) => {
    const { subscriptionId } = request.params
    const report = await reconcile({ dryRun: false, ids: [subscriptionId] })
    if (report.checked === 0) throw new NotFoundError(`Paddle subscription ${subscriptionId}`)
    return { subscriptionId, drifted: report.drifted > 0, drift: report.subscriptions[0] ?? null }
  })
}
