import { Type, type Static } from '@sinclair/typebox'
import { MinorUnits, Nullable, NullableTimestamp, Timestamp } from '../platform/schemas.js'

export const BillingPeriod = Nullable(Type.Object({ startsAt: Timestamp, endsAt: Timestamp }))

export const SubscriptionItem = Type.Object({
  priceId: Type.String(),
  productId: Nullable(Type.String()),
  quantity: Type.Integer(),
  status: Nullable(Type.String()),
})

export const Subscription = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'active, trialing, past_due, paused or canceled' }),
  customerId: Nullable(Type.String()),
  accountId: Nullable(Type.String()),
  items: Type.Array(SubscriptionItem),
  currencyCode: Nullable(Type.String()),
  billingCycle: Nullable(Type.Object({ interval: Type.String(), frequency: Type.Integer() })),
  currentBillingPeriod: BillingPeriod,
  nextBilledAt: NullableTimestamp,
  startedAt: NullableTimestamp,
  firstBilledAt: NullableTimestamp,
  pausedAt: NullableTimestamp,
  canceledAt: NullableTimestamp,
  scheduledChange: Nullable(Type.Object({
    action: Type.String({ description: 'cancel, pause or resume' }),
    effectiveAt: NullableTimestamp,
    resumeAt: NullableTimestamp,
  })),
  trialEndsAt: NullableTimestamp,
  updatedAt: NullableTimestamp,
}, { description: 'A Paddle subscription as this service last applied it' })
export type SubscriptionResponse = Static<typeof Subscription>

export const Customer = Type.Object({
  id: Type.String(),
  accountId: Nullable(Type.String()),
  email: Nullable(Type.String({ description: 'Personal data' })),
  name: Nullable(Type.String({ description: 'Personal data' })),
  status: Nullable(Type.String()),
  subscriptions: Type.Array(Subscription),
})

export const Payment = Type.Object({
  status: Nullable(Type.String()),
  methodType: Nullable(Type.String({ description: 'card, paypal...: the type alone; no card details are stored' })),
  createdAt: NullableTimestamp,
  capturedAt: NullableTimestamp,
})

export const Transaction = Type.Object({
  id: Type.String(),
  status: Type.String(),
  origin: Nullable(Type.String()),
  customerId: Nullable(Type.String()),
  subscriptionId: Nullable(Type.String()),
  accountId: Nullable(Type.String()),
  invoiceNumber: Nullable(Type.String()),
  currencyCode: Nullable(Type.String()),
  totals: Type.Object({
    subtotal: Nullable(MinorUnits),
    discount: Nullable(MinorUnits),
    tax: Nullable(MinorUnits),
    total: Nullable(MinorUnits),
    grandTotal: Nullable(MinorUnits),
  }),
  billingPeriod: BillingPeriod,
  billedAt: NullableTimestamp,
  createdAt: NullableTimestamp,
  updatedAt: NullableTimestamp,
  payments: Type.Array(Payment),
})
export type TransactionResponse = Static<typeof Transaction>
