/** The embedded driver (development without DATABASE_URL, and tests that need no server). */
import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import type { Logger } from 'pino'
import { createStatementQueue } from './deferred-statements.js'
import { quoteIdentifier, TEXT_TYPES, type Database, type DatabaseHandle, type RawStatement } from './handle.js'
import * as schema from './schema.js'

const pgliteParsers = Object.fromEntries([...TEXT_TYPES].map((typeId) => [typeId, (value: string) => value]))

export async function createPgliteDatabase (dataDir: string, logger: Logger): Promise<DatabaseHandle> {
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true })
  const client = await PGlite.create(dataDir)
  await client.exec("SET TIME ZONE 'UTC'")
  logger.debug({ dataDir }, 'embedded PGlite database opened')
  return createPgliteHandle(client)
}

/** Wraps an open PGlite instance (tests use in-memory ones). */
export function createPgliteHandle (client: PGlite): DatabaseHandle {
  const db = drizzlePglite({ client, schema }) as unknown as Database
  return {
    kind: 'pglite',
    db,
    async query<Row>(statement: RawStatement, values: unknown[]) {
      const result = await client.query<Row>(statement.text, values, { parsers: pgliteParsers })
      return result.rows
    },
    async vacuum (table, options = {}) {
      await client.exec(`VACUUM${options.analyze === false ? '' : ' (ANALYZE)'} ${quoteIdentifier(table)}`)
    },
    async analyze (table) {
      await client.exec(`ANALYZE ${quoteIdentifier(table)}`)
    },
    // One process, one session: nobody else can hold the lock; the job just runs.
    withLock: async (_key, work) => ({ ran: true, result: await work() }),
    async transaction (work) {
      return await client.transaction(async (pgliteTx) => {
        // In process there is no round trip to save: deferred statements simply run before the next query.
        const statements = createStatementQueue(async (calls) => {
          const results: Array<Array<Record<string, unknown>>> = []
          for (const { statement, values } of calls) results.push((await pgliteTx.query<Record<string, unknown>>(statement.text, values, { parsers: pgliteParsers })).rows)
          return results
        })
        let transactionDb: Database | undefined
        const result = await work({
          // drizzle's PGlite driver only calls query(), which a PGlite transaction has.
          get db () {
            transactionDb ??= drizzlePglite({ client: runningDeferredFirst(pgliteTx, statements.flush) as unknown as PGlite, schema }) as unknown as Database
            return transactionDb
          },
          query: async <Row>(statement: RawStatement, values: unknown[]) => await statements.query(statement, values) as Row[],
          defer: statements.defer,
          deferRead: statements.deferRead,
        })
        await statements.flush()
        return result
      })
    },
    async listen (channel, onNotify) {
      const unsubscribe = await client.listen(channel, onNotify)
      // As a pg listener does once it listens (an in-process database never loses the connection).
      onNotify()
      return unsubscribe
    },
    async close () {
      if (!client.closed) await client.close()
    },
  }
}

type PgliteTransaction = Parameters<Parameters<PGlite['transaction']>[0]>[0]

/** The transaction as the query builder sees it: each of its queries runs the deferred statements first. */
function runningDeferredFirst (pgliteTx: PgliteTransaction, runDeferred: () => Promise<void>): PgliteTransaction {
  return {
    ...pgliteTx,
    query: async (...args: Parameters<PgliteTransaction['query']>) => {
      await runDeferred()
      return await pgliteTx.query(...args)
    },
  }
}
