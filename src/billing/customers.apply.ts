import type { RawStatement } from '../db/client.js'
import { customersTable } from '../db/schema.js'
import { tableStatements } from '../db/statements.js'
import type { ProjectedCustomer } from '../paddle/projection.js'
import { applyVersioned, required, rowStore, type ApplyContext, type ApplyResult, type StateOf } from './apply-context.js'
import { entityVersion } from './version.js'

export type CustomerRow = typeof customersTable.$inferSelect
export type CustomerState = StateOf<CustomerRow>

// A manual link (PUT /internal/customers/:id/account) is never overwritten by a Paddle event.
export const customerStore = rowStore<CustomerRow>(tableStatements(customersTable, { keepOnUpdate: ['manualAccountId'] }))

export async function applyCustomerEvent (context: ApplyContext, payload: ProjectedCustomer): Promise<ApplyResult<CustomerState>> {
  const id = required(payload.id, 'id')
  const version = entityVersion(payload.updated_at, context.occurredAt, context.eventId)
  return await applyVersioned(context, customerStore, version, id, (before) => {
    const customAccountId = payload.custom_data?.[context.accountIdKey] ?? null
    const personal = personalDataAllowed(before?.erasedAt ?? null, payload.updated_at)
    return {
      id,
      email: personal ? payload.email : null,
      name: personal ? payload.name : null,
      status: payload.status,
      customAccountId,
      manualAccountId: before?.manualAccountId ?? null,
      // Resolved again by relinkCustomerAccounts in the same transaction.
      accountId: before?.manualAccountId ?? customAccountId ?? before?.accountId ?? null,
      paddleCreatedAt: payload.created_at,
      paddleUpdatedAt: payload.updated_at,
      version,
      erasedAt: before?.erasedAt ?? null,
    }
  }, {
    needsRelink: (before, after) => before === null || before.customAccountId !== after.customAccountId,
    whenLocked: async (stored) => {
      if (stored?.erasedAt != null) await context.tx.query(FORGET_IF_ERASED, [context.eventId, id])
    },
  })
}

/**
 * An event about an erased customer that carries data from before the erasure keeps no name or
 * email in the inbox either (see personalDataAllowed). Asked only when the locked row says the
 * customer was erased: the erasure takes the same row lock, so it cannot happen meanwhile.
 */
const FORGET_IF_ERASED: RawStatement = {
  name: 'inbox_forget_erased_customer',
  text: `UPDATE paddle_inbox i SET payload = i.payload - 'name' - 'email'
    FROM customers c
    WHERE i.event_id = $1 AND c.id = $2 AND c.erased_at IS NOT NULL AND i.payload IS NOT NULL
      AND (i.payload ? 'name' OR i.payload ? 'email')
      AND ((i.payload->>'updated_at') IS NULL OR (i.payload->>'updated_at')::timestamptz <= c.erased_at)`,
}

/**
 * After an erasure, name and email come back only with a customer Paddle changed after it (a newer
 * entity updated_at): an old event, a replay or a catch-up of the past never restores them.
 */
export function personalDataAllowed (erasedAt: string | null, updatedAt: string | null): boolean {
  return erasedAt === null || (updatedAt !== null && updatedAt > erasedAt)
}
