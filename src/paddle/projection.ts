/**
 * The allow-list: what the service keeps of a Paddle entity. Each projection builds a new object
 * from fields it names, so anything Paddle adds later (or anything it already sends that is not
 * named here, such as payments[].method_details, addresses, tax ids or business contacts) is
 * dropped by construction. Values of the wrong type become null; the worker decides what is required.
 */
import { isRecord, type PaddleEnvelope } from './envelope.js'
import { entityTypeOf, isTrackedEntityType, type TrackedEntityType } from './event-types.js'
import { parseTimestamp } from '../platform/timestamps.js'

export interface ProjectionOptions {
  /** The only `custom_data` keys that are kept (TrackSera's account id key). */
  customDataKeys: readonly string[]
}

export interface BillingPeriod { starts_at: string | null, ends_at: string | null }

export interface ProjectedSubscription {
  id: string | null
  status: string | null
  customer_id: string | null
  transaction_id: string | null
  currency_code: string | null
  collection_mode: string | null
  created_at: string | null
  updated_at: string | null
  started_at: string | null
  first_billed_at: string | null
  next_billed_at: string | null
  paused_at: string | null
  canceled_at: string | null
  current_billing_period: BillingPeriod | null
  billing_cycle: { interval: string | null, frequency: number | null } | null
  scheduled_change: { action: string | null, effective_at: string | null, resume_at: string | null } | null
  discount: { id: string | null, starts_at: string | null, ends_at: string | null } | null
  /** Set on subscriptions a merchant imported from another platform; only where they came from is kept. */
  import_meta: { imported_from: string | null } | null
  items: Array<{
    status: string | null
    quantity: number | null
    recurring: boolean | null
    created_at: string | null
    updated_at: string | null
    previously_billed_at: string | null
    next_billed_at: string | null
    trial_dates: BillingPeriod | null
    price_id: string | null
    product_id: string | null
    unit_price: { amount: string | null, currency_code: string | null } | null
    billing_cycle: { interval: string | null, frequency: number | null } | null
  }>
  custom_data: Record<string, string> | null
}

export interface ProjectedTotals {
  subtotal: string | null
  discount: string | null
  tax: string | null
  total: string | null
  credit: string | null
  balance: string | null
  grand_total: string | null
  fee: string | null
  earnings: string | null
  currency_code: string | null
}

export interface ProjectedPayment {
  payment_attempt_id: string | null
  status: string | null
  error_code: string | null
  /** `card`, `paypal`...: the type alone, never the contents of method_details. */
  method_type: string | null
  amount: string | null
  created_at: string | null
  captured_at: string | null
}

export interface ProjectedTransaction {
  id: string | null
  status: string | null
  origin: string | null
  customer_id: string | null
  subscription_id: string | null
  invoice_number: string | null
  currency_code: string | null
  collection_mode: string | null
  discount_id: string | null
  created_at: string | null
  updated_at: string | null
  billed_at: string | null
  revised_at: string | null
  billing_period: BillingPeriod | null
  items: Array<{ price_id: string | null, product_id: string | null, quantity: number | null }>
  totals: ProjectedTotals | null
  payments: ProjectedPayment[]
  custom_data: Record<string, string> | null
}

export interface ProjectedCustomer {
  id: string | null
  /** Personal data: erasable, see the privacy module. */
  name: string | null
  /** Personal data: erasable, see the privacy module. */
  email: string | null
  status: string | null
  created_at: string | null
  updated_at: string | null
  custom_data: Record<string, string> | null
}

export interface ProjectedAdjustment {
  id: string | null
  action: string | null
  type: string | null
  status: string | null
  transaction_id: string | null
  subscription_id: string | null
  customer_id: string | null
  currency_code: string | null
  credit_applied_to_balance: boolean | null
  created_at: string | null
  updated_at: string | null
  totals: { subtotal: string | null, tax: string | null, total: string | null, fee: string | null, earnings: string | null, currency_code: string | null } | null
}

export interface ProjectedPayloads {
  subscription: ProjectedSubscription
  transaction: ProjectedTransaction
  customer: ProjectedCustomer
  adjustment: ProjectedAdjustment
}

/** What the inbox stores of one event. */
export interface ProjectedEvent {
  entityType: string
  entityId: string | null
  customerId: string | null
  subscriptionId: string | null
  /** Null for entity types the service does not act on: their envelope alone is recorded. */
  payload: ProjectedPayloads[TrackedEntityType] | null
}

