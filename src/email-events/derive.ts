/**
 * Email events from state transitions: what changed between the state before an event was applied
 * and after. Pure. Each event's idempotency key names the real change (the subscription and the
 * billing period, the transaction, the adjustment...) rather than the Paddle event that revealed it,
 * so that the same change reached through any order or duplicate of Paddle events makes the same key.
 */
import type { Transition } from '../billing/apply-event.js'
import type { AdjustmentState } from '../billing/adjustments.apply.js'
import type { SubscriptionState } from '../billing/subscriptions.apply.js'
import type { TransactionState } from '../billing/transactions.apply.js'
import type { EmailEventData, EmailEventType } from './email-event.schemas.js'

export interface EmailEventDraft<T extends EmailEventType = EmailEventType> {
  type: T
  idempotencyKey: string
  occurredAt: string
  customerId: string | null
  subscriptionId: string | null
  transactionId: string | null
  data: EmailEventData<T>
}

export interface DeriveContext {
  /** The Paddle event's occurred_at. */
  occurredAt: string
  /** The Paddle event's type (subscription.imported...). */
  eventType: string
  /** `{transactionId}` is replaced; null: no receipt link. */
  receiptUrlTemplate: string | null
  /** EMAIL_EVENTS_ON_IMPORT: whether importing a subscription tells the customer anything. */
  emailEventsOnImport: boolean
}

export function deriveEmailEvents (transition: Transition, context: DeriveContext): EmailEventDraft[] {
  switch (transition.entity) {
    case 'subscription': return fromSubscription(transition.before, transition.after, context)
    case 'transaction': return fromTransaction(transition.before, transition.after, context)
    case 'adjustment': return fromAdjustment(transition.before, transition.after, context)
    case 'customer': return []
  }
}

function draft<T extends EmailEventType> (type: T, key: string, occurredAt: string, ids: Omit<EmailEventDraft, 'type' | 'idempotencyKey' | 'occurredAt' | 'data'>, data: EmailEventData<T>): EmailEventDraft {
  return { type, idempotencyKey: `${type}:${key}`, occurredAt, ...ids, data } as EmailEventDraft
}

const items = (state: SubscriptionState) =>
  state.items.map((item) => ({ priceId: item.priceId, productId: item.productId, quantity: item.quantity }))

function period (startsAt: string | null, endsAt: string | null): { startsAt: string, endsAt: string } | null {
  return startsAt === null || endsAt === null ? null : { startsAt, endsAt }
}

/**
 * A merchant migrating its customers from another platform imports their subscriptions: those
 * customers were welcomed there, so by default setting up their state here says nothing to them.
 * Every Paddle event about an imported subscription carries import_meta, so whichever of them first
 * brings the subscription here (the import, or a later update delivered first) is the silent one;
 * real changes after that (a renewal failing, a cancellation) are told as usual.
 */
export function isSilentImport (before: SubscriptionState | null, after: SubscriptionState, context: Pick<DeriveContext, 'eventType' | 'emailEventsOnImport'>): boolean {
  if (context.emailEventsOnImport) return false
  return context.eventType === 'subscription.imported' || (before === null && after.importedFrom !== null)
}

