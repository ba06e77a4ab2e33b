import type { FastifyPluginAsync } from 'fastify'
import { createBearerAuth } from '../platform/auth.js'
import type { Metrics } from '../platform/metrics.js'

/** GET /metrics in Prometheus' text format; behind the internal bearer tokens unless `tokens` is null (its own port). */
export function metricsRoute (metrics: Metrics, tokens: readonly string[] | null): FastifyPluginAsync {
  return async (app) => {
    if (tokens !== null) app.addHook('onRequest', createBearerAuth(tokens))
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      const body = await metrics.registry.metrics()
      return await reply.type(metrics.registry.contentType).send(body)
    })
  }
}
