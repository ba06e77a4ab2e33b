import { adjustmentsTable } from '../db/schema.js'
import { tableStatements } from '../db/statements.js'
import type { ProjectedAdjustment } from '../paddle/projection.js'
import { applyVersioned, required, rowStore, type ApplyContext, type ApplyResult, type StateOf } from './apply-context.js'
import { entityVersion } from './version.js'

export type AdjustmentRow = typeof adjustmentsTable.$inferSelect
export type AdjustmentState = StateOf<AdjustmentRow>

export const adjustmentStore = rowStore<AdjustmentRow>(tableStatements(adjustmentsTable))

export async function applyAdjustmentEvent (context: ApplyContext, payload: ProjectedAdjustment): Promise<ApplyResult<AdjustmentState>> {
  const id = required(payload.id, 'id')
  const version = entityVersion(payload.updated_at, context.occurredAt, context.eventId)
  return await applyVersioned(context, adjustmentStore, version, id, () => ({
    id,
    transactionId: payload.transaction_id,
    subscriptionId: payload.subscription_id,
    customerId: payload.customer_id,
    action: required(payload.action, 'action'),
    type: payload.type,
    status: required(payload.status, 'status'),
    currencyCode: payload.currency_code,
    subtotal: payload.totals?.subtotal ?? null,
    tax: payload.totals?.tax ?? null,
    total: payload.totals?.total ?? null,
    creditAppliedToBalance: payload.credit_applied_to_balance,
    paddleCreatedAt: payload.created_at,
    paddleUpdatedAt: payload.updated_at,
    version,
  }), { needsRelink: () => false })
}
