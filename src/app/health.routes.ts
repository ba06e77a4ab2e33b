import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'drizzle-orm'
import type { DatabaseHandle, RawStatement } from '../db/client.js'
import { findPendingMigrations } from '../db/migrate.js'

export interface ReadinessCheck {
  name: string
  /** Resolves to null when healthy, else a short reason. */
  check(): Promise<string | null>
}

export interface HealthRoutesOptions {
  /** Checks beyond the database and migrations, added by later features. */
  extraChecks?: ReadinessCheck[]
}

const CHECK_TIMEOUT_MS = 2_000

const OLDEST_PENDING: RawStatement = {
  name: 'health_oldest_pending',
  text: 'SELECT COALESCE(extract(epoch FROM now() - min(received_at)), 0)::float8 AS seconds FROM paddle_inbox WHERE status = \'pending\'',
}

/** Not ready while the oldest pending inbox row waits longer than `maxSeconds`: the workers are not keeping up. */
export function inboxLagCheck (database: DatabaseHandle, maxSeconds: number): ReadinessCheck {
  return {
    name: 'inbox_lag',
    check: async () => {
      const [row] = await database.query<{ seconds: number }>(OLDEST_PENDING, [])
      const seconds = Math.round(row?.seconds ?? 0)
      return seconds > maxSeconds ? `the oldest pending event has waited ${seconds} s (limit ${maxSeconds} s)` : null
    },
  }
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, options) => {
  const checks: ReadinessCheck[] = [
    {
      name: 'database',
      check: async () => {
        await app.database.db.execute(sql`SELECT 1`)
        return null
      },
    },
    {
      name: 'migrations',
      check: async () => {
        const pending = await findPendingMigrations(app.database)
        return pending.length === 0 ? null : `${pending.length} pending: ${pending.join(', ')}`
      },
    },
    ...(options.extraChecks ?? []),
  ]

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
    const results: Record<string, string> = {}
    let ready = true
    for (const { name, check } of checks) {
      const problem = await withTimeout(check(), CHECK_TIMEOUT_MS).catch((error: unknown) => {
        request.log.warn({ err: error, check: name }, 'readiness check failed')
        return 'unavailable'
      })
      results[name] = problem ?? 'ok'
      if (problem !== null) ready = false
    }
    return await reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: results })
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
