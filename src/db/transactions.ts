/** Transactions and advisory locks on a checked-out pg client. */
import type pg from 'pg'
import type { Database, RawStatement, Transaction } from './handle.js'

export interface CheckedOutClient {
  client: pg.PoolClient
  /** Back to the pool, or destroyed if it failed while out (or `destroy` says so). */
  release(destroy?: boolean): void
}

interface TransactionParts {
  db(): Database
  query<Row>(statement: RawStatement, values: unknown[]): Promise<Row[]>
}

/**
 * Runs `work` only if no other session holds the advisory lock `key` (held on a connection of its
 * own for as long as `work` runs, which may call out without holding a transaction open).
 */
export async function withAdvisoryLock<T> (checkOut: () => Promise<CheckedOutClient>, key: number, work: () => Promise<T>): Promise<{ ran: true, result: T } | { ran: false }> {
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
}

/** Runs `work` in a transaction: committed if it resolves, rolled back if it throws. */
export async function inTransaction<T> (checkOut: () => Promise<CheckedOutClient>, parts: (client: pg.PoolClient) => TransactionParts, work: (tx: Transaction) => Promise<T>): Promise<T> {
  const { client, release } = await checkOut()
  let broken = false
  try {
    await client.query('BEGIN')
    const { db, query } = parts(client)
    let transactionDb: Database | undefined
    const tx: Transaction = {
      get db () {
        transactionDb ??= db()
        return transactionDb
      },
      query,
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
}
