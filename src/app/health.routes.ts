import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'drizzle-orm'
import { readInboxLagSeconds } from '../admin/backlog.repository.js'
import type { DatabaseHandle } from '../db/client.js'
import { findPendingMigrations } from '../db/migrate.js'

export interface ReadinessCheck {
  name: string
  /** Resolves to null when healthy, else a short reason. */
  check(): Promise<string | null>
}

export interface HealthRoutesOptions {
  readiness: Readiness
}

/** GET /health/ready's checks, also read by the metrics at each scrape (billing_readiness_check). */
export interface Readiness {
  /** Runs every check, each bounded by a timeout; one that throws or times out is 'unavailable'. */
  evaluate(onError?: (check: string, error: unknown) => void): Promise<{ ready: boolean, checks: Record<string, string> }>
}

const CHECK_TIMEOUT_MS = 2_000

/** Not ready while the oldest pending inbox row waits longer than `maxSeconds`: the workers are not keeping up. */
export function inboxLagCheck (database: DatabaseHandle, maxSeconds: number): ReadinessCheck {
  return {
    name: 'inbox_lag',
    check: async () => {
      const seconds = Math.round(await readInboxLagSeconds(database))
      return seconds > maxSeconds ? `the oldest pending event has waited ${seconds} s (limit ${maxSeconds} s)` : null
    },
  }
}

/** The database answers and every migration is applied, plus `extraChecks` (added by later features). */
export function createReadiness (database: DatabaseHandle, extraChecks: ReadinessCheck[] = []): Readiness {
  const checks: ReadinessCheck[] = [
    {
      name: 'database',
      check: async () => {
        await database.db.execute(sql`SELECT 1`)
        return null
      },
    },
    {
      name: 'migrations',
      check: async () => {
        const pending = await findPendingMigrations(database)
        return pending.length === 0 ? null : `${pending.length} pending: ${pending.join(', ')}`
      },
    },
    ...extraChecks,
  ]
  return {
    async evaluate (onError) {
      const results: Record<string, string> = {}
      let ready = true
      for (const { name, check } of checks) {
        const problem = await withTimeout(check(), CHECK_TIMEOUT_MS).catch((error: unknown) => {
          onError?.(name, error)
          return 'unavailable'
        })
        results[name] = problem ?? 'ok'
        if (problem !== null) ready = false
      }
      return { ready, checks: results }
    },
  }
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, options) => {
  const statusSchema = {
    type: 'object',
    properties: {
      status: { type: 'string' },
      checks: { type: 'object', additionalProperties: { type: 'string' } },
    },
    required: ['status'],
  }

  // Probes come every few seconds: their lines are debug, not info (a failure is still logged as such).
  const config = { completedLogLevel: 'debug' } as const
  app.get('/live', { config, schema: { tags: ['health'], response: { 200: statusSchema } } }, async () => ({ status: 'ok' }))

  app.get('/ready', { config, schema: { tags: ['health'], response: { 200: statusSchema, 503: statusSchema } } }, async (request, reply) => {
    const { ready, checks } = await options.readiness.evaluate((check, error) => {
      request.log.warn({ err: error, check }, 'readiness check failed')
    })
    return await reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
  })
}

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