function fromSubscription (before: SubscriptionState | null, after: SubscriptionState, context: DeriveContext): EmailEventDraft[] {
  if (isSilentImport(before, after, context)) return []
  const events: EmailEventDraft[] = []
  const ids = { customerId: after.customerId, subscriptionId: after.id, transactionId: null }
  const was = before?.status ?? null
  const now = after.status

  if (now === 'trialing' && was !== 'trialing') {
    events.push(draft('trial.started', after.id, after.startedAt ?? context.occurredAt, ids, {
      items: items(after), trialEndsAt: after.trialEndsAt, nextBilledAt: after.nextBilledAt,
    }))
  }
  // First active: from nothing or from a trial. Renewals, recoveries and resumptions are not starts.
  if (now === 'active' && (was === null || was === 'trialing')) {
    events.push(draft('subscription.started', after.id, after.firstBilledAt ?? after.startedAt ?? context.occurredAt, ids, {
      items: items(after),
      currencyCode: after.currencyCode,
      billingCycle: after.billingInterval === null || after.billingFrequency === null ? null : { interval: after.billingInterval, frequency: after.billingFrequency },
      currentBillingPeriod: period(after.currentPeriodStartsAt, after.currentPeriodEndsAt),
      nextBilledAt: after.nextBilledAt,
    }))
  }
  if (now === 'past_due' && was !== 'past_due') {
    // Same key as the renewal transaction's failure: one email per billing period, whichever comes first.
    events.push(draft('payment.failed', `${after.id}:${after.currentPeriodStartsAt ?? 'no-period'}`, context.occurredAt, ids, {
      billingPeriod: period(after.currentPeriodStartsAt, after.currentPeriodEndsAt),
      errorCode: null,
      currencyCode: after.currencyCode,
      amount: null,
    }))
  }
  if (now === 'active' && was === 'past_due') {
    events.push(draft('payment.recovered', `${after.id}:${before?.currentPeriodStartsAt ?? 'no-period'}`, context.occurredAt, ids, {
      billingPeriod: period(before?.currentPeriodStartsAt ?? null, before?.currentPeriodEndsAt ?? null),
    }))
  }
  const cancelBefore = before?.scheduledChangeAction === 'cancel'
  const cancelAfter = after.scheduledChangeAction === 'cancel'
  if (cancelAfter && !cancelBefore && now !== 'canceled') {
    events.push(draft('subscription.cancellation_scheduled', `${after.id}:${after.scheduledChangeEffectiveAt ?? 'no-date'}`, context.occurredAt, ids, {
      effectiveAt: after.scheduledChangeEffectiveAt,
    }))
  }
  if (cancelBefore && !cancelAfter && now !== 'canceled') {
    events.push(draft('subscription.cancellation_reverted', `${after.id}:${before?.scheduledChangeEffectiveAt ?? 'no-date'}`, context.occurredAt, ids, {
      previouslyEffectiveAt: before?.scheduledChangeEffectiveAt ?? null,
    }))
  }
  if (now === 'canceled' && was !== 'canceled') {
    events.push(draft('subscription.canceled', after.id, after.canceledAt ?? context.occurredAt, ids, { canceledAt: after.canceledAt }))
  }
  if (now === 'paused' && was !== 'paused') {
    events.push(draft('subscription.paused', `${after.id}:${after.pausedAt ?? context.occurredAt}`, after.pausedAt ?? context.occurredAt, ids, {
      pausedAt: after.pausedAt,
      resumeAt: after.scheduledChangeAction === 'resume' ? after.scheduledChangeEffectiveAt : after.scheduledChangeResumeAt,
    }))
  }
  if (was === 'paused' && now !== 'paused' && now !== 'canceled') {
    events.push(draft('subscription.resumed', `${after.id}:${before?.pausedAt ?? 'no-date'}`, context.occurredAt, ids, {
      nextBilledAt: after.nextBilledAt,
    }))
  }
  if (before !== null && itemsSignature(before) !== itemsSignature(after)) {
    events.push(draft('subscription.plan_changed', `${after.id}:${itemsSignature(after)}:${after.paddleUpdatedAt ?? context.occurredAt}`, context.occurredAt, ids, {
      direction: direction(before, after),
      previousItems: items(before),
      items: items(after),
    }))
  }
  return events
}

/** Prices and quantities; the order of items does not matter. */
function itemsSignature (state: SubscriptionState): string {
  return state.items.map((item) => `${item.priceId}x${item.quantity}`).sort().join(',')
}

/** Up or down by the recurring amount per billing cycle, when every item's price is known in one currency. */
function direction (before: SubscriptionState, after: SubscriptionState): 'upgrade' | 'downgrade' | 'change' {
  const amount = (state: SubscriptionState): bigint | null => {
    let sum = 0n
    const currencies = new Set(state.items.map((item) => item.unitPriceCurrencyCode))
    if (currencies.size > 1) return null
    for (const item of state.items) {
      if (item.unitPriceAmount === null) return null
      sum += BigInt(item.unitPriceAmount) * BigInt(item.quantity)
    }
    return sum
  }
  const [was, now] = [amount(before), amount(after)]
  const sameCycle = before.billingInterval === after.billingInterval && before.billingFrequency === after.billingFrequency
  if (was === null || now === null || !sameCycle || before.currencyCode !== after.currencyCode || was === now) return 'change'
  return now > was ? 'upgrade' : 'downgrade'
}

const FAILED_ATTEMPT = new Set(['error', 'canceled', 'dropped'])

/**
 * What a transaction is, from how Paddle created it (its `origin`):
 * - `charge`: Paddle collects from the saved payment method, the customer is not there to see a
 *   failure: renewals (`subscription_recurring`), one-time charges (`subscription_charge`) and
 *   changes billed at once (`subscription_update`) when there is an amount to collect;
 * - `checkout`: the buyer pays in Paddle Checkout or on an invoice and sees a failure there:
 *   `web` (Paddle.js), `api` (created through the API, then paid at checkout or by invoice);
 * - `payment_method_change`: the zero-value transaction a customer completes in Checkout to update
 *   the card of an active subscription. Nothing is charged: no receipt, and a declined card is
 *   seen in Checkout and leaves the subscription as it was;
 * - `other`: an origin Paddle does not document (yet): never told as a payment failure, since a
 *   subscription that really fails to renew becomes past_due, which tells it.
 * @see https://developer.paddle.com/api-reference/transactions/overview (origin)
 * @see https://developer.paddle.com/build/lifecycle/payment-details-update
 */
