import { transactionsTable } from '../db/schema.js'
import { tableStatements } from '../db/statements.js'
import type { ProjectedTransaction } from '../paddle/projection.js'
import { applyVersioned, required, rowStore, type ApplyContext, type ApplyResult, type StateOf } from './apply-context.js'
import { entityVersion } from './version.js'

export type TransactionRow = typeof transactionsTable.$inferSelect
export type TransactionState = StateOf<TransactionRow>

export const transactionStore = rowStore<TransactionRow>(tableStatements(transactionsTable))

export async function applyTransactionEvent (context: ApplyContext, payload: ProjectedTransaction): Promise<ApplyResult<TransactionState>> {
  const id = required(payload.id, 'id')
  const status = required(payload.status, 'status')
  const version = entityVersion(payload.updated_at, context.occurredAt, context.eventId)
  return await applyVersioned(context, transactionStore, version, id, (before) => {
    const customAccountId = payload.custom_data?.[context.accountIdKey] ?? null
    const totals = payload.totals
    return {
      id,
      status,
      origin: payload.origin,
      customerId: payload.customer_id,
      subscriptionId: payload.subscription_id,
      customAccountId,
      accountId: customAccountId ?? before?.accountId ?? null,
      invoiceNumber: payload.invoice_number,
      currencyCode: payload.currency_code,
      collectionMode: payload.collection_mode,
      subtotal: totals?.subtotal ?? null,
      discount: totals?.discount ?? null,
      tax: totals?.tax ?? null,
      total: totals?.total ?? null,
      grandTotal: totals?.grand_total ?? null,
      billingPeriodStartsAt: payload.billing_period?.starts_at ?? null,
      billingPeriodEndsAt: payload.billing_period?.ends_at ?? null,
      billedAt: payload.billed_at,
      revisedAt: payload.revised_at,
      payments: payload.payments.map((payment) => ({
        paymentAttemptId: payment.payment_attempt_id,
        status: payment.status,
        errorCode: payment.error_code,
        methodType: payment.method_type,
        amount: payment.amount,
        createdAt: payment.created_at,
        capturedAt: payment.captured_at,
      })),
      items: payload.items.map((item) => ({ priceId: item.price_id, productId: item.product_id, quantity: item.quantity })),
      // Required: account listings page through transactions by it.
      paddleCreatedAt: required(payload.created_at, 'created_at'),
      paddleUpdatedAt: payload.updated_at,
      version,
    }
  }, {
    needsRelink: (before, after) => before === null || before.customerId !== after.customerId ||
      before.subscriptionId !== after.subscriptionId || before.customAccountId !== after.customAccountId,
  })
}
