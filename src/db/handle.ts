/** What every repository sees of the database, whichever driver (pg or PGlite) is underneath. */
import type { SQL } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type { Logger } from 'pino'
import type * as schema from './schema.js'

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

// Raw statements return these as PostgreSQL's text, as drizzle does: no Date (loses microseconds), no bigint, no float for numeric.
export const TEXT_TYPES: ReadonlySet<number> = new Set([20, 1082, 1114, 1184, 1186, 1700])

/** A statement the hot paths send as-is; `name` makes PostgreSQL parse and plan it once per connection. */
export interface RawStatement { name: string, text: string }

/** One transaction: drizzle for the readable paths, named raw statements for the hot ones, on one connection. */
export interface Transaction {
  readonly db: Database
  query<Row>(statement: RawStatement, values: unknown[]): Promise<Row[]>
  /**
   * A write whose rows nobody reads: sent with the transaction's next query (or its commit) in one
   * round trip, and run before it. When it fails, that query fails with its error (and the
   * transaction rolls back): the work cannot go on past a deferred write that failed.
   */
  defer(statement: RawStatement, values: unknown[]): void
  /**
   * A read sent the same way: with the transaction's next query, after what was deferred before it
   * and before what is deferred after it, so it sees the transaction's data as it is at this point.
   * Its rows are there once that round trip has answered (asking for them sooner sends it).
   */
  deferRead<Row>(statement: RawStatement, values: unknown[]): DeferredRows<Row>
}

/** The rows of a deferred read. */
export interface DeferredRows<Row> {
  rows(): Promise<Row[]>
}

/** An identifier (a table's name) quoted for SQL text. */
export const quoteIdentifier = (identifier: string): string => `"${identifier.replace(/"/g, '""')}"`

export interface DatabaseHandle {
  readonly kind: 'postgres' | 'pglite'
  readonly db: Database
  /** Runs a raw statement: the hot paths' escape hatch from the query builder. */
  query<Row>(statement: RawStatement, values: unknown[]): Promise<Row[]>
  /** Runs `work` in a transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>
  /**
   * VACUUM one of our tables, its indexes one after another, and ANALYZE it unless `analyze` is false:
   * outside any transaction, as VACUUM must be.
   */
  vacuum(table: string, options?: { analyze?: boolean }): Promise<void>
  /** ANALYZE one of our tables. */
  analyze(table: string): Promise<void>
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

/** Rows of a query built with drizzle's `sql` template, whichever driver runs it. */
export async function selectRows<Row> (db: Database, query: SQL): Promise<Row[]> {
  const result = await db.execute(query)
  return (result as unknown as { rows: Row[] }).rows
}
