import { randomUUID } from 'node:crypto'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { consoleRoutes } from '../console/console.routes.js'
import type { DatabaseHandle } from '../db/client.js'
import { createEntitlementCache, type EntitlementCache } from '../entitlements/entitlement-cache.js'
import { createInboxWriter, type InboxWriter } from '../intake/inbox-writer.js'
import { paddleWebhookRoutes } from '../intake/inbox.routes.js'
import type { Reconciler } from '../reconcile/reconciler.js'
import { systemClock, type Clock } from '../platform/clock.js'
import type { Config } from '../platform/config.js'
import { handleError, handleNotFound } from '../platform/error-handler.js'
import { createReadiness, healthRoutes, inboxLagCheck } from './health.routes.js'
import { internalRoutes } from './internal.routes.js'
import { createLogger, ServiceLogController } from '../platform/logger.js'
import type { Metrics } from '../platform/metrics.js'
import { createServiceMetrics } from './metrics.js'
import { metricsRoute } from './metrics.routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    database: DatabaseHandle
    entitlementCache: EntitlementCache
  }
}

export interface AppDependencies {
  database: DatabaseHandle
  logger?: Logger
  clock?: Clock
  inboxWriter?: InboxWriter
  /** Called whenever the intake stored a new event (or an operator redrove one): wakes the workers. */
  onEventStored?: () => void
  /** Shared with the background loops of the same process; made here when absent. */
  metrics?: Metrics
  /** The background loops' reconciler, for the admin routes (absent or null: reconciliation is off). */
  reconciler?: Reconciler | null
  /** Migrations the database still lacks (runtime.ts's database gate): webhooks get 503 meanwhile. */
  schema?: { pendingMigrations(): readonly string[] }
}

