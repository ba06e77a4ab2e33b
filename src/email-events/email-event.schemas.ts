/**
 * The contract with the email sender: every email event type and the JSON Schema of its `data`.
 * They are served in the OpenAPI document (GET /openapi.json) and written out as a standalone JSON
 * Schema document by `npm run email-events:schema` (docs/email-events.schema.json).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { MinorUnits, Nullable, NullableTimestamp, Timestamp } from '../platform/schemas.js'

const Period = Nullable(Type.Object({ startsAt: Timestamp, endsAt: Timestamp }))
const Items = Type.Array(Type.Object({ priceId: Type.String(), productId: Nullable(Type.String()), quantity: Type.Integer() }))
const Totals = Type.Object({
  subtotal: Nullable(MinorUnits),
  discount: Nullable(MinorUnits),
  tax: Nullable(MinorUnits),
  total: Nullable(MinorUnits),
  grandTotal: Nullable(MinorUnits),
})

export const EMAIL_EVENT_DATA = {
  'subscription.started': Type.Object({
    items: Items,
    currencyCode: Nullable(Type.String()),
    billingCycle: Nullable(Type.Object({ interval: Type.String(), frequency: Type.Integer() })),
    currentBillingPeriod: Period,
    nextBilledAt: NullableTimestamp,
  }, { description: 'A subscription first became active (not on renewals; after a trial, when it converts)' }),
  'trial.started': Type.Object({
    items: Items,
    trialEndsAt: NullableTimestamp,
    nextBilledAt: NullableTimestamp,
  }, { description: 'A subscription started trialing' }),
  'trial.ending_soon': Type.Object({
    trialEndsAt: Timestamp,
    nextBilledAt: NullableTimestamp,
  }, { description: 'A trial ends within TRIAL_ENDING_NOTICE_DAYS; emitted by a scheduled check' }),
  'payment.succeeded': Type.Object({
    invoiceNumber: Nullable(Type.String()),
    origin: Nullable(Type.String({ description: 'web (checkout), subscription_recurring (renewal)...' })),
    currencyCode: Nullable(Type.String()),
    totals: Totals,
    billingPeriod: Period,
    billedAt: NullableTimestamp,
    receiptUrl: Nullable(Type.String({ description: 'RECEIPT_URL_TEMPLATE with the transaction id; null when not configured' })),
  }, { description: 'A transaction was completed. Paddle, as merchant of record, sends the receipt itself' }),
  'payment.failed': Type.Object({
    billingPeriod: Period,
    errorCode: Nullable(Type.String({ description: 'Paddle\'s error code of the failed attempt (declined, expired_card...) when known' })),
    currencyCode: Nullable(Type.String()),
    amount: Nullable(MinorUnits),
  }, { description: 'A renewal payment failed or the subscription became past due: once per billing period' }),
  'payment.recovered': Type.Object({
    billingPeriod: Period,
  }, { description: 'A past-due subscription\'s payment went through' }),
  'subscription.cancellation_scheduled': Type.Object({
    effectiveAt: NullableTimestamp,
  }, { description: 'A cancellation was scheduled (at the end of the billing period)' }),
  'subscription.cancellation_reverted': Type.Object({
    previouslyEffectiveAt: NullableTimestamp,
  }, { description: 'A scheduled cancellation was removed' }),
  'subscription.canceled': Type.Object({
    canceledAt: NullableTimestamp,
  }, { description: 'The subscription is canceled' }),
  'subscription.paused': Type.Object({
    pausedAt: NullableTimestamp,
    resumeAt: NullableTimestamp,
  }, { description: 'The subscription is paused' }),
  'subscription.resumed': Type.Object({
    nextBilledAt: NullableTimestamp,
  }, { description: 'A paused subscription is active again' }),
  'subscription.plan_changed': Type.Object({
    direction: Type.Union([Type.Literal('upgrade'), Type.Literal('downgrade'), Type.Literal('change')], {
      description: 'upgrade / downgrade when the recurring amount per billing cycle went up / down; change otherwise',
    }),
    previousItems: Items,
    items: Items,
  }, { description: 'The subscription\'s prices or quantities changed' }),
  'refund.issued': Type.Object({
    adjustmentId: Type.String(),
    action: Type.String({ description: 'refund or chargeback' }),
    type: Nullable(Type.String({ description: 'full or partial' })),
    currencyCode: Nullable(Type.String()),
    totals: Type.Object({ subtotal: Nullable(MinorUnits), tax: Nullable(MinorUnits), total: Nullable(MinorUnits) }),
  }, { description: 'A refund or chargeback was approved' }),
} satisfies Record<string, TSchema>

export type EmailEventType = keyof typeof EMAIL_EVENT_DATA
export const EMAIL_EVENT_TYPES = Object.keys(EMAIL_EVENT_DATA) as EmailEventType[]
export type EmailEventData<T extends EmailEventType> = Static<typeof EMAIL_EVENT_DATA[T]>

const envelope = <T extends EmailEventType>(type: T) => Type.Object({
  id: Type.String({ description: 'Unique per event; also the Standard Webhooks webhook-id' }),
  type: Type.Literal(type),
  idempotencyKey: Type.String({ description: 'The same for the same real change, however it was reached: send one email per key' }),
  occurredAt: Timestamp,
  accountId: Nullable(Type.String()),
  customerId: Nullable(Type.String({ description: 'Name and email: GET /internal/customers/:customerId' })),
  subscriptionId: Nullable(Type.String()),
  transactionId: Nullable(Type.String()),
  data: EMAIL_EVENT_DATA[type],
}, { $id: `EmailEvent.${type}`, title: type })

/** One schema per type; the union is what the pull feed and the push deliveries carry. */
export const EMAIL_EVENT_SCHEMAS = EMAIL_EVENT_TYPES.map((type) => envelope(type))
export const EmailEvent = Type.Union(EMAIL_EVENT_SCHEMAS.map((schema) => Type.Ref(schema)), {
  description: 'An event for a transactional email',
})

/** One standalone JSON Schema document: the union of the event types, each under $defs. */
export function emailEventsJsonSchema (): Record<string, unknown> {
  const defs = Object.fromEntries(EMAIL_EVENT_SCHEMAS.map((schema) => {
    const { $id, ...rest } = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>
    return [String($id), rest]
  }))
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://tracksera.example/schemas/billing/email-events.schema.json',
    title: 'TrackSera billing email events',
    description: 'What GET /internal/email-events serves and what is pushed to EMAIL_EVENTS_URL (Standard Webhooks). ' +
      'Send one email per idempotencyKey. Timestamps are RFC 3339 in UTC with microseconds; amounts are minor units as decimal strings.',
    oneOf: Object.keys(defs).map((id) => ({ $ref: `#/$defs/${id}` })),
    $defs: defs,
  }
}
