// Process life cycle shared by the entry points: open the database, migrate, serve, shut down cleanly.
import closeWithGrace from 'close-with-grace'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { DestinationStream, Logger } from 'pino'
import { createDatabase, type DatabaseHandle } from '../db/client.js'
import { openDatabaseGate, type DatabaseGate } from '../db/database-gate.js'
import { createWakeSignal } from '../db/wake-signal.js'
import { buildApp } from './app.js'
import { createBackgroundLoops } from './background.js'
import { ConfigError, type Config } from '../platform/config.js'
import { createLogger } from '../platform/logger.js'
import type { Metrics } from '../platform/metrics.js'
import type { Telemetry } from '../platform/telemetry.js'
import { createServiceMetrics } from './metrics.js'
import { metricsRoute } from './metrics.routes.js'

export interface RunningService {
  app: FastifyInstance
  database: DatabaseHandle
  logger: Logger
  /** Settles once the database is usable and the loops run; rejects if start-up gave up waiting. */
  started: Promise<void>
  close(): Promise<void>
}

/** Opens the pool (or the embedded database) without waiting for the server: see openDatabaseGate. */
export async function openDatabase (config: Config, logger: Logger, applicationName: string): Promise<DatabaseHandle> {
  if (config.DATABASE_URL === undefined) {
    logger.warn({ pgliteDir: config.PGLITE_DIR },
      'DATABASE_URL is not set: using the embedded PGlite database, which is for development only, not for production')
  }
  return await createDatabase({
    databaseUrl: config.DATABASE_URL,
    pgliteDir: config.PGLITE_DIR,
    poolMax: config.DATABASE_POOL_MAX,
    idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    lockTimeoutMs: config.DATABASE_LOCK_TIMEOUT_MS,
    applicationName,
    logger,
  })
}

function gateFor (config: Config, database: DatabaseHandle, logger: Logger): DatabaseGate {
  return openDatabaseGate(database, {
    migrate: config.MIGRATE_ON_START,
    databaseUrl: config.DATABASE_URL,
    logger,
    connectTimeoutSeconds: config.DATABASE_CONNECT_TIMEOUT_SECONDS,
  })
}

/**
 * The service: it listens at once, answering webhooks with 503 and readiness with not-ready until
 * the database answers with its schema current; the background loops start then. `started`
 * rejects only when DATABASE_CONNECT_TIMEOUT_SECONDS ran out.
 */
export async function startService (config: Config, options: { logDestination?: DestinationStream } = {}): Promise<RunningService> {
  const logger = createLogger(config, options.logDestination)
  const database = await openDatabase(config, logger, 'tracksera-billing')
  const gate = gateFor(config, database, logger)
  const metrics = createServiceMetrics(database)
  const wake = createWakeSignal(database, {
    onError: (error) => logger.debug({ err: error }, 'NOTIFY failed; workers will find the rows on their next poll'),
  })
  const loops = createBackgroundLoops(config, { database, logger, wake, metrics })
  // One reconciler for the scheduled run and the admin routes (null without PADDLE_API_KEY).
  const app = await buildApp(config, { database, logger, metrics, reconciler: loops.reconciler, schema: gate, onEventStored: () => wake.notify() })
  await app.listen({ port: config.PORT, host: config.HOST })
  const metricsServer = await startMetricsServer(config, metrics, logger)
  let closing: Promise<void> | undefined
  const started = gate.ready.then(async (usable) => {
    if (usable && closing === undefined) await loops.start()
  })
  started.catch(() => {})

  const close = async (): Promise<void> => {
    closing ??= (async () => {
      // Stop accepting and finish the requests in flight; let the loops finish what they claimed
      // (a delivery in flight is recorded, an event being applied commits or rolls back); then
      // release the database.
      gate.stop()
      await app.close()
      logger.debug('http server closed')
      await started.catch(() => {})
      await loops.stop()
      await metricsServer?.close()
      wake.close()
      await database.close()
      logger.debug('database closed')
    })()
    await closing
  }
  return { app, database, logger, started, close }
}

/** `npm run worker`: the background loops alone, so that a deploy can scale intake and processing apart. */
export async function startWorkerProcess (config: Config): Promise<{ logger: Logger, started: Promise<void>, close(): Promise<void> }> {
  const logger = createLogger(config)
  const database = await openDatabase(config, logger, 'tracksera-billing-worker')
  const gate = gateFor(config, database, logger)
  const metrics = createServiceMetrics(database)
  const loops = createBackgroundLoops(config, { database, logger, metrics })
  const metricsServer = await startMetricsServer(config, metrics, logger)
  // Nothing else may keep this process alive while the database is away: its timers are unref'd
  // and its sockets are gone. It lives until it is told to stop.
  const keepAlive = setInterval(() => {}, 60_000)
  let closing: Promise<void> | undefined
  const started = gate.ready.then(async (usable) => {
    if (!usable || closing !== undefined) return
    await loops.start()
    logger.info('worker process running')
  })
  started.catch(() => {})
  return {
    logger,
    started,
    close: async () => {
      closing ??= (async () => {
        gate.stop()
        await started.catch(() => {})
        await loops.stop()
        await metricsServer?.close()
        await database.close()
        clearInterval(keepAlive)
      })()
      await closing
    },
  }
}

/** With METRICS_PORT: /metrics (no token) and /health/live on a port of their own, for the scraper only. */
async function startMetricsServer (config: Config, metrics: Metrics, logger: Logger): Promise<FastifyInstance | null> {
  if (config.METRICS_PORT === undefined) return null
  const server = Fastify({
    loggerInstance: logger.child({ component: 'metrics' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  })
  await server.register(metricsRoute(metrics, null))
  server.get('/health/live', async () => ({ status: 'ok' }))
  await server.listen({ port: config.METRICS_PORT, host: config.HOST })
  return server
}

/** SIGTERM/SIGINT: close cleanly, then exit 0 (non-zero if closing fails or takes over 25 s). */
export function closeOnSignals (service: { close(): Promise<void>, logger: Logger }): void {
  closeWithGrace({ delay: 25_000, logger: service.logger }, async ({ signal, err }) => {
    if (err !== undefined) service.logger.error({ err }, 'fatal error, shutting down')
    else service.logger.info({ signal }, 'shutting down')
    await service.close()
    service.logger.info('shut down cleanly')
  })
}

/** The process closes its telemetry last, so that the spans of its shutdown are exported too. */
export function withTelemetry<T extends { close(): Promise<void>, logger: Logger }> (running: T, telemetry: Telemetry): T {
  const close = running.close.bind(running)
  return Object.assign(running, {
    close: async () => {
      await close()
      await telemetry.shutdown().catch((error: unknown) => running.logger.warn({ err: error }, 'spans not exported at shutdown'))
    },
  })
}

/** Runs an entry point: a configuration problem prints what is wrong and exits non-zero. */
export function runEntry (main: () => Promise<unknown>): void {
  main().catch((error: unknown) => {
    const message = error instanceof ConfigError
      ? error.message
      : `Start-up failed: ${error instanceof Error ? error.message : String(error)}`
    process.stderr.write(`${message}\n`)
    process.exit(error instanceof ConfigError ? 78 : 1)
  })
}
