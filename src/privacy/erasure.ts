/**
 * The right to erasure: a customer's name and email go from everywhere this service keeps them
 * (the customer row, the inbox payloads of customer events; email events never held them), while
 * ids, amounts, invoice numbers and dates stay for the accounting retention period. What is kept is
 * that, and when, an erasure happened, never what was erased.
 */
import type { DatabaseHandle, RawStatement } from '../db/client.js'
import { lockKey, lockKeys } from '../billing/locks.js'
import { canonicalTimestamp } from '../platform/timestamps.js'

// A customer not seen yet gets a row too: its events, when they come, then arrive already erased.
const ERASE_CUSTOMER: RawStatement = {
  name: 'privacy_erase_customer',
  text: `INSERT INTO customers (id, erased_at) VALUES ($1, now())
    ON CONFLICT (id) DO UPDATE SET name = NULL, email = NULL, erased_at = now(), row_updated_at = now()
    RETURNING erased_at`,
}

const ERASE_INBOX_PAYLOADS: RawStatement = {
  name: 'privacy_erase_inbox_payloads',
  text: `UPDATE paddle_inbox SET payload = payload - 'name' - 'email'
    WHERE customer_id = $1 AND entity_type = 'customer' AND payload IS NOT NULL AND (payload ? 'name' OR payload ? 'email')`,
}

const RECORD_ERASURE: RawStatement = {
  name: 'privacy_record_erasure',
  text: `INSERT INTO personal_data_erasures (customer_id) VALUES ($1)
    ON CONFLICT (customer_id) DO UPDATE SET last_erased_at = now(), requests = personal_data_erasures.requests + 1
    RETURNING first_erased_at, requests`,
}

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
    const [customer] = await tx.query<{ erased_at: string }>(ERASE_CUSTOMER, [customerId])
    await tx.query(ERASE_INBOX_PAYLOADS, [customerId])
    const [record] = await tx.query<{ first_erased_at: string, requests: number }>(RECORD_ERASURE, [customerId])
    return {
      customerId,
      firstErasedAt: canonicalTimestamp(record?.first_erased_at ?? ''),
      erasedAt: canonicalTimestamp(customer?.erased_at ?? ''),
      requests: record?.requests ?? 1,
    }
  })
}
