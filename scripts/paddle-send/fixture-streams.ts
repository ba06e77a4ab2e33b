/**
 * Genuine fixture bodies sent as new: one event type or file, or a whole checkout stream, with fresh
 * ids (kept consistent across the run, so the events still relate) and moved in time so that the
 * latest one occurs now.
 */
import { existsSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { fromEpochMicros, parseTimestamp, toEpochMicros } from '../../src/platform/timestamps.js'
import { FIXTURES, freshId, isObject, mapStrings, readEvent, UsageError, type Json, type JsonObject, type PaddleEvent } from './common.js'

/** Entity ids that are refreshed besides each event's `data.id`; catalogue ids (prices, products) are kept. */
const REFERENCES = new Set(['customer_id', 'subscription_id', 'transaction_id', 'address_id'])
const ID_IN_TEXT = /[a-z]+_[a-z0-9]+/g
const TRIAL_DAYS = 14

export const CHECKOUT_STREAMS: Record<string, { summary: string, stream: () => PaddleEvent[] }> = {
  checkout: {
    summary: 'a new customer completes Paddle Checkout: Paddle\'s genuine 12-event stream, a new active subscription',
    stream: () => checkoutSequence(),
  },
  'checkout-trial': {
    summary: `the same checkout for prices with a ${TRIAL_DAYS}-day trial: nothing charged, a new trialing subscription`,
    stream: () => checkoutSequence().map(asTrial),
  },
}

function checkoutSequence (): PaddleEvent[] {
  const folder = resolve(FIXTURES, 'checkout-sequence')
  return readdirSync(folder).filter((name) => name.endsWith('.json')).sort().map((name) => readEvent(resolve(folder, name)))
}

/**
 * A checkout event as it is for a free trial: the checkout transaction is for nothing, and Paddle
 * creates the subscription `trialing` (`subscription.trialing` where the paid checkout has
 * `subscription.activated`), its current period being the trial.
 */
function asTrial (event: PaddleEvent): PaddleEvent {
  const data = structuredClone(event.data)
  if (event.event_type.startsWith('transaction.')) {
    const zero = (value: Json): Json => mapStrings(value, (text, key) => /^-?\d+$/.test(text) && key !== 'quantity' ? '0' : text)
    if (isObject(data.details)) data.details = zero(data.details)
    if (Array.isArray(data.payments)) data.payments = data.payments.map((payment) => isObject(payment) ? { ...payment, amount: '0' } : payment)
    return { ...event, data }
  }
  if (!event.event_type.startsWith('subscription.')) return event
  const startedAt = typeof data.started_at === 'string' ? data.started_at : event.occurred_at
  const trialEnd = fromEpochMicros(toEpochMicros(parseTimestamp(startedAt) ?? '') + BigInt(TRIAL_DAYS) * 86_400_000_000n)
  const trialDates = { starts_at: startedAt, ends_at: trialEnd }
  Object.assign(data, { status: 'trialing', first_billed_at: null, next_billed_at: trialEnd, current_billing_period: trialDates })
  if (Array.isArray(data.items)) {
    data.items = data.items.map((item) => isObject(item)
      ? {
          ...item,
          status: 'trialing',
          previously_billed_at: null,
          next_billed_at: trialEnd,
          trial_dates: trialDates,
          price: isObject(item.price) ? { ...item.price, trial_period: { interval: 'day', frequency: TRIAL_DAYS } } : item.price ?? null,
        }
      : item)
  }
  return { ...event, event_type: event.event_type === 'subscription.activated' ? 'subscription.trialing' : event.event_type, data }
}

export function eventTypes (): string[] {
  return readdirSync(FIXTURES).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length)).sort()
}

/** The bodies named on the command line: event types (tests/fixtures/paddle/<type>.json) or files. */
export function namedEvents (positionals: string[]): PaddleEvent[] {
  return positionals.map((argument) => {
    if (argument.includes('/') || argument.endsWith('.json')) {
      if (!existsSync(argument)) throw new UsageError(`no such file: ${argument}`)
      return readEvent(resolve(argument))
    }
    const path = resolve(FIXTURES, `${argument}.json`)
    if (!existsSync(path)) throw new UsageError(`unknown event type "${argument}" (no tests/fixtures/paddle/${argument}.json); known: ${eventTypes().join(', ')}`)
    return readEvent(path)
  })
}

/** Fresh event, notification and entity ids, one new id per old one; every instant moved so the latest event occurs now. */
export function refresh (events: PaddleEvent[], account: string | undefined, accountKey: string): PaddleEvent[] {
  const ids = new Map<string, string>()
  const remember = (id: Json | undefined): void => {
    if (typeof id === 'string' && /^[a-z]+_[a-z0-9]+$/.test(id) && !ids.has(id)) ids.set(id, freshId(id.slice(0, id.indexOf('_'))))
  }
  for (const event of events) {
    remember(event.data.id)
    mapStrings(event.data, (text, key) => { if (REFERENCES.has(key)) remember(text); return text })
  }
  const micros = (text: string): bigint => toEpochMicros(parseTimestamp(text) ?? '')
  const latest = events.reduce((max, event) => micros(event.occurred_at) > max ? micros(event.occurred_at) : max, 0n)
  const shift = BigInt(Date.now()) * 1000n - latest
  const rewrite = (text: string): string => parseTimestamp(text) === null
    ? text.replace(ID_IN_TEXT, (id) => ids.get(id) ?? id)
    : fromEpochMicros(micros(text) + shift)

  return events.map((event) => {
    const data = mapStrings(event.data, rewrite) as JsonObject
    if (account !== undefined && /^(subscription|transaction)\./.test(event.event_type)) {
      data.custom_data = { ...(isObject(data.custom_data) ? data.custom_data : {}), [accountKey]: account }
    }
    return { event_id: freshId('evt'), event_type: event.event_type, occurred_at: rewrite(event.occurred_at), notification_id: freshId('ntf'), data }
  })
}
