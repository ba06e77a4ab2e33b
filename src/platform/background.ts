/**
 * The loops that run beside (or without) the HTTP service: the inbox worker, and, as their features
 * arrive, the email-event dispatcher and the scheduled jobs. Each is restartable at any moment
 * without losing work; PostgreSQL is the only state they share.
 */
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import type { WakeSignal } from '../inbox/wake.js'
import { createInboxWorker, type InboxWorker } from '../inbox/worker.js'
import type { Config } from './config.js'

export interface BackgroundLoops {
  worker: InboxWorker
  start(): Promise<void>
  stop(): Promise<void>
}

export interface BackgroundDependencies {
  database: DatabaseHandle
  logger: Logger
  wake?: WakeSignal
}

export function createBackgroundLoops (config: Config, dependencies: BackgroundDependencies): BackgroundLoops {
  const worker = createInboxWorker({
    database: dependencies.database,
    logger: dependencies.logger.child({ component: 'worker' }),
    concurrency: config.WORKER_CONCURRENCY,
    maxAttempts: config.WORKER_MAX_ATTEMPTS,
    pollIntervalMs: config.WORKER_POLL_INTERVAL_MS,
    accountIdKey: config.ACCOUNT_ID_CUSTOM_DATA_KEY,
    ...(dependencies.wake === undefined ? {} : { wake: dependencies.wake }),
  })
  return {
    worker,
    async start () {
      await worker.start()
    },
    async stop () {
      await worker.stop()
    },
  }
}