export function projectEvent (envelope: PaddleEnvelope, options: ProjectionOptions): ProjectedEvent {
  const { data } = envelope
  const entityType = entityTypeOf(envelope.eventType)
  const entityId = text(data.id)
  const envelopeOnly = { entityType, entityId, customerId: text(data.customer_id), subscriptionId: null, payload: null }
  if (!isTrackedEntityType(entityType)) return envelopeOnly
  switch (entityType) {
    case 'subscription':
      return { ...envelopeOnly, subscriptionId: entityId, payload: projectSubscription(data, options) }
    case 'transaction':
      return { ...envelopeOnly, subscriptionId: text(data.subscription_id), payload: projectTransaction(data, options) }
    case 'adjustment':
      return { ...envelopeOnly, subscriptionId: text(data.subscription_id), payload: projectAdjustment(data) }
    case 'customer':
      return { ...envelopeOnly, customerId: entityId, payload: projectCustomer(data, options) }
  }
}

export function projectSubscription (data: Record<string, unknown>, options: ProjectionOptions): ProjectedSubscription {
  return {
    id: text(data.id),
    status: text(data.status),
    customer_id: text(data.customer_id),
    transaction_id: text(data.transaction_id),
    currency_code: text(data.currency_code),
    collection_mode: text(data.collection_mode),
    created_at: timestamp(data.created_at),
    updated_at: timestamp(data.updated_at),
    started_at: timestamp(data.started_at),
    first_billed_at: timestamp(data.first_billed_at),
    next_billed_at: timestamp(data.next_billed_at),
    paused_at: timestamp(data.paused_at),
    canceled_at: timestamp(data.canceled_at),
    current_billing_period: period(data.current_billing_period),
    billing_cycle: billingCycle(data.billing_cycle),
    scheduled_change: isRecord(data.scheduled_change)
      ? {
          action: text(data.scheduled_change.action),
          effective_at: timestamp(data.scheduled_change.effective_at),
          resume_at: timestamp(data.scheduled_change.resume_at),
        }
      : null,
    discount: isRecord(data.discount)
      ? { id: text(data.discount.id), starts_at: timestamp(data.discount.starts_at), ends_at: timestamp(data.discount.ends_at) }
      : null,
    import_meta: isRecord(data.import_meta) ? { imported_from: text(data.import_meta.imported_from) } : null,
    items: records(data.items).map((item) => {
      const price = isRecord(item.price) ? item.price : {}
      const unitPrice = isRecord(price.unit_price) ? price.unit_price : null
      return {
        status: text(item.status),
        quantity: integer(item.quantity),
        recurring: bool(item.recurring),
        created_at: timestamp(item.created_at),
        updated_at: timestamp(item.updated_at),
        previously_billed_at: timestamp(item.previously_billed_at),
        next_billed_at: timestamp(item.next_billed_at),
        trial_dates: period(item.trial_dates),
        price_id: text(price.id) ?? text(item.price_id),
        product_id: text(price.product_id) ?? (isRecord(item.product) ? text(item.product.id) : null),
        unit_price: unitPrice === null ? null : { amount: money(unitPrice.amount), currency_code: text(unitPrice.currency_code) },
        billing_cycle: billingCycle(price.billing_cycle),
      }
    }),
    custom_data: customData(data.custom_data, options),
  }
}

