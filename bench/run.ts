/**
 * `npm run bench [-- intake ...]`: builds the service, then measures it against PostgreSQL in a fresh
 * database on BENCH_DATABASE_URL's server (default: this machine's, postgres://postgres@127.0.0.1:5432).
 */
import pino from 'pino'
import { createDatabase } from '../src/db/client.js'
import { runMigrations } from '../src/db/migrate.js'
import { benchIntake } from './intake.js'
import { createBenchDatabase } from './support.js'

const BENCHES: Record<string, (databaseUrl: string) => Promise<void>> = {
  intake: async (databaseUrl) => { await benchIntake({ databaseUrl, connections: 32, durationSeconds: 20 }) },
}

async function main (): Promise<void> {
  const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('-'))
  const names = requested.length > 0 ? requested : Object.keys(BENCHES)
  const unknown = names.filter((name) => !(name in BENCHES))
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`)
  const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  for (const name of names) {
    const database = await createBenchDatabase(serverUrl)
    try {
      const handle = await createDatabase({ databaseUrl: database.url, logger: pino({ level: 'silent' }), poolMax: 2 })
      await runMigrations(handle, database.url)
      await handle.close()
      await BENCHES[name]?.(database.url)
    } finally {
      await database.drop()
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
