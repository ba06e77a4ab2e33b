// State rows as the internal API shows them (camelCase, nested, nothing internal such as versions).
import type { Static } from '@sinclair/typebox'
import type { Customer } from './billing.schemas.js'
import type { SubscriptionResponse, TransactionResponse } from './billing.schemas.js'
import type { CustomerState } from './customers.apply.js'
import type { SubscriptionState } from './subscriptions.apply.js'
import type { TransactionState } from './transactions.apply.js'

export function period (startsAt: string | null, endsAt: string | null): { startsAt: string, endsAt: string } | null {
  return startsAt === null || endsAt === null ? null : { startsAt, endsAt }
}

export function toSubscriptionResponse (state: SubscriptionState): SubscriptionResponse {
  return {
    id: state.id,
    status: state.status,
    customerId: state.customerId,
    accountId: state.accountId,
    items: state.items.map((item) => ({ priceId: item.priceId, productId: item.productId, quantity: item.quantity, status: item.status })),
    currencyCode: state.currencyCode,
    billingCycle: state.billingInterval === null || state.billingFrequency === null
      ? null
      : { interval: state.billingInterval, frequency: state.billingFrequency },
    currentBillingPeriod: period(state.currentPeriodStartsAt, state.currentPeriodEndsAt),
    nextBilledAt: state.nextBilledAt,
    startedAt: state.startedAt,
    firstBilledAt: state.firstBilledAt,
    pausedAt: state.pausedAt,
    canceledAt: state.canceledAt,
    scheduledChange: state.scheduledChangeAction === null
      ? null
      : { action: state.scheduledChangeAction, effectiveAt: state.scheduledChangeEffectiveAt, resumeAt: state.scheduledChangeResumeAt },
    trialEndsAt: state.trialEndsAt,
    updatedAt: state.paddleUpdatedAt,
  }
}

export function toCustomerResponse (customer: CustomerState, subscriptions: SubscriptionState[]): Static<typeof Customer> {
  return {
    id: customer.id,
    accountId: customer.accountId,
    email: customer.email,
    name: customer.name,
    status: customer.status,
    subscriptions: subscriptions.map(toSubscriptionResponse),
  }
}

export function toTransactionResponse (state: TransactionState): TransactionResponse {
  return {
    id: state.id,
    status: state.status,
    origin: state.origin,
    customerId: state.customerId,
    subscriptionId: state.subscriptionId,
    accountId: state.accountId,
    invoiceNumber: state.invoiceNumber,
    currencyCode: state.currencyCode,
    totals: { subtotal: state.subtotal, discount: state.discount, tax: state.tax, total: state.total, grandTotal: state.grandTotal },
    billingPeriod: period(state.billingPeriodStartsAt, state.billingPeriodEndsAt),
    billedAt: state.billedAt,
    createdAt: state.paddleCreatedAt,
    updatedAt: state.paddleUpdatedAt,
    payments: state.payments.map((payment) => ({
      status: payment.status,
      methodType: payment.methodType,
      createdAt: payment.createdAt,
      capturedAt: payment.capturedAt,
    })),
  }
}
