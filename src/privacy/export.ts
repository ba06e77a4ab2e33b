/**
 * The right of access and portability: everything this service holds about an account, as one JSON
 * document: its Paddle customers (with name and email), subscriptions, transactions, adjustments,
 * email events, and the erasures done.
 */
import type { Database } from '../db/client.js'
import { toSubscriptionResponse, toTransactionResponse } from '../billing/billing.serializers.js'
import type { SubscriptionResponse, TransactionResponse } from '../billing/billing.schemas.js'
import { readAccountRecords } from './privacy.repository.js'

export interface AccountExport {
  accountId: string
  exportedAt: string
  customers: Array<{ id: string, email: string | null, name: string | null, status: string | null, accountId: string | null, createdAt: string | null, updatedAt: string | null, erasedAt: string | null }>
  subscriptions: SubscriptionResponse[]
  transactions: TransactionResponse[]
  adjustments: Array<{ id: string, transactionId: string | null, subscriptionId: string | null, action: string, type: string | null, status: string, currencyCode: string | null, totals: { subtotal: string | null, tax: string | null, total: string | null }, createdAt: string | null, updatedAt: string | null }>
  emailEvents: Array<{ id: string, type: string, occurredAt: string, status: string, deliveredAt: string | null, subscriptionId: string | null, transactionId: string | null, data: Record<string, unknown> }>
  erasures: Array<{ customerId: string, firstErasedAt: string, lastErasedAt: string, requests: number }>
}

export async function exportAccount (db: Database, accountId: string, exportedAt: string): Promise<AccountExport> {
  const { subscriptions, transactions, customers, adjustments, emailEvents, erasures } = await readAccountRecords(db, accountId)

  return {
    accountId,
    exportedAt,
    customers: customers.map((row) => ({
      id: row.id,
      email: row.email,
      name: row.name,
      status: row.status,
      accountId: row.accountId,
      createdAt: row.paddleCreatedAt,
      updatedAt: row.paddleUpdatedAt,
      erasedAt: row.erasedAt,
    })),
    subscriptions: subscriptions.map(toSubscriptionResponse),
    transactions: transactions.map((row) => toTransactionResponse(row)),
    adjustments: adjustments.map((row) => ({
      id: row.id,
      transactionId: row.transactionId,
      subscriptionId: row.subscriptionId,
      action: row.action,
      type: row.type,
      status: row.status,
      currencyCode: row.currencyCode,
      totals: { subtotal: row.subtotal, tax: row.tax, total: row.total },
      createdAt: row.paddleCreatedAt,
      updatedAt: row.paddleUpdatedAt,
    })),
    emailEvents: emailEvents.map((row) => ({
      id: row.id,
      type: row.type,
      occurredAt: row.occurredAt,
      status: row.status,
      deliveredAt: row.deliveredAt,
      subscriptionId: row.subscriptionId,
      transactionId: row.transactionId,
      data: row.data,
    })),
    erasures: erasures.map((row) => ({
      customerId: row.customerId,
      firstErasedAt: row.firstErasedAt,
      lastErasedAt: row.lastErasedAt,
      requests: row.requests,
    })),
  }
}
