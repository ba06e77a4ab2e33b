import type { Transaction } from '../db/client.js'

/**
 * Transaction-scoped advisory locks that serialise the work on one entity (and on one customer's
 * accounts) across every process sharing the database. All of a transaction's locks are taken in
 * one statement, in ascending order of their hashed keys, so no two transactions wait on each other
 * in a cycle. The worker takes the same keys in the same order when it claims rows (inbox/worker.ts, CLAIM).
 */
export function lockKey (kind: 'subscription' | 'transaction' | 'customer' | 'adjustment' | string, id: string): string {
  return `${kind}:${id}`
}

const LOCK_KEYS = {
  name: 'lock_keys_ordered',
  text: `SELECT count(pg_advisory_xact_lock(key)) AS locks
    FROM (SELECT DISTINCT hashtextextended(name, 0) AS key FROM unnest($1::text[]) AS name ORDER BY 1) AS ordered`,
}

export async function lockKeys (tx: Transaction, keys: string[]): Promise<void> {
  const unique = [...new Set(keys)]
  if (unique.length > 0) await tx.query(LOCK_KEYS, [unique])
}
