/**
 * A webhook `data` rebuilt from the allow-listed projection the inbox kept (src/paddle/projection.ts).
 * The service never stores bodies as received, so this is the closest thing to the original there
 * is: every field the service reads is back where Paddle puts it (prices nested under items, totals
 * under details, the payment method's type under method_details), and projecting the rebuilt body
 * gives the stored projection again. What the projection dropped (names of products, addresses,
 * card details...) stays dropped.
 */
import { isObject, type Json, type JsonObject } from './common.js'

const list = (value: Json | undefined): JsonObject[] => Array.isArray(value) ? value.filter(isObject) : []

export function rebuildData (entityType: string, payload: JsonObject | null, ids: { entityId: string | null, customerId?: string | null }): JsonObject {
  if (payload === null) {
    // An entity type the service does not act on: its envelope alone was kept.
    return { id: ids.entityId, ...(ids.customerId === undefined || ids.customerId === null ? {} : { customer_id: ids.customerId }) }
  }
  switch (entityType) {
    case 'subscription': return rebuildSubscription(payload)
    case 'transaction': return rebuildTransaction(payload)
    default: return structuredClone(payload) // customers and adjustments are kept in their wire shape
  }
}

export function rebuildSubscription (payload: JsonObject): JsonObject {
  const { items, transaction_id: transactionId, ...rest } = structuredClone(payload)
  return {
    ...rest,
    ...(transactionId === null || transactionId === undefined ? {} : { transaction_id: transactionId }),
    items: list(items).map(({ price_id: priceId, product_id: productId, unit_price: unitPrice, billing_cycle: billingCycle, ...item }) => ({
      ...item,
      price: { id: priceId ?? null, product_id: productId ?? null, unit_price: unitPrice ?? null, billing_cycle: billingCycle ?? null },
      product: { id: productId ?? null },
    })),
  }
}

export function rebuildTransaction (payload: JsonObject): JsonObject {
  const { items, totals, payments, ...rest } = structuredClone(payload)
  return {
    ...rest,
    items: list(items).map(({ price_id: priceId, product_id: productId, quantity }) => ({
      price_id: priceId ?? null,
      price: { id: priceId ?? null, product_id: productId ?? null },
      quantity: quantity ?? null,
    })),
    ...(isObject(totals) ? { details: { totals } } : {}),
    payments: list(payments).map(({ method_type: methodType, ...payment }) => ({
      ...payment,
      method_details: methodType === null || methodType === undefined ? null : { type: methodType },
    })),
  }
}
