/** Transactions and advisory locks on a checked-out pg client. */
import type pg from 'pg'
import type { Database, RawStatement, Transaction } from './handle.js'
import { createStatementQueue } from './deferred-statements.js'
import { runPipelined, type TypeParserFor } from './pipeline.js'

export interface CheckedOutClient {
  client: pg.PoolClient
  /** Back to the pool, or destroyed if it failed while out (or `destroy` says so). */
  release(destroy?: boolean): void
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

const BEGIN: RawStatement = { name: 'transaction_begin', text: 'BEGIN' }
const COMMIT: RawStatement = { name: 'transaction_commit', text: 'COMMIT' }

/**
 * Runs `work` in a transaction: committed if it resolves, rolled back if it throws.
 *
 * Statements the work defers (writes whose rows it does not read) are sent with its next query, or
 * with the COMMIT, in one round trip (pipeline.ts): PostgreSQL runs them in the order they were
 * made, so deferring changes when a statement is sent, never what the transaction does. The query
 * builder's client sends them first too. BEGIN itself is deferred: it travels with the first statement.
 */
export async function inTransaction<T> (
  checkOut: () => Promise<CheckedOutClient>,
  typeParser: TypeParserFor,
  buildDb: (client: pg.PoolClient) => Database,
  work: (tx: Transaction) => Promise<T>
): Promise<T> {
  const { client, release } = await checkOut()
  let broken = false
  const statements = createStatementQueue(async (calls) => await runPipelined(client, calls, typeParser))
  statements.defer(BEGIN, [])
  try {
    let transactionDb: Database | undefined
    const tx: Transaction = {
      get db () {
        transactionDb ??= buildDb(sendingDeferredFirst(client, statements.flush))
        return transactionDb
      },
      query: async <Row>(statement: RawStatement, values: unknown[]) => await statements.query(statement, values) as Row[],
      defer: statements.defer,
      deferRead: statements.deferRead,
    }
    const result = await work(tx)
    await statements.query(COMMIT, [])
    return result
  } catch (error) {
    // Nothing to roll back when not even BEGIN was sent.
    if (statements.sentAny()) await client.query('ROLLBACK').catch(() => { broken = true })
    throw error
  } finally {
    // A connection that could not even roll back is not given to anyone else.
    release(broken)
  }
}

/** The client as the query builder sees it: each of its queries sends the deferred statements first. */
function sendingDeferredFirst (client: pg.PoolClient, sendDeferred: () => Promise<void>): pg.PoolClient {
  return new Proxy(client, {
    get (target, property) {
      if (property !== 'query') return Reflect.get(target, property, target) as unknown
      return async (...args: Parameters<pg.ClientBase['query']>) => {
        await sendDeferred()
        return await (target.query as (...queryArgs: unknown[]) => Promise<unknown>)(...args)
      }
    },
  })
}
