/**
 * Wakes for the moment time alone changes an answer, rather than polling: one process-local timer set
 * to the earliest due moment stored in entitlement_states (read at start and after each run), brought
 * forward when a process records an earlier one (NOTIFY billing_entitlement_due carries it, from this
 * process or another). Every process may run it: recordDueChanges emits each change once.
 * The timer never sleeps longer than maxSleepMs, so a NOTIFY lost while the LISTEN connection was away
 * delays a change by at most that much (a minute by default: one index probe per process per minute).
 */
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'
import { nowTimestamp, type Clock } from '../platform/clock.js'
import { createOutageLog } from '../platform/outage-log.js'
import type { EntitlementPolicy } from './decide.js'
import { earliestDueAt, ENTITLEMENT_DUE_CHANNEL, recordDueChanges } from './entitlement-events.js'

export interface EntitlementTimerOptions {
  database: DatabaseHandle
  logger: Logger
  policy: EntitlementPolicy
  clock: Clock
  /** Called after a run that emitted events (wakes the dispatcher). */
  onChanged?: (count: number) => void
  maxSleepMs?: number
}

export interface EntitlementTimer {
  start(): Promise<void>
  stop(): Promise<void>
  /** Evaluates every due account now; resolves to how many answers changed. */
  runOnce(): Promise<number>
  /** When the timer is set to fire next (epoch ms), or null when stopped. */
  armedFor(): number | null
}

const RETRY_MS = 5_000
/** Never faster than this: an account whose lock another process holds stays due for a moment. */
const MIN_SLEEP_MS = 250

export function createEntitlementTimer (options: EntitlementTimerOptions): EntitlementTimer {
  const { database, logger, clock } = options
  const maxSleepMs = options.maxSleepMs ?? 60_000
  const outage = createOutageLog(logger, 'entitlement timer')
  let running = false
  let timer: NodeJS.Timeout | undefined
  let firesAt: number | null = null
  let current: Promise<void> | undefined
  // Fired again while a run was in progress: run once more when it ends (it may have read too early).
  let again = false
  let unlisten: (() => Promise<void>) | undefined

  const arm = (at: number): void => {
    if (!running) return
    const now = clock()
    const fireAt = Math.min(Math.max(at, now + MIN_SLEEP_MS), now + maxSleepMs)
    if (firesAt !== null && firesAt <= fireAt) return
    clearTimeout(timer)
    firesAt = fireAt
    timer = setTimeout(fire, fireAt - now)
    timer.unref()
  }

  const fire = (): void => {
    firesAt = null
    timer = undefined
    if (current !== undefined) {
      again = true
      return
    }
    current = tick().finally(() => {
      current = undefined
      if (again) {
        again = false
        arm(clock())
      }
    })
  }

  async function runOnce (): Promise<number> {
    let changed = 0
    for (;;) {
      const result = await recordDueChanges(database, { policy: options.policy, now: nowTimestamp(clock) })
      changed += result.changed
      if (!result.more || result.evaluated === 0) break
    }
    if (changed > 0) options.onChanged?.(changed)
    return changed
  }

  async function tick (): Promise<void> {
    try {
      await runOnce()
      const next = await earliestDueAt(database)
      outage.succeeded()
      arm(next === null ? Number.POSITIVE_INFINITY : Date.parse(next))
    } catch (error) {
      outage.failed(error)
      arm(clock() + RETRY_MS)
    }
  }

  const onNotify = (payload?: string): void => {
    // (Re)listening: what was announced meanwhile is unknown; read the earliest again.
    if (payload === undefined || payload === '') {
      arm(clock())
      return
    }
    const at = Date.parse(payload)
    if (Number.isFinite(at)) arm(at)
  }

  return {
    runOnce,
    armedFor: () => firesAt,
    async start () {
      if (running) return
      running = true
      unlisten = await database.listen(ENTITLEMENT_DUE_CHANNEL, onNotify)
      arm(clock())
      logger.info('entitlement timer started')
    },
    async stop () {
      if (!running) return
      running = false
      clearTimeout(timer)
      firesAt = null
      await current
      await unlisten?.()
      unlisten = undefined
    },
  }
}
