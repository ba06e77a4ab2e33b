/**
 * Start-up against a database that may not be there yet. A process starts, serves (not ready, and
 * 503 for webhooks) and keeps trying with backoff until the database answers and its schema is
 * current; only then do the background loops start. Nothing exits because PostgreSQL is late, or
 * restarting, or waiting for a deploy step to run its migrations.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { DatabaseHandle } from './client.js'
import { isConnectionError } from './connection-errors.js'
import { findPendingMigrations, runMigrations } from './migrate.js'
import { describeError } from '../platform/safe-error.js'

export interface DatabaseGate {
  /**
   * Resolves to true once the database answers with every migration applied, to false if the gate
   * was stopped first; rejects when `connectTimeoutSeconds` passed without an answer.
   */
  readonly ready: Promise<boolean>
  /** Migrations shipped with this build that the database lacks, as last seen (empty while unknown). */
  pendingMigrations(): readonly string[]
  stop(): void
}

export interface DatabaseGateOptions {
  /** Apply pending migrations (MIGRATE_ON_START); otherwise wait for a deploy step to apply them. */
  migrate: boolean
  databaseUrl: string | undefined
  logger: Logger
  /** Unset: keep trying for as long as it takes (containers are restarted by their platform anyway). */
  connectTimeoutSeconds?: number | undefined
  /** Longest pause between two tries while the database does not answer. */
  maxRetryDelayMs?: number
  /** Pause between two looks at the migrations while some are pending. */
  pendingRecheckMs?: number
}

export function openDatabaseGate (database: DatabaseHandle, options: DatabaseGateOptions): DatabaseGate {
  const { logger } = options
  const maxDelay = options.maxRetryDelayMs ?? 5_000
  const recheck = options.pendingRecheckMs ?? 1_000
  const stopper = new AbortController()
  let pending: readonly string[] = []

  async function pause (ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: stopper.signal })
      return true
    } catch {
      return false
    }
  }

  async function open (): Promise<boolean> {
    const startedAt = Date.now()
    let failures = 0
    let warnedPending = false
    while (!stopper.signal.aborted) {
      try {
        if (options.migrate) {
          await runMigrations(database, options.databaseUrl)
          logger.info('database migrations are up to date')
        }
        pending = await findPendingMigrations(database)
        if (pending.length === 0) {
          if (failures > 0) logger.info({ tries: failures + 1 }, 'database reachable')
          return true
        }
        if (!warnedPending) {
          // Said once: the state is clear and lasts until a deploy step runs the migrations.
          logger.warn({ pending }, `${pending.length} database migration(s) pending: webhooks get 503 and the worker waits until \`node dist/db/migrate.js\` has run`)
          warnedPending = true
        }
        if (!await pause(recheck)) return false
      } catch (error) {
        failures += 1
        const waitedSeconds = (Date.now() - startedAt) / 1000
        if (options.connectTimeoutSeconds !== undefined && waitedSeconds >= options.connectTimeoutSeconds) {
          throw new Error(`the database did not answer within DATABASE_CONNECT_TIMEOUT_SECONDS=${options.connectTimeoutSeconds} (${describeError(error).message})`)
        }
        const delay = Math.min(maxDelay, 250 * 2 ** (failures - 1))
        logger.warn({ attempt: failures, retry_in_ms: delay, err: error },
          isConnectionError(error) ? 'database not reachable yet; retrying' : 'database not usable yet; retrying')
        if (!await pause(delay)) return false
      }
    }
    return false
  }

  const ready = open()
  ready.catch(() => {})
  return {
    ready,
    pendingMigrations: () => pending,
    stop: () => stopper.abort(),
  }
}