export function projectTransaction (data: Record<string, unknown>, options: ProjectionOptions): ProjectedTransaction {
  const details = isRecord(data.details) ? data.details : {}
  const totals = isRecord(details.totals) ? details.totals : null
  return {
    id: text(data.id),
    status: text(data.status),
    origin: text(data.origin),
    customer_id: text(data.customer_id),
    subscription_id: text(data.subscription_id),
    invoice_number: text(data.invoice_number),
    currency_code: text(data.currency_code),
    collection_mode: text(data.collection_mode),
    discount_id: text(data.discount_id),
    created_at: timestamp(data.created_at),
    updated_at: timestamp(data.updated_at),
    billed_at: timestamp(data.billed_at),
    revised_at: timestamp(data.revised_at),
    billing_period: period(data.billing_period),
    items: records(data.items).map((item) => {
      const price = isRecord(item.price) ? item.price : {}
      return {
        price_id: text(item.price_id) ?? text(price.id),
        product_id: text(price.product_id),
        quantity: integer(item.quantity),
      }
    }),
    totals: totals === null
      ? null
      : {
          subtotal: money(totals.subtotal),
          discount: money(totals.discount),
          tax: money(totals.tax),
          total: money(totals.total),
          credit: money(totals.credit),
          balance: money(totals.balance),
          grand_total: money(totals.grand_total),
          fee: money(totals.fee),
          earnings: money(totals.earnings),
          currency_code: text(totals.currency_code),
        },
    payments: records(data.payments).map((payment) => ({
      payment_attempt_id: text(payment.payment_attempt_id),
      status: text(payment.status),
      error_code: text(payment.error_code),
      method_type: isRecord(payment.method_details) ? text(payment.method_details.type) : null,
      amount: money(payment.amount),
      created_at: timestamp(payment.created_at),
      captured_at: timestamp(payment.captured_at),
    })),
    custom_data: customData(data.custom_data, options),
  }
}

export function projectCustomer (data: Record<string, unknown>, options: ProjectionOptions): ProjectedCustomer {
  return {
    id: text(data.id),
    name: text(data.name),
    email: text(data.email),
    status: text(data.status),
    created_at: timestamp(data.created_at),
    updated_at: timestamp(data.updated_at),
    custom_data: customData(data.custom_data, options),
  }
}

export function projectAdjustment (data: Record<string, unknown>): ProjectedAdjustment {
  const totals = isRecord(data.totals) ? data.totals : null
  return {
    id: text(data.id),
    action: text(data.action),
    type: text(data.type),
    status: text(data.status),
    transaction_id: text(data.transaction_id),
    subscription_id: text(data.subscription_id),
    customer_id: text(data.customer_id),
    currency_code: text(data.currency_code),
    credit_applied_to_balance: bool(data.credit_applied_to_balance),
    created_at: timestamp(data.created_at),
    updated_at: timestamp(data.updated_at),
    // `reason` is free text typed by a person; it is not kept.
    totals: totals === null
      ? null
      : {
          subtotal: money(totals.subtotal),
          tax: money(totals.tax),
          total: money(totals.total),
          fee: money(totals.fee),
          earnings: money(totals.earnings),
          currency_code: text(totals.currency_code),
        },
  }
}

const MAX_TEXT_LENGTH = 500
const MINOR_UNITS = /^-?\d{1,30}$/

function text (value: unknown): string | null {
  return typeof value === 'string' && value.length <= MAX_TEXT_LENGTH ? storable(value) : null
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * What PostgreSQL can store of a string: text and jsonb refuse NUL (22P05) and a lone UTF-16
 * surrogate, and one such character would otherwise make a verified event unstorable on every retry.
 * NUL is dropped, a lone surrogate becomes U+FFFD. Only the projection changes; the signature was
 * checked on the raw bytes before.
 */
export function storable (value: string): string {
  return value.replaceAll('\u0000', '').replace(LONE_SURROGATE, '\ufffd')
}

function timestamp (value: unknown): string | null {
  return parseTimestamp(value)
}

/** Amounts stay strings of minor units; a float never enters the service. */
function money (value: unknown): string | null {
  if (typeof value === 'string' && MINOR_UNITS.test(value)) return value
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return null
}

function integer (value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null
}

function bool (value: unknown): boolean | null {
  return typeof value === 'boolean' ? value : null
}

function records (value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.filter(isRecord) : []
}

function period (value: unknown): BillingPeriod | null {
  if (!isRecord(value)) return null
  return { starts_at: timestamp(value.starts_at), ends_at: timestamp(value.ends_at) }
}

function billingCycle (value: unknown): { interval: string | null, frequency: number | null } | null {
  if (!isRecord(value)) return null
  return { interval: text(value.interval), frequency: integer(value.frequency) }
}

function customData (value: unknown, options: ProjectionOptions): Record<string, string> | null {
  if (!isRecord(value)) return null
  const kept: Record<string, string> = {}
  for (const key of options.customDataKeys) {
    const item = value[key]
    if (typeof item === 'string' && item.length > 0 && item.length <= MAX_TEXT_LENGTH) kept[key] = storable(item)
    else if (typeof item === 'number' && Number.isSafeInteger(item)) kept[key] = String(item)
  }
  return Object.keys(kept).length > 0 ? kept : null
}
