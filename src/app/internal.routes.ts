import type { FastifyPluginAsync } from 'fastify'
import { adminRoutes, type AdminRoutesOptions } from '../admin/admin.routes.js'
import { backfillRoutes } from '../admin/backfill.routes.js'
import { reconcileRoutes, type ReconcileRoutesOptions } from '../admin/reconcile.routes.js'
import { billingRoutes } from '../billing/billing.routes.js'
import { emailEventRoutes, outboxRoutes } from '../email-events/email-events.routes.js'
import { EntitlementChangedEvent } from '../entitlements/entitlement-event.schemas.js'
import { ENTITLEMENT_STREAM } from '../entitlements/entitlement-events.js'
import { entitlementRoutes, type EntitlementRoutesOptions } from '../entitlements/entitlements.routes.js'
import { privacyRoutes } from '../privacy/privacy.routes.js'
import { createBearerAuth } from '../platform/auth.js'
import type { Clock } from '../platform/clock.js'

export interface InternalRoutesOptions {
  tokens: readonly string[]
  entitlements: EntitlementRoutesOptions
  privacy: { clock: Clock }
  admin: AdminRoutesOptions
  reconcile: ReconcileRoutesOptions
}

/** Everything under /internal: for TrackSera's own services, behind a bearer token. */
export const internalRoutes: FastifyPluginAsync<InternalRoutesOptions> = async (app, options) => {
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, security: [{ bearer: [] }] }
  })
  app.addHook('onRequest', createBearerAuth(options.tokens))
  await app.register(billingRoutes)
  await app.register(entitlementRoutes, options.entitlements)
  await app.register(emailEventRoutes)
  await app.register(outboxRoutes, {
    stream: ENTITLEMENT_STREAM,
    path: '/entitlement-events',
    tag: 'entitlement events',
    event: EntitlementChangedEvent,
    schemas: [],
    noun: 'Entitlement event',
    feedDescription: 'Every change of an account\'s entitlement answer, in a stable order; resume where you stopped with the last ' +
      'nextCursor. Per account, apply the event with the highest data.sequence.',
  })
  await app.register(privacyRoutes, options.privacy)
  await app.register(adminRoutes, options.admin)
  await app.register(reconcileRoutes, options.reconcile)
  await app.register(backfillRoutes, options.reconcile)
}
