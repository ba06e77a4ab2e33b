import { customersTable } from '../db/schema.js'
import { tableStatements } from '../db/statements.js'
import type { ProjectedCustomer } from '../paddle/projection.js'
import { applyVersioned, required, type ApplyContext, type ApplyResult, type StateOf } from './apply-context.js'
import { entityVersion } from './version.js'

export type CustomerRow = typeof customersTable.$inferSelect
export type CustomerState = StateOf<CustomerRow>

// A manual link (PUT /internal/customers/:id/account) is never overwritten by a Paddle event.
const statements = tableStatements(customersTable, { keepOnUpdate: ['manualAccountId'] })

export async function applyCustomerEvent (context: ApplyContext, payload: ProjectedCustomer): Promise<ApplyResult<CustomerState>> {
  const id = required(payload.id, 'id')
  const version = entityVersion(payload.updated_at, context.occurredAt, context.eventId)
  return await applyVersioned<CustomerRow>(context, statements, { id, version }, (before) => {
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
  }, (before, after) => before === null || before.customAccountId !== after.customAccountId)
}

/**
 * After an erasure, name and email come back only with a customer Paddle changed after it (a newer
 * entity updated_at): an old event, a replay or a catch-up of the past never restores them.
 */
export function personalDataAllowed (erasedAt: string | null, updatedAt: string | null): boolean {
  return erasedAt === null || (updatedAt !== null && updatedAt > erasedAt)
}
