/** Opens the database: PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise. */
import type { DatabaseHandle, DatabaseOptions } from './handle.js'
import { createPgliteDatabase } from './pglite.js'
import { createPostgresDatabase } from './postgres.js'

export type { Database, DatabaseHandle, DatabaseOptions, RawStatement, Transaction } from './handle.js'
export { selectRows } from './handle.js'
export { createPgliteHandle } from './pglite.js'

export async function createDatabase (options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.databaseUrl === undefined
    ? await createPgliteDatabase(options.pgliteDir ?? '.data/pglite', options.logger)
    : createPostgresDatabase({ ...options, databaseUrl: options.databaseUrl })
}
