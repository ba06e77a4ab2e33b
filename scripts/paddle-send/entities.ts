/**
 * Paddle entities as a lifecycle changes them. Each starts from a genuine fixture's `data` (so every
 * field Paddle sends is there, in Paddle's shape) with the values of the subscription being played
 * put over it: its ids, items and prices, periods, account. `snapshot()` is the entity at that moment.
 */
import { randomUUID } from 'node:crypto'
import { fromEpochMicros, toEpochMicros } from '../../src/platform/timestamps.js'
import { fixtureData, freshId, isObject, type Json, type JsonObject } from './common.js'

export interface Cycle { interval: string, frequency: number }

/** `at` moved by whole billing cycles (months and years by the calendar, in UTC). */
function addCycles (at: string, cycle: Cycle, count = 1): string {
  const date = new Date(Date.parse(at))
  const n = cycle.frequency * count
  if (cycle.interval === 'year') date.setUTCFullYear(date.getUTCFullYear() + n)
  else if (cycle.interval === 'month') date.setUTCMonth(date.getUTCMonth() + n)
  else if (cycle.interval === 'week') date.setUTCDate(date.getUTCDate() + 7 * n)
  else date.setUTCDate(date.getUTCDate() + n)
  return fromEpochMicros(BigInt(date.getTime()) * 1000n + toEpochMicros(at) % 1000n)
}

export const micros = (at: string): bigint => toEpochMicros(at)

const period = (startsAt: string | null, endsAt: string | null): Json => startsAt === null || endsAt === null ? null : { starts_at: startsAt, ends_at: endsAt }

/** One recurring item of the subscription: what the scenario needs of it. */
export interface Item { priceId: string, productId: string | null, quantity: number, amount: string, cycle: Cycle | null, trialEndsAt: string | null }

export class SubscriptionDraft {
  readonly data: JsonObject
  private readonly itemTemplate: JsonObject
  items: Item[]

  constructor (base: JsonObject, items: Item[]) {
    this.data = base
    this.itemTemplate = structuredClone(fixtureData('subscription.updated').items as JsonObject[])[0] as JsonObject
    this.items = items
  }

  get id (): string { return String(this.data.id) }
  get customerId (): string | null { return typeof this.data.customer_id === 'string' ? this.data.customer_id : null }
  get currency (): string { return typeof this.data.currency_code === 'string' ? this.data.currency_code : 'USD' }
  get cycle (): Cycle {
    const cycle = this.data.billing_cycle
    return isObject(cycle) && typeof cycle.interval === 'string' && typeof cycle.frequency === 'number'
      ? { interval: cycle.interval, frequency: cycle.frequency }
      : { interval: 'month', frequency: 1 }
  }

  get period (): { startsAt: string, endsAt: string } | null {
    const current = this.data.current_billing_period
    return isObject(current) && typeof current.starts_at === 'string' && typeof current.ends_at === 'string'
      ? { startsAt: current.starts_at, endsAt: current.ends_at }
      : null
  }

  set (fields: JsonObject): this {
    Object.assign(this.data, fields)
    return this
  }

  /** A new billing period from `startsAt`: what a renewal, a resumption or a trial's conversion does. */
  newPeriod (startsAt: string): this {
    const endsAt = addCycles(startsAt, this.cycle)
    this.set({ current_billing_period: period(startsAt, endsAt), next_billed_at: endsAt })
    for (const item of this.rawItems()) Object.assign(item, { previously_billed_at: startsAt, next_billed_at: endsAt, updated_at: startsAt })
    return this
  }

  /** The entity at `at` (its updated_at), a copy that later changes do not touch. */
  snapshot (at: string): JsonObject {
    this.data.updated_at = at
    this.data.items = this.items.map((item, index) => this.itemData(item, this.rawItems()[index] ?? null, at))
    return structuredClone(this.data)
  }

  private rawItems (): JsonObject[] {
    return Array.isArray(this.data.items) ? this.data.items.filter(isObject) : []
  }

  private itemData (item: Item, current: JsonObject | null, at: string): JsonObject {
    const template = current !== null && isObject(current.price) && current.price.id === item.priceId ? current : this.itemTemplate
    const price = isObject(template.price) ? template.price : {}
    const product = isObject(template.product) ? template.product : {}
    const trialing = this.data.status === 'trialing' && item.trialEndsAt !== null
    return {
      ...structuredClone(template),
      status: trialing ? 'trialing' : 'active',
      quantity: item.quantity,
      recurring: true,
      created_at: typeof template.created_at === 'string' && template !== this.itemTemplate ? template.created_at : at,
      updated_at: typeof template.updated_at === 'string' && template !== this.itemTemplate ? template.updated_at : at,
      previously_billed_at: template.previously_billed_at ?? null,
      next_billed_at: this.data.next_billed_at ?? null,
      trial_dates: item.trialEndsAt === null ? null : { starts_at: this.data.started_at ?? at, ends_at: item.trialEndsAt },
      price: {
        ...structuredClone(price),
        id: item.priceId,
        product_id: item.productId,
        unit_price: { amount: item.amount, currency_code: this.currency },
        billing_cycle: item.cycle === null ? null : { ...item.cycle },
      },
      product: { ...structuredClone(product), id: item.productId },
    }
  }
}

