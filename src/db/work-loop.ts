/**
 * The loop every background consumer of a table runs (the inbox worker, the email event dispatcher):
 * work while there is work, then sleep until woken: by a NOTIFY on its channel (another process
 * stored rows), by a local wake signal (this process did), by its poll interval (retries falling
 * due, a NOTIFY missed while the connection was away), or by its owner. A failing round (the
 * database is away) is said once through the outage log, and the loop waits for the next wake-up.
 */
import type { Logger } from 'pino'
import { createOutageLog } from '../platform/outage-log.js'
import type { DatabaseHandle } from './client.js'
import type { WakeSignal } from './wake-signal.js'

export interface WorkLoopOptions {
  /** Names the loop in the outage log ("inbox worker"). */
  name: string
  database: DatabaseHandle
  logger: Logger
  /** The NOTIFY channel that says there may be work. */
  channel: string
  pollIntervalMs: number
  /** In-process wake-ups. */
  wake?: WakeSignal
  /** Rounds running at once; they share the wake-ups. */
  slots: number
  /** One round of work: true when it found some (the slot goes on at once). */
  work: () => Promise<boolean>
}

export interface WorkLoop {
  start(): Promise<void>
  /** Stops after the rounds in progress; resolves when they have ended and the channel is let go. */
  stop(): Promise<void>
  /** Wakes every sleeping slot (the next sleep returns at once if none is sleeping). */
  wake(): void
}

export function createWorkLoop (options: WorkLoopOptions): WorkLoop {
  const outage = createOutageLog(options.logger, options.name)
  let running = false
  let waiters: Array<() => void> = []
  let wakeRequested = false
  let timer: NodeJS.Timeout | undefined
  let unlisten: (() => Promise<void>) | undefined
  let unsubscribe: (() => void) | undefined
  const slots: Array<Promise<void>> = []

  const wake = (): void => {
    wakeRequested = true
    const sleeping = waiters
    waiters = []
    for (const resolve of sleeping) resolve()
  }

  async function sleep (): Promise<void> {
    if (!wakeRequested) await new Promise<void>((resolve) => waiters.push(resolve))
    wakeRequested = false
  }

  async function slot (): Promise<void> {
    for (;;) {
      if (!running) return
      let worked = false
      try {
        worked = await options.work()
        outage.succeeded()
      } catch (error) {
        outage.failed(error)
      }
      if (!worked && running) await sleep()
    }
  }

  return {
    wake,
    async start () {
      if (running) return
      running = true
      unsubscribe = options.wake?.subscribe(wake)
      unlisten = await options.database.listen(options.channel, wake)
      timer = setInterval(wake, options.pollIntervalMs)
      timer.unref()
      for (let index = 0; index < options.slots; index += 1) slots.push(slot())
    },
    async stop () {
      if (!running) return
      running = false
      clearInterval(timer)
      unsubscribe?.()
      wake()
      await Promise.all(slots.splice(0))
      await unlisten?.()
    },
  }
}
