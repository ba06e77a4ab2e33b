// runMigrations serves start-up, `npm run db:migrate`, the container's `node dist/db/migrate.js` and the tests.
import { readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { sql } from 'drizzle-orm'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import type { PgliteDatabase } from 'drizzle-orm/pglite'
import pg from 'pg'
import { createDatabase, selectRows, type DatabaseHandle } from './client.js'
import { ADVISORY_LOCK_KEYS } from './lock-keys.js'

/** `drizzle/` sits two levels above both src/db/migrate.ts and dist/db/migrate.js. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url))

export async function runMigrations (handle: DatabaseHandle, databaseUrl?: string): Promise<void> {
  if (handle.kind === 'pglite') {
    await migratePglite(handle.db as unknown as PgliteDatabase, { migrationsFolder: MIGRATIONS_FOLDER })
    return
  }
  if (databaseUrl === undefined) throw new Error('runMigrations needs the database URL to take the migration lock')
  // The advisory lock belongs to a session, so the lock and the migration share one dedicated client.
  const client = new pg.Client({ connectionString: databaseUrl, options: '-c TimeZone=UTC' })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEYS.migrations])
    await migratePg(drizzlePg({ client }), { migrationsFolder: MIGRATIONS_FOLDER })
  } finally {
    await client.end()
  }
}

interface JournalEntry { when: number, tag: string }

let journal: JournalEntry[] | undefined

/** The migrations shipped with this build; read once, since the files do not change under a running process. */
function readJournal (): JournalEntry[] {
  journal ??= (JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: JournalEntry[] }).entries
  return journal
}

/** Tags of the migrations shipped with this build that the database has not applied. */
export async function findPendingMigrations (handle: DatabaseHandle): Promise<string[]> {
  const entries = readJournal()
  const [table] = await selectRows<{ present: boolean }>(handle.db,
    sql`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present`)
  if (table?.present !== true) return entries.map((entry) => entry.tag)
  const [latest] = await selectRows<{ created_at: string | null }>(handle.db,
    sql`SELECT max(created_at)::text AS created_at FROM drizzle.__drizzle_migrations`)
  const appliedUntil = Number(latest?.created_at ?? 0)
  return entries.filter((entry) => entry.when > appliedUntil).map((entry) => entry.tag)
}

/** The database a migration run targets, for people: host, port and name of a URL (never its credentials), or PGlite's folder. */
export function describeDatabase (databaseUrl: string | undefined, pgliteDir: string): string {
  if (databaseUrl === undefined) return `the embedded PGlite database in ${pgliteDir}`
  const url = new URL(databaseUrl)
  // A Unix socket folder comes as ?host=/var/run/postgresql; libpq's defaults otherwise.
  const host = url.hostname !== '' ? decodeURIComponent(url.hostname) : url.searchParams.get('host') ?? 'localhost'
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''))
  return `database ${name === '' ? '(the default)' : `"${name}"`} on ${host}:${url.port === '' ? '5432' : url.port}`
}

/** `node dist/db/migrate.js`: says which database it migrates, then how many migrations it applied, or that none were pending. */
async function main (): Promise<void> {
  const { loadConfig } = await import('../platform/config.js')
  const { createLogger } = await import('../platform/logger.js')
  const config = loadConfig({ role: 'worker' })
  const logger = createLogger(config)
  const target = describeDatabase(config.DATABASE_URL, config.PGLITE_DIR)
  // Printed rather than logged: the report of a deploy step, whatever LOG_LEVEL says.
  process.stdout.write(`Migrating ${target}\n`)
  const handle = await createDatabase({ databaseUrl: config.DATABASE_URL, pgliteDir: config.PGLITE_DIR, poolMax: 2, logger })
  try {
    const pending = await findPendingMigrations(handle)
    await runMigrations(handle, config.DATABASE_URL)
    // What was pending and is not any more (a migrate step running alongside may have applied some of it).
    const left = new Set(await findPendingMigrations(handle))
    const applied = pending.filter((tag) => !left.has(tag))
    const latest = readJournal().at(-1)?.tag ?? '(none)'
    process.stdout.write(applied.length === 0
      ? `No migrations pending: ${target} is at ${latest}\n`
      : `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'} to ${target}: ${applied.join(', ')}\n`)
  } finally {
    await handle.close()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}
