/**
 * `npm run bench [-- intake burst processing backfill ...]`: builds the service, then measures it against PostgreSQL
 * in fresh databases on BENCH_DATABASE_URL's server (default: this machine's, postgres://postgres@127.0.0.1:5432).
 * BENCH_BURST_EVENTS and BENCH_PROCESSING_BACKLOG set the size of the burst (default 20,000) and of the
 * processing backlogs (default 50,000), to try them smaller.
 */
import pino from 'pino'
import { createDatabase } from '../src/db/client.js'
import { runMigrations } from '../src/db/migrate.js'
import { benchBackfill } from './backfill.js'
import { benchBurst } from './burst.js'
import { benchDispatch } from './dispatch.js'
import { benchEntitlement } from './entitlement.js'
import { benchIntake } from './intake.js'
import { benchHistory, benchProcessing } from './processing.js'
import { benchSqlBuilder } from './sql-builder.js'
import { createBenchDatabase, type BenchDatabase } from './support.js'

type Bench = (freshDatabase: () => Promise<BenchDatabase>) => Promise<void>

const BENCHES: Record<string, Bench> = {
  intake: async (freshDatabase) => {
    const database = await freshDatabase()
    try {
      await benchIntake({ databaseUrl: database.url, connections: 32, durationSeconds: 20 })
    } finally {
      await database.drop()
    }
  },
  burst: async (freshDatabase) => {
    const database = await freshDatabase()
    try {
      await benchBurst({ databaseUrl: database.url, events: positiveInteger('BENCH_BURST_EVENTS', 20_000), connections: 32, ceilingSeconds: 10 })
    } finally {
      await database.drop()
    }
  },
  processing: async (freshDatabase) => { await benchProcessing({ freshDatabase, backlog: positiveInteger('BENCH_PROCESSING_BACKLOG', 50_000), ceiling: { connections: 32, seconds: 10 } }) },
  history: async (freshDatabase) => { await benchHistory({ freshDatabase, backlog: 3_000 }) },
  dispatch: async (freshDatabase) => {
    await benchDispatch({ freshDatabase, backlog: 20_000, webhooksPerSecond: 200, durationSeconds: 20 })
  },
  backfill: async (freshDatabase) => { await benchBackfill({ freshDatabase, customers: 1500 }) },
  'sql-builder': async (freshDatabase) => {
    const database = await freshDatabase()
    try {
      await benchSqlBuilder({ databaseUrl: database.url, events: 20_000 })
    } finally {
      await database.drop()
    }
  },
  entitlement: async (freshDatabase) => {
    const database = await freshDatabase()
    try {
      await benchEntitlement({ databaseUrl: database.url, subscriptions: 100_000, connections: 32, durationSeconds: 20 })
    } finally {
      await database.drop()
    }
  },
}

/** A size from the environment (to try a benchmark smaller while working on it), or its default. */
function positiveInteger (name: string, fallback: number): number {
  const value = process.env[name]
  if (value === undefined || value === '') return fallback
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(value)}`)
  return parsed
}

async function main (): Promise<void> {
  const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('-'))
  const names = requested.length > 0 ? requested : Object.keys(BENCHES)
  const unknown = names.filter((name) => !(name in BENCHES))
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`)
  const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const freshDatabase = async (): Promise<BenchDatabase> => {
    const database = await createBenchDatabase(serverUrl)
    const handle = await createDatabase({ databaseUrl: database.url, logger: pino({ level: 'silent' }), poolMax: 2 })
    try {
      await runMigrations(handle, database.url)
    } finally {
      await handle.close()
    }
    return database
  }
  process.stdout.write(`node ${process.version}; database server ${new URL(serverUrl).host}\n`)
  for (const name of names) await BENCHES[name]?.(freshDatabase)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
