import type { Logger } from 'pino'

/**
 * What a polling loop says while its database is away: one warning when the outage starts, debug
 * lines while it lasts, one line when it is over. Not one warning per poll and slot.
 */
export interface OutageLog {
  failed(error: unknown): void
  succeeded(): void
}

export function createOutageLog (logger: Logger, who: string): OutageLog {
  let down = false
  return {
    failed (error) {
      if (!down) logger.warn({ err: error }, `${who} could not reach the database; retrying on each poll`)
      else logger.debug({ err: error }, `${who} still cannot reach the database`)
      down = true
    },
    succeeded () {
      if (!down) return
      down = false
      logger.info(`${who} reached the database again`)
    },
  }
}
