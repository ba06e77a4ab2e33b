/** The PostgreSQL driver: a pg pool whose clients can fail at any moment without ending the process. */
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { ChannelListener } from './channel-listener.js'
import { quoteIdentifier, TEXT_TYPES, type Database, type DatabaseHandle, type DatabaseOptions, type RawStatement } from './handle.js'
import * as schema from './schema.js'
import { inTransaction, withAdvisoryLock, type CheckedOutClient } from './transactions.js'

const rawTypeParser = (typeId: number, format?: unknown) =>
  TEXT_TYPES.has(typeId) ? (value: string) => value : pg.types.getTypeParser(typeId, format as 'text')

export function createPostgresDatabase (options: DatabaseOptions & { databaseUrl: string }): DatabaseHandle {
  const { logger } = options
  const connection = {
    connectionString: options.databaseUrl,
    application_name: options.applicationName ?? 'tracksera-billing',
    // Every timestamp crosses the wire in UTC; see columns.ts.
    options: '-c TimeZone=UTC',
    statement_timeout: options.statementTimeoutMs ?? 15_000,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 10_000,
    lock_timeout: options.lockTimeoutMs ?? 5_000,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 3_000,
  }
  const pool = new pg.Pool({ ...connection, max: options.poolMax ?? 10, idleTimeoutMillis: 30_000 })
  // An idle client that loses its server emits here; without a listener the process would crash.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'))
  // And every client has a listener of its own from the moment it connects, so that no moment of
  // its life (being handed out, in use, being returned) leaves an 'error' event unheard: an
  // unheard 'error' event ends the process. What to do about the failure is decided where the
  // client is used (checkOut below, pg-pool's own query path).
  pool.on('connect', (client) => {
    client.on('error', (error) => logger.debug({ err: error }, 'database connection error'))
  })

  /**
   * Checks a client out with an `error` listener for as long as it is out: pg-pool listens only on
   * idle clients, and a checked-out client whose server goes away (terminated backend, restart,
   * network cut) would otherwise crash the process. The failed query rejects on its own; the
   * client is marked broken so that release() destroys it and the pool opens a new one.
   */
  async function checkOut (): Promise<CheckedOutClient> {
    const client = await pool.connect()
    let lost = false
    const onError = (error: Error): void => {
      lost = true
      logger.warn({ err: error }, 'database connection lost while in use; it will be replaced')
    }
    client.on('error', onError)
    return {
      client,
      release: (destroy = false) => {
        client.removeListener('error', onError)
        client.release(destroy || lost)
      },
    }
  }
  const db = drizzlePg({ client: pool, schema }) as unknown as Database
  const listeners = new Set<ChannelListener>()
  const run = async <Row>(client: pg.Pool, statement: RawStatement, values: unknown[]): Promise<Row[]> => {
    const result = await client.query({ name: statement.name, text: statement.text, values, types: { getTypeParser: rawTypeParser } })
    return result.rows as Row[]
  }

  return {
    kind: 'postgres',
    db,
    query: async (statement, values) => await run(pool, statement, values),
    // Without PARALLEL 0, PostgreSQL starts two workers to clean a table's indexes (any table with two
    // indexes of 512 kB or more: the inbox, the transactions), at twice the CPU for the same work. The
    // upkeep runs beside the worker's batches, which want that CPU: one VACUUM (ANALYZE) of a
    // 50,000-row inbox after 4,000 events cost the server 410-430 ms of CPU in parallel, 170-240 ms without.
    async vacuum (table, options = {}) {
      await pool.query(`VACUUM (${options.analyze === false ? '' : 'ANALYZE, '}PARALLEL 0) ${quoteIdentifier(table)}`)
    },
    async analyze (table) {
      await pool.query(`ANALYZE ${quoteIdentifier(table)}`)
    },
    withLock: async (key, work) => await withAdvisoryLock(checkOut, key, work),
    // The transaction's query builder is built on first use only: most transactions (the worker's) need raw statements alone.
    transaction: async (work) => await inTransaction(checkOut, rawTypeParser, (client) => drizzlePg({ client, schema }) as unknown as Database, work),
    async listen (channel, onNotify, onLost) {
      const listener = new ChannelListener(connection, channel, onNotify, logger, onLost)
      listeners.add(listener)
      await listener.start()
      return async () => {
        listeners.delete(listener)
        await listener.stop()
      }
    },
    async close () {
      await Promise.all([...listeners].map(async (listener) => await listener.stop()))
      await pool.end()
    },
  }
}
