/**
 * The right to erasure: a customer's name and email go from everywhere this service keeps them
 * (the customer row, the inbox payloads of customer events; email events never held them), while
 * ids, amounts, invoice numbers and dates stay for the accounting retention period. What is kept is
 * that, and when, an erasure happened, never what was erased.
 */
import type { DatabaseHandle } from '../db/client.js'
import { lockKey, lockKeys } from '../billing/locks.js'
import { eraseCustomerPersonalData } from './privacy.repository.js'

export interface ErasureResult {
  customerId: string
  /** When personal data was first erased on request. */
  firstErasedAt: string
  /** This request's time. */
  erasedAt: string
  /** How many requests so far (idempotent: a repeat erases nothing new and says so). */
  requests: number
}

export async function erasePersonalData (database: DatabaseHandle, customerId: string): Promise<ErasureResult> {
  return await database.transaction(async (tx) => {
    // The worker takes this lock to apply the customer's events: none is half-applied meanwhile.
    await lockKeys(tx, [lockKey('customer', customerId)])
    const { erasedAt, firstErasedAt, requests } = await eraseCustomerPersonalData(tx.db, customerId)
    return { customerId, firstErasedAt, erasedAt, requests }
  })
}
