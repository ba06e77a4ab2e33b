/**
 * Periodic jobs (trial-ending notices, retention, the Paddle catch-up). Every process may run the
 * scheduler; an advisory lock per job makes one of them do each run. Jobs are idempotent, so a run
 * repeated after a crash does no harm.
 */
import type { Logger } from 'pino'
import type { DatabaseHandle } from '../db/client.js'

export interface ScheduledJob {
  name: string
  /** Distinct advisory lock key per job. */
  lockKey: number
  intervalMs: number
  /** `stopping` is aborted when the process shuts down: a long job stops at its next safe point. */
  run(stopping: AbortSignal): Promise<void>
}

export interface Scheduler {
  start(): void
  stop(): Promise<void>
  /** Runs one job now (tests, operators); false when another process holds it. */
  runNow(name: string): Promise<boolean>
}

export function createScheduler (options: { database: DatabaseHandle, logger: Logger, jobs: ScheduledJob[] }): Scheduler {
  const { database, logger } = options
  const timers: NodeJS.Timeout[] = []
  const running = new Map<string, Promise<boolean>>()
  const stopping = new AbortController()

  async function runJob (job: ScheduledJob): Promise<boolean> {
    const inFlight = running.get(job.name)
    if (inFlight !== undefined) return await inFlight
    const attempt = (async () => {
      try {
        const outcome = await database.withLock(job.lockKey, async () => { await job.run(stopping.signal) })
        return outcome.ran
      } catch (error) {
        logger.warn({ err: error, job: job.name }, 'scheduled job failed; it runs again at its next interval')
        return false
      } finally {
        running.delete(job.name)
      }
    })()
    running.set(job.name, attempt)
    return await attempt
  }

  return {
    start () {
      for (const job of options.jobs) {
        const timer = setInterval(() => { runJob(job).catch(() => {}) }, job.intervalMs)
        timer.unref()
        timers.push(timer)
        // A first run soon after start, not a whole interval later.
        const first = setTimeout(() => { runJob(job).catch(() => {}) }, Math.min(job.intervalMs, 5_000))
        first.unref()
        timers.push(first)
      }
      logger.info({ jobs: options.jobs.map((job) => job.name) }, 'scheduler started')
    },
    async stop () {
      for (const timer of timers.splice(0)) clearTimeout(timer)
      stopping.abort()
      await Promise.all(running.values())
    },
    async runNow (name) {
      const job = options.jobs.find((candidate) => candidate.name === name)
      if (job === undefined) throw new Error(`no scheduled job named ${name}`)
      return await runJob(job)
    },
  }
}
