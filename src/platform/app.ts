import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import { createInboxWriter, type InboxWriter } from '../inbox/inbox-writer.js'
import { paddleWebhookRoutes } from '../inbox/inbox.routes.js'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import { handleError, handleNotFound } from './error-handler.js'
import { healthRoutes } from './health.routes.js'
import { createLogger, ServiceLogController } from './logger.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    database: DatabaseHandle
  }
}

export interface AppDependencies {
  database: DatabaseHandle
  logger?: Logger
  clock?: Clock
  inboxWriter?: InboxWriter
  /** Called whenever the intake stored a new event. */
  onEventStored?: () => void
}

/** The HTTP service, wired top to bottom. Listening, signals and the background loops live in runtime.ts. */
export async function buildApp (config: Config, dependencies: AppDependencies): Promise<FastifyInstance> {
  const { database, clock = systemClock } = dependencies
  const logger = dependencies.logger ?? createLogger(config)
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new ServiceLogController(),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Routes that need a larger body (the webhook) say so themselves.
    bodyLimit: 64 * 1024,
  })

  app.decorate('config', config)
  app.decorate('database', database)
  app.decorateRequest('logFields', null)
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(handleNotFound)

  const inboxWriter = dependencies.inboxWriter ?? createInboxWriter(database, { onStored: dependencies.onEventStored })

  await app.register(healthRoutes, { prefix: '/health' })
  await app.register(paddleWebhookRoutes, {
    prefix: '/webhooks/paddle',
    secrets: config.PADDLE_WEBHOOK_SECRETS,
    toleranceSeconds: config.PADDLE_WEBHOOK_TOLERANCE_SECONDS,
    bodyLimitBytes: config.WEBHOOK_BODY_LIMIT_BYTES,
    customDataKeys: [config.ACCOUNT_ID_CUSTOM_DATA_KEY],
    writer: inboxWriter,
    clock,
  })

  return app
}