/** A caller's request id is kept only when it is short and plain; otherwise a fresh one is used. */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The HTTP service, wired top to bottom. Listening, signals and the background loops live in runtime.ts. */
export async function buildApp (config: Config, dependencies: AppDependencies): Promise<FastifyInstance> {
  const { database, clock = systemClock } = dependencies
  const logger = dependencies.logger ?? createLogger(config)
  const metrics = dependencies.metrics ?? createServiceMetrics(database)
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new ServiceLogController(),
    // x-request-id is read in genReqId, where it can be checked: any caller may send one, and it
    // becomes every log line's reqId.
    requestIdHeader: false,
    genReqId: (request) => {
      const sent = request.headers['x-request-id']
      return typeof sent === 'string' && ACCEPTED_REQUEST_ID.test(sent) ? sent : randomUUID()
    },
    // A slow client cannot hold a connection: headers and body must arrive within the request
    // timeout (Node checks every connectionsCheckingInterval), idle keep-alive connections close,
    // and the number of open connections is capped below (maxConnections).
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: Math.min(config.HTTP_REQUEST_TIMEOUT_MS, 60_000),
      connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(config.HTTP_REQUEST_TIMEOUT_MS / 6))),
    },
    // Routes that need a larger body (the webhook) say so themselves.
    bodyLimit: 64 * 1024,
    // Account ids may be 128 characters long (see schemas.ts); the default limit is 100.
    routerOptions: { maxParamLength: 256 },
    // additionalProperties: false means "refuse", not "silently drop" (Fastify's default).
    ajv: { customOptions: { removeAdditional: false } },
  })

  app.server.maxConnections = config.HTTP_MAX_CONNECTIONS
  // Entitlement decision inputs in memory, invalidated through LISTEN/NOTIFY (see entitlement-cache.ts).
  const entitlementCache = createEntitlementCache({
    database,
    logger: logger.child({ component: 'entitlement-cache' }),
    maxEntries: config.ENTITLEMENT_CACHE_MAX_ENTRIES,
  })
  await entitlementCache.start()
  app.addHook('onClose', async () => { await entitlementCache.stop() })

  app.decorate('config', config)
  app.decorate('database', database)
  app.decorate('entitlementCache', entitlementCache)
  app.decorateRequest('logFields', null)
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(handleNotFound)

  // On close, requests in flight still finish, but their keep-alive connections must not outlive
  // them: Node closes only the connections idle at the moment of close, and a client that keeps the
  // others open would hold shutdown until the keep-alive timeout.
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest(request.method, request.routeOptions.url ?? 'unknown', reply.statusCode, reply.elapsedTime / 1000)
  })

  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })

  const inboxWriter = dependencies.inboxWriter ?? createInboxWriter(database, { onStored: dependencies.onEventStored })

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'TrackSera billing service',
        version: '1',
        description: 'Paddle Billing webhooks in; subscription state, entitlements and email events out.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [],
    },
    // Shared schemas keep their own names as components (EmailEvent.payment.failed...).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, index) => typeof json.$id === 'string' ? json.$id : `def-${index}` },
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  // The same document in Swagger UI; its Authorize button takes a bearer token for /internal.
  await app.register(swaggerUi, { routePrefix: '/docs' })

  const readiness = createReadiness(database, config.READY_MAX_INBOX_LAG_SECONDS === 0 ? [] : [inboxLagCheck(database, config.READY_MAX_INBOX_LAG_SECONDS)])
  await app.register(healthRoutes, { prefix: '/health', readiness })
  // The same checks at each scrape, as billing_readiness_check (the route logs why a check threw; a scrape does not).
  metrics.readinessSource(async () => {
    const { checks } = await readiness.evaluate()
    return Object.fromEntries(Object.entries(checks).map(([name, result]) => [name, result === 'ok']))
  })
  // With METRICS_PORT the metrics have a port of their own (see runtime.ts); here they need a token.
  if (config.METRICS_PORT === undefined) await app.register(metricsRoute(metrics, config.INTERNAL_API_TOKENS))
  await app.register(paddleWebhookRoutes, {
    prefix: '/webhooks/paddle',
    secrets: config.PADDLE_WEBHOOK_SECRETS,
    toleranceSeconds: config.PADDLE_WEBHOOK_TOLERANCE_SECONDS,
    bodyLimitBytes: config.WEBHOOK_BODY_LIMIT_BYTES,
    customDataKeys: [config.ACCOUNT_ID_CUSTOM_DATA_KEY],
    writer: inboxWriter,
    clock,
    ...(dependencies.schema === undefined ? {} : { schema: dependencies.schema }),
    onVerificationFailed: (reason) => metrics.verificationFailed(reason),
    onReceived: (eventType, outcome, secretIndex) => metrics.webhookReceived(eventType, outcome, secretIndex),
  })
  const entitlementPolicy = {
    pastDueGraceDays: config.PAST_DUE_GRACE_DAYS,
    pausedAccess: config.PAUSED_ACCESS,
    trialAccess: config.TRIAL_ACCESS,
  }
  await app.register(internalRoutes, {
    prefix: '/internal',
    tokens: config.INTERNAL_API_TOKENS,
    privacy: { clock },
    admin: { ...(dependencies.onEventStored === undefined ? {} : { onRedrive: dependencies.onEventStored }) },
    reconcile: {
      reconciler: dependencies.reconciler ?? null,
    },
    entitlements: {
      clock,
      cache: entitlementCache,
      onAnswer: (access) => metrics.entitlementAnswered(access),
      policy: entitlementPolicy,
    },
  })
  if (config.CONSOLE_ENABLED) {
    await app.register(consoleRoutes, {
      prefix: '/console',
      tokens: config.INTERNAL_API_TOKENS,
      sessionSecret: config.CONSOLE_SESSION_SECRET,
      sessionTtlMinutes: config.CONSOLE_SESSION_TTL_MINUTES,
      publicOrigin: config.CONSOLE_PUBLIC_ORIGIN,
      clock,
      policy: entitlementPolicy,
      ...(dependencies.onEventStored === undefined ? {} : { onRedrive: dependencies.onEventStored }),
    })
  }

  return app
}
