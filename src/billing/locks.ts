import type { Transaction } from '../db/client.js'

/**
 * Transaction-scoped advisory locks that serialise the work on one entity (and on one customer's
 * accounts) across every process sharing the database. All of a transaction's locks are taken in
 * one statement, in ascending order of their hashed keys, so no two transactions wait on each other
 * in a cycle. The worker takes the same keys in the same order when it claims rows (processing/worker.ts, CLAIM).
 */
export function lockKey (kind: 'subscription' | 'transaction' | 'customer' | 'adjustment' | string, id: string): string {
  return `${kind}:${id}`
}

/** SQL for lockKey(kind, <the text expression>). */
export function lockKeySql (kind: string, idExpression: string): string {
  return `'${kind}:' || ${idExpression}`
}

/** SQL for the 64-bit advisory lock number of a lock key expression (as lockKey() spells it). */
export function lockHash (keyExpression: string): string {
  return `hashtextextended(${keyExpression}, 0)`
}

/**
 * SQL that takes the locks for the lock keys (as lockKey() spells them) yielded by `keysQuery`, a
 * query with one text column; NULL keys are skipped. The one place that decides the order.
 */
export function takeLocksInOrder (keysQuery: string): string {
  return `SELECT count(pg_advisory_xact_lock(hash)) AS locks
    FROM (SELECT DISTINCT ${lockHash('keys.key')} AS hash FROM (${keysQuery}) AS keys (key)
      WHERE keys.key IS NOT NULL ORDER BY 1) AS ordered`
}

const LOCK_KEYS = {
  name: 'lock_keys_ordered',
  text: takeLocksInOrder('SELECT unnest($1::text[])'),
}

export async function lockKeys (tx: Pick<Transaction, 'query'>, keys: string[]): Promise<void> {
  const unique = [...new Set(keys)]
  if (unique.length > 0) await tx.query(LOCK_KEYS, [unique])
}

/** The same locks, taken when the transaction's next statement is sent, in its round trip (Transaction.defer): whatever it reads is read under them. */
export function deferLockKeys (tx: Pick<Transaction, 'defer'>, keys: string[]): void {
  const unique = [...new Set(keys)]
  if (unique.length > 0) tx.defer(LOCK_KEYS, [unique])
}
