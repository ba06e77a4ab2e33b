import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import type { SQL } from 'drizzle-orm'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import pg from 'pg'
import type { Logger } from 'pino'
import * as schema from './schema.js'

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

// Raw statements return these as PostgreSQL's text, as drizzle does: no Date (loses microseconds), no bigint, no float for numeric.
const TEXT_TYPES = new Set([20, 1082, 1114, 1184, 1186, 1700])
const rawTypeParser = (typeId: number, format?: unknown) =>
  TEXT_TYPES.has(typeId) ? (value: string) => value : pg.types.getTypeParser(typeId, format as 'text')
const pgliteParsers = Object.fromEntries([...TEXT_TYPES].map((typeId) => [typeId, (value: string) => value]))

/** A statement the hot paths send as-is; `name` makes PostgreSQL parse and plan it once per connection. */
export interface RawStatement { name: string, text: string }

/** One transaction: drizzle for the readable paths, named raw statements for the hot ones, on one connection. */
export interface Transaction {
  readonly db: Database
  query<Row>(statement: RawStatement, values: unknown[]): Promise<Row[]>
}

export interface DatabaseHandle {
  readonly kind: 'postgres' | 'pglite'
  readonly db: Database
  /** Runs a raw statement: the hot paths' escape hatch from the query builder. */
  query<Row>(statement: RawStatement, values: unknown[]): Promise<Row[]>
  /** Runs `work` in a transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>
  /** VACUUM (ANALYZE) one of our tables: outside any transaction, as VACUUM must be. */
  vacuum(table: string): Promise<void>
  /**
   * Runs `work` only if no other session holds the advisory lock `key` (held on a connection of its
   * own for as long as `work` runs, which may call out without holding a transaction open).
   */
  withLock<T>(key: number, work: () => Promise<T>): Promise<{ ran: true, result: T } | { ran: false }>
  /**
   * Subscribes to a NOTIFY channel; resolves to an unsubscribe function. `onNotify` gets each
   * notification's payload, and no payload once listening starts or starts again after a lost
   * connection (notifications sent meanwhile are lost); `onLost` is called when the connection drops.
   */
  listen(channel: string, onNotify: (payload?: string) => void, onLost?: () => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

interface CheckedOutClient {
  client: pg.PoolClient
  /** Back to the pool, or destroyed if it failed while out (or `destroy` says so). */
  release(destroy?: boolean): void
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined
  pgliteDir?: string
  poolMax?: number
  /** Bounds each statement so that a sick database turns into an error, not a hung request. */
  statementTimeoutMs?: number
  connectionTimeoutMs?: number
  /**
   * Server-side bounds for this process's sessions, so that a frozen or partitioned process cannot
   * hold rows and locks that others wait on: PostgreSQL ends a session idle inside a transaction
   * for longer than this (its transaction rolls back, its locks are freed)...
   */
  idleInTransactionTimeoutMs?: number
  /** ...and a statement that waits this long for a lock fails instead of queueing behind it. */
  lockTimeoutMs?: number
  applicationName?: string
  logger: Logger
}

export async function createDatabase (options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.databaseUrl === undefined
    ? await createPgliteDatabase(options.pgliteDir ?? '.data/pglite', options.logger)
    : createPostgresDatabase({ ...options, databaseUrl: options.databaseUrl })
}

/** Rows of a query built with drizzle's `sql` template, whichever driver runs it. */
export async function selectRows<Row> (db: Database, query: SQL): Promise<Row[]> {
  const result = await db.execute(query)
  return (result as unknown as { rows: Row[] }).rows
}

function createPostgresDatabase (options: DatabaseOptions & { databaseUrl: string }): DatabaseHandle {
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
  const run = async <Row>(client: pg.Pool | pg.PoolClient, statement: RawStatement, values: unknown[]): Promise<Row[]> => {
    const result = await client.query({ name: statement.name, text: statement.text, values, types: { getTypeParser: rawTypeParser } })
    return result.rows as Row[]
  }

  return {
    kind: 'postgres',
    db,
    query: async (statement, values) => await run(pool, statement, values),
    async vacuum (table) {
      await pool.query(`VACUUM (ANALYZE) "${table.replace(/"/g, '""')}"`)
    },
    async withLock (key, work) {
      const { client, release } = await checkOut()
      try {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key])
        if (rows[0]?.locked !== true) return { ran: false }
        try {
          return { ran: true, result: await work() }
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [key])
        }
      } finally {
        release()
      }
    },
    async transaction (work) {
      const { client, release } = await checkOut()
      let broken = false
      try {
        await client.query('BEGIN')
        let transactionDb: Database | undefined
        const tx: Transaction = {
          // Built on first use only: most transactions (the worker's) need raw statements alone.
          get db () {
            transactionDb ??= drizzlePg({ client, schema }) as unknown as Database
            return transactionDb
          },
          query: async (statement, values) => await run(client, statement, values),
        }
        const result = await work(tx)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => { broken = true })
        throw error
      } finally {
        // A connection that could not even roll back is not given to anyone else.
        release(broken)
      }
    },
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

/**
 * A dedicated connection that LISTENs on one channel and reconnects when it drops. Reconnecting also
 * calls `onNotify`, since notifications sent while it was away are lost.
 */
class ChannelListener {
  private client: pg.Client | undefined
  private stopped = false
  private retryTimer: NodeJS.Timeout | undefined

  constructor (
    private readonly connection: pg.ClientConfig,
    private readonly channel: string,
    private readonly onNotify: (payload?: string) => void,
    private readonly logger: Logger,
    private readonly onLost?: () => void
  ) {}

  async start (): Promise<void> {
    try {
      await this.connect()
    } catch (error) {
      this.logger.warn({ err: error, channel: this.channel }, 'LISTEN connection failed; polling until it is back')
      this.scheduleReconnect()
    }
  }

  private async connect (): Promise<void> {
    const client = new pg.Client(this.connection)
    client.on('error', () => {}) // the 'end' handler below reconnects
    client.on('notification', (message) => this.onNotify(message.payload))
    client.on('end', () => {
      if (this.client === client) this.client = undefined
      if (!this.stopped) {
        this.onLost?.()
        this.scheduleReconnect()
      }
    })
    await client.connect()
    await client.query(`LISTEN "${this.channel}"`)
    if (this.stopped) {
      await client.end()
      return
    }
    this.client = client
    this.onNotify()
  }

  private scheduleReconnect (): void {
    if (this.stopped || this.retryTimer !== undefined) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.connect().catch(() => this.scheduleReconnect())
    }, 1_000)
    this.retryTimer.unref()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    const client = this.client
    this.client = undefined
    await client?.end().catch(() => {})
  }
}

async function createPgliteDatabase (dataDir: string, logger: Logger): Promise<DatabaseHandle> {
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
    async vacuum (table) {
      await client.exec(`VACUUM (ANALYZE) "${table.replace(/"/g, '""')}"`)
    },
    // One process, one session: nobody else can hold the lock; the job just runs.
    withLock: async (_key, work) => ({ ran: true, result: await work() }),
    async transaction (work) {
      return await client.transaction(async (pgliteTx) => {
        let transactionDb: Database | undefined
        return await work({
          // drizzle's PGlite driver only calls query(), which a PGlite transaction has.
          get db () {
            transactionDb ??= drizzlePglite({ client: pgliteTx as unknown as PGlite, schema }) as unknown as Database
            return transactionDb
          },
          query: async <Row>(statement: RawStatement, values: unknown[]) =>
            (await pgliteTx.query<Row>(statement.text, values, { parsers: pgliteParsers })).rows,
        })
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
