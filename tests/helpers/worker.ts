import { createBackgroundLoops, type BackgroundLoops } from '#src/app/background.js'
import type { Config } from '#src/platform/config.js'
import type { DatabaseHandle } from '#src/db/client.js'
import type { Clock } from '#src/platform/clock.js'
import { silentLogger } from './app.js'

/** The background loops of a test app, not started: tests drive the worker with drain(). */
export function createTestLoops (config: Config, database: DatabaseHandle, logger = silentLogger, clock?: Clock): BackgroundLoops {
  return createBackgroundLoops(config, { database, logger, ...(clock === undefined ? {} : { clock }) })
}
