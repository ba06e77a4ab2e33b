// Process life cycle shared by the entry points: open the database, migrate, serve, shut down cleanly.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { createDatabase, type DatabaseHandle } from '../db/client.js'
import { runMigrations } from '../db/migrate.js'
import { createWakeSignal } from '../inbox/wake.js'
import { buildApp } from './app.js'
import { createBackgroundLoops } from './background.js'
import { ConfigError, type Config } from './config.js'
import { createLogger } from './logger.js'

export interface RunningService {
  app: FastifyInstance
  database: DatabaseHandle
  logger: Logger
  close(): Promise<void>
}

export async function openDatabase (config: Config, logger: Logger, applicationName: string): Promise<DatabaseHandle> {
  if (config.DATABASE_URL === undefined) {
    logger.warn({ pgliteDir: config.PGLITE_DIR },
      'DATABASE_URL is not set: using the embedded PGlite database, which is for development only, not for production')
  }
  const database = await createDatabase({
    databaseUrl: config.DATABASE_URL,
    pgliteDir: config.PGLITE_DIR,
    poolMax: config.DATABASE_POOL_MAX,
    applicationName,
    logger,
  })
  if (config.MIGRATE_ON_START) {
    await runMigrations(database, config.DATABASE_URL)
    logger.info('database migrations are up to date')
  }
  return database
}

export async function startService (config: Config): Promise<RunningService> {
  const logger = createLogger(config)
  const database = await openDatabase(config, logger, 'tracksera-billing')
  const wake = createWakeSignal(database, {
    onError: (error) => logger.debug({ err: error }, 'NOTIFY failed; workers will find the rows on their next poll'),
  })
  const app = await buildApp(config, { database, logger, onEventStored: () => wake.notify() })
  const loops = createBackgroundLoops(config, { database, logger, wake })
  await app.listen({ port: config.PORT, host: config.HOST })
  await loops.start()

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      // Stop accepting and finish the requests in flight; let the loops finish what they claimed;
      // then release the database.
      await app.close()
      logger.debug('http server closed')
      await loops.stop()
      wake.close()
      await database.close()
      logger.debug('database closed')
    })()
    await closing
  }
  return { app, database, logger, close }
}

/** `npm run worker`: the background loops alone, so that a deploy can scale intake and processing apart. */
export async function startWorkerProcess (config: Config): Promise<{ logger: Logger, close(): Promise<void> }> {
  const logger = createLogger(config)
  const database = await openDatabase(config, logger, 'tracksera-billing-worker')
  const loops = createBackgroundLoops(config, { database, logger })
  await loops.start()
  let closing: Promise<void> | undefined
  return {
    logger,
    close: async () => {
      closing ??= (async () => {
        await loops.stop()
        await database.close()
      })()
      await closing
    },
  }
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
