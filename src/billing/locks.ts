import type { Transaction } from '../db/client.js'

/**
 * Transaction-scoped advisory locks that serialise the work on one entity (and on one customer's
 * accounts) across every process sharing the database. Always taken in the order given, entity
 * first and customer second, and a customer lock is never followed by another lock: no cycles.
 * The worker takes the same keys in SQL when it claims a row (inbox/worker.ts, claimStatement).
 */
export function lockKey (kind: 'subscription' | 'transaction' | 'customer' | 'adjustment' | string, id: string): string {
  return `${kind}:${id}`
}

const LOCK_KEYS = {
  name: 'lock_keys',
  // A function scan over unnest yields the keys in array order, which is the order the locks must be taken in.
  text: 'SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM unnest($1::text[]) AS key',
}

export async function lockKeys (tx: Transaction, keys: string[]): Promise<void> {
  const unique = [...new Set(keys)]
  if (unique.length > 0) await tx.query(LOCK_KEYS, [unique])
}