export interface TransactionSpec {
  origin: 'subscription_recurring' | 'subscription_update'
  subscription: SubscriptionDraft
  billingPeriod: { startsAt: string, endsAt: string } | null
  /** What is billed: each item with the amount charged for it (a proration may be negative). */
  lines: Array<{ item: Item, total: bigint, proration: Json }>
  customData: JsonObject | null
}

export class TransactionDraft {
  readonly data: JsonObject
  private readonly paymentTemplate: JsonObject
  readonly grandTotal: bigint

  constructor (spec: TransactionSpec, at: string) {
    const template = fixtureData('transaction.completed')
    this.paymentTemplate = (template.payments as JsonObject[])[0] as JsonObject
    const details = template.details as JsonObject
    const lineTemplate = (details.line_items as JsonObject[])[0] as JsonObject
    const itemTemplate = (template.items as JsonObject[])[0] as JsonObject
    const currency = spec.subscription.currency
    const total = spec.lines.reduce((sum, line) => sum + line.total, 0n)
    this.grandTotal = total > 0n ? total : 0n
    const money = (amount: bigint): string => String(amount)
    // A negative total (a downgrade's credit) goes to the customer's balance; nothing is due.
    const totals = { subtotal: money(total), discount: '0', tax: '0', total: money(total), credit: '0' } as JsonObject
    Object.assign(totals, { credit_to_balance: money(total < 0n ? -total : 0n), balance: '0', grand_total: money(this.grandTotal) })
    Object.assign(totals, { fee: null, earnings: null, currency_code: currency })
    this.data = {
      ...template,
      id: freshId('txn'),
      status: 'billed',
      customer_id: spec.subscription.customerId,
      address_id: spec.subscription.data.address_id ?? template.address_id ?? null,
      business_id: null,
      custom_data: spec.customData,
      currency_code: currency,
      origin: spec.origin,
      subscription_id: spec.subscription.id,
      invoice_id: null,
      invoice_number: null,
      collection_mode: 'automatic',
      discount_id: null,
      billing_details: null,
      billing_period: spec.billingPeriod === null ? null : period(spec.billingPeriod.startsAt, spec.billingPeriod.endsAt),
      items: spec.lines.map(({ item, proration }) => ({
        ...structuredClone(itemTemplate),
        price: { ...structuredClone(itemTemplate.price as JsonObject), id: item.priceId, product_id: item.productId, unit_price: { amount: item.amount, currency_code: currency } },
        quantity: item.quantity,
        proration,
      })),
      details: {
        ...details,
        totals,
        adjusted_totals: { ...(details.adjusted_totals as JsonObject), ...totals },
        payout_totals: null,
        adjusted_payout_totals: null,
        tax_rates_used: [],
        line_items: spec.lines.map(({ item, total: lineTotal, proration }) => ({
          ...structuredClone(lineTemplate),
          id: freshId('txnitm'),
          price_id: item.priceId,
          quantity: item.quantity,
          proration,
          tax_rate: '0',
          unit_totals: { subtotal: item.amount, discount: '0', tax: '0', total: item.amount },
          totals: { subtotal: money(lineTotal), discount: '0', tax: '0', total: money(lineTotal) },
          product: { ...structuredClone(lineTemplate.product as JsonObject), id: item.productId },
        })),
      },
      payments: [],
      checkout: null,
      created_at: at,
      updated_at: at,
      billed_at: at,
      revised_at: null,
    }
  }

  get id (): string { return String(this.data.id) }

  /** A payment attempt, newest first as Paddle lists them. */
  attempt (at: string, outcome: 'captured' | 'error'): this {
    const payment = {
      ...structuredClone(this.paymentTemplate),
      payment_attempt_id: randomUUID(),
      amount: String(this.grandTotal),
      status: outcome,
      error_code: outcome === 'error' ? 'declined' : null,
      created_at: at,
      captured_at: outcome === 'captured' ? at : null,
    }
    this.data.payments = [payment, ...(Array.isArray(this.data.payments) ? this.data.payments : [])]
    return this
  }

  set (fields: JsonObject): this {
    Object.assign(this.data, fields)
    return this
  }

  snapshot (at: string): JsonObject {
    this.data.updated_at = at
    return structuredClone(this.data)
  }
}

/** A refund of a whole completed transaction, as Paddle creates it (pending approval) and approves it. */
export function refundAdjustment (options: {
  transactionId: string, subscriptionId: string, customerId: string | null, currency: string, total: string, at: string
}): JsonObject {
  const template = fixtureData('adjustment.created')
  const item = (Array.isArray(template.items) ? template.items.filter(isObject) : [])[0] ?? {}
  const totals = { subtotal: options.total, tax: '0', total: options.total, fee: '0', earnings: options.total, currency_code: options.currency }
  return {
    ...template,
    id: freshId('adj'),
    action: 'refund',
    type: 'full',
    transaction_id: options.transactionId,
    subscription_id: options.subscriptionId,
    customer_id: options.customerId,
    reason: 'paddle:send refund scenario',
    currency_code: options.currency,
    status: 'pending_approval',
    items: [{ ...item, id: freshId('adjitm'), type: 'full', amount: options.total, proration: null, totals: { subtotal: options.total, tax: '0', total: options.total } }],
    totals,
    payout_totals: null,
    created_at: options.at,
    updated_at: options.at,
  }
}