export type TransactionKind = 'charge' | 'checkout' | 'payment_method_change' | 'other'

export function transactionKind (transaction: Pick<TransactionState, 'origin' | 'grandTotal'>): TransactionKind {
  switch (transaction.origin) {
    case 'subscription_recurring':
    case 'subscription_charge':
      return 'charge'
    case 'subscription_update':
      // Nothing due (a credit, a downgrade): nothing to fail. Unknown totals count as due: a payment was attempted after all.
      return transaction.grandTotal === null || !/^-?0+$/.test(transaction.grandTotal) ? 'charge' : 'other'
    case 'web':
    case 'api':
      return 'checkout'
    case 'subscription_payment_method_change':
      return 'payment_method_change'
    default:
      return 'other'
  }
}

function fromTransaction (before: TransactionState | null, after: TransactionState, context: DeriveContext): EmailEventDraft[] {
  const events: EmailEventDraft[] = []
  const ids = { customerId: after.customerId, subscriptionId: after.subscriptionId, transactionId: after.id }
  const totals = { subtotal: after.subtotal, discount: after.discount, tax: after.tax, total: after.total, grandTotal: after.grandTotal }
  const billingPeriod = period(after.billingPeriodStartsAt, after.billingPeriodEndsAt)

  const kind = transactionKind(after)
  // A completed card update collected nothing: there is no payment to give a receipt for.
  if (after.status === 'completed' && before?.status !== 'completed' && kind !== 'payment_method_change') {
    events.push(draft('payment.succeeded', after.id, context.occurredAt, ids, {
      invoiceNumber: after.invoiceNumber,
      origin: after.origin,
      currencyCode: after.currencyCode,
      totals,
      billingPeriod,
      billedAt: after.billedAt,
      receiptUrl: context.receiptUrlTemplate === null ? null : context.receiptUrlTemplate.replaceAll('{transactionId}', encodeURIComponent(after.id)),
    }))
  }
  // Renewals and other charges of a subscription; a failed attempt at checkout is seen by the buyer there.
  const charge = after.subscriptionId !== null && kind === 'charge'
  const seenAttempts = new Set((before?.payments ?? []).map((payment) => payment.paymentAttemptId))
  const newFailure = after.payments.find((payment) => FAILED_ATTEMPT.has(payment.status ?? '') && !seenAttempts.has(payment.paymentAttemptId))
  const settled = after.status === 'completed' || after.status === 'paid' || after.status === 'canceled'
  if (charge && newFailure !== undefined && !settled) {
    events.push(draft('payment.failed', `${after.subscriptionId ?? ''}:${after.billingPeriodStartsAt ?? 'no-period'}`, context.occurredAt, ids, {
      billingPeriod,
      errorCode: newFailure.errorCode,
      currencyCode: after.currencyCode,
      amount: after.grandTotal,
    }))
  }
  // A renewal that completes after a failed attempt: the same recovery the subscription reports when
  // it leaves past_due (same key), seen from whichever event arrives first.
  const recovered = after.origin === 'subscription_recurring' && after.status === 'completed' && before?.status !== 'completed' &&
    after.payments.some((payment) => FAILED_ATTEMPT.has(payment.status ?? ''))
  if (recovered && after.subscriptionId !== null) {
    events.push(draft('payment.recovered', `${after.subscriptionId}:${after.billingPeriodStartsAt ?? 'no-period'}`, context.occurredAt, ids, {
      billingPeriod,
    }))
  }
  return events
}

function fromAdjustment (before: AdjustmentState | null, after: AdjustmentState, context: DeriveContext): EmailEventDraft[] {
  const refund = after.action === 'refund' || after.action === 'chargeback'
  if (!refund || after.status !== 'approved' || before?.status === 'approved') return []
  return [draft('refund.issued', after.id, context.occurredAt, {
    customerId: after.customerId,
    subscriptionId: after.subscriptionId,
    transactionId: after.transactionId,
  }, {
    adjustmentId: after.id,
    action: after.action,
    type: after.type,
    currencyCode: after.currencyCode,
    totals: { subtotal: after.subtotal, tax: after.tax, total: after.total },
  })]
}
