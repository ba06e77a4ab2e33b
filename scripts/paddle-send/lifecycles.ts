/**
 * Lifecycles played on a subscription the service already has (`--subscription sub_...`): the events
 * Paddle sends, in Paddle's order, as its webhook scenarios and lifecycle guides list them
 * (developer.paddle.com/webhooks/scenarios, /build/lifecycle/subscription-renewal-dunning).
 *
 * The subscription is read from the service (its state, and the prices of its last stored
 * projection), so the events carry its customer, items, period and account. Each lifecycle happens
 * when it would in Paddle: a renewal at the end of the current period, a trial's conversion at the
 * trial's end, a dunning that gives up 30 days later. Every event occurs after everything the
 * service holds of the subscription and not before now, so the versions follow the stored state
 * (an earlier date is moved to just after the latest one): nothing is stale, and no email is too old
 * to be sent. Dates in the future are normal here, and a later real event about the same subscription
 * would be older than these.
 */
import { fixtureData, freshId, isObject, UsageError, type JsonObject, type PaddleEvent } from './common.js'
import { micros, refundAdjustment, SubscriptionDraft, TransactionDraft, type Item } from './entities.js'
import type { ServiceApi, StoredSubscription } from './service-api.js'
import { fromEpochMicros } from '../../src/platform/timestamps.js'

export interface Lifecycle {
  name: string
  /** One line for --list. */
  summary: string
  /** The subscription statuses it starts from. */
  from: readonly string[]
  play(play: Play): Promise<void> | void
}

/** A lifecycle being played: the subscription as it changes, the events so far, and the play's clock. */
export class Play {
  readonly events: PaddleEvent[] = []
  private last: bigint
  private moment: bigint

  constructor (
    readonly subscription: SubscriptionDraft,
    readonly stored: StoredSubscription,
    readonly customData: JsonObject | null,
    readonly api: ServiceApi,
    start: bigint
  ) {
    this.last = start - 1000n
    this.moment = start
  }

  /** Moves to `planned` (now when null), or just past the last event when that is later; returns the moment. */
  at (planned: string | null, afterSeconds = 0): string {
    const wanted = planned === null ? this.last + 1000n : micros(planned) + BigInt(afterSeconds * 1e6)
    this.moment = wanted > this.last ? wanted : this.last + 1000n
    return fromEpochMicros(this.moment)
  }

  /** Later by `seconds` than the current moment. */
  later (seconds: number): string {
    return this.at(fromEpochMicros(this.moment), seconds)
  }

  get now (): string { return fromEpochMicros(this.moment) }

  emit (eventType: string, data: JsonObject): void {
    this.last = this.moment > this.last ? this.moment : this.last + 1000n
    this.events.push({ event_id: freshId('evt'), event_type: eventType, occurred_at: fromEpochMicros(this.last), notification_id: freshId('ntf'), data })
  }

  sub (...eventTypes: string[]): void {
    for (const eventType of eventTypes) this.emit(eventType, this.subscription.snapshot(this.now))
  }

  txn (transaction: TransactionDraft, ...eventTypes: string[]): void {
    for (const eventType of eventTypes) this.emit(eventType, transaction.snapshot(this.now))
  }

  /** The end of the current period (or the next billing date, or now): when a renewal or a scheduled change happens. */
  get periodEnd (): string {
    return this.subscription.period?.endsAt ?? this.stored.nextBilledAt ?? this.now
  }

  /** Paddle's renewal transaction for the current period: billed at once, every item at its full price. */
  renewal (): TransactionDraft {
    return new TransactionDraft({
      origin: 'subscription_recurring',
      subscription: this.subscription,
      billingPeriod: this.subscription.period,
      lines: this.subscription.items.map((item) => ({ item, total: BigInt(item.amount) * BigInt(item.quantity), proration: null })),
      customData: this.customData,
    }, this.now)
  }

  /**
   * A new billing period from now (a renewal, a resumption, a trial's end), told by these subscription
   * events, and its transaction created and billed at once, as Paddle does for automatic collection.
   */
  startPeriod (...eventTypes: string[]): TransactionDraft {
    this.subscription.newPeriod(this.now)
    this.sub(...eventTypes)
    const renewal = this.renewal()
    this.txn(renewal, 'transaction.created', 'transaction.billed')
    return renewal
  }

  /** The customer's saved card is charged and Paddle finishes with the transaction. */
  collect (transaction: TransactionDraft, afterSeconds = 5): void {
    this.later(afterSeconds)
    transaction.attempt(this.now, 'captured').set({ status: 'paid' })
    this.txn(transaction, 'transaction.updated', 'transaction.paid')
    this.complete(transaction, afterSeconds)
  }

  complete (transaction: TransactionDraft, afterSeconds = 5): void {
    this.later(afterSeconds)
    transaction.set({ status: 'completed', invoice_number: `${Math.floor(Date.parse(this.now) / 1000) % 1000}-${String(Date.now()).slice(-5)}` })
    this.txn(transaction, 'transaction.updated', 'transaction.completed')
  }

  /** A renewal whose first charge is declined: the transaction and the subscription become past due. */
  failedRenewal (): TransactionDraft {
    this.at(this.periodEnd)
    const renewal = this.startPeriod('subscription.updated')
    this.later(10)
    renewal.attempt(this.now, 'error')
    this.txn(renewal, 'transaction.payment_failed')
    renewal.set({ status: 'past_due' })
    this.txn(renewal, 'transaction.updated', 'transaction.past_due')
    this.subscription.set({ status: 'past_due' })
    this.sub('subscription.updated', 'subscription.past_due')
    return renewal
  }

  scheduleChange (action: 'cancel' | 'pause', effectiveAt: string): void {
    this.at(null)
    this.subscription.set({ scheduled_change: { action, effective_at: effectiveAt, resume_at: null } })
    this.sub('subscription.updated')
  }

  cancelNow (): void {
    this.subscription.set({ status: 'canceled', canceled_at: this.now, current_billing_period: null, next_billed_at: null, scheduled_change: null })
    this.sub('subscription.updated', 'subscription.canceled')
  }

  /** Items changed now, prorated and billed at once (`prorated_immediately`): a charge, or a credit when the amount falls. */
  changeItems (items: Item[]): void {
    const changedAt = this.at(null)
    const before = this.subscription.items
    this.subscription.items = items
    this.sub('subscription.updated')
    const period = this.subscription.period
    const rate = period === null ? 1 : Math.min(1, Math.max(0, Number(micros(period.endsAt) - micros(changedAt)) / Number(micros(period.endsAt) - micros(period.startsAt))))
    const prorationPeriod = { starts_at: changedAt, ends_at: period?.endsAt ?? changedAt }
    const lines = [...new Set([...before, ...items].map((item) => item.priceId))].flatMap((priceId) => {
      const was = before.find((item) => item.priceId === priceId)
      const now = items.find((item) => item.priceId === priceId)
      const delta = (now === undefined ? 0n : BigInt(now.amount) * BigInt(now.quantity)) - (was === undefined ? 0n : BigInt(was.amount) * BigInt(was.quantity))
      if (delta === 0n) return []
      const item = now ?? was as Item
      const quantity = Math.abs((now?.quantity ?? 0) - (was?.quantity ?? 0))
      return [{ item: { ...item, quantity }, total: BigInt(Math.round(Number(delta) * rate)), proration: { rate: rate.toFixed(5), billing_period: prorationPeriod } }]
    })
    const transaction = new TransactionDraft({
      origin: 'subscription_update', subscription: this.subscription, billingPeriod: period, lines, customData: this.customData,
    }, this.now)
    this.txn(transaction, 'transaction.created', 'transaction.billed')
    if (transaction.grandTotal > 0n) this.collect(transaction)
    else this.complete(transaction) // a credit to the customer's balance: nothing to collect
  }
}

const ACTIVE = ['active'] as const
const TRIALING = ['trialing'] as const

export const LIFECYCLES: Lifecycle[] = [
  {
    name: 'renewal',
    summary: 'the period ends, Paddle bills the next one and collects it',
    from: ACTIVE,
    play: (play) => {
      play.at(play.periodEnd)
      play.collect(play.startPeriod('subscription.updated'))
    },
  },
  {
    name: 'renewal-failed-recovered',
    summary: 'the renewal charge is declined (past due), a retry two days later succeeds',
    from: ACTIVE,
    play: (play) => {
      const renewal = play.failedRenewal()
      play.later(2 * 86_400)
      renewal.attempt(play.now, 'captured').set({ status: 'paid' })
      play.txn(renewal, 'transaction.updated', 'transaction.paid')
      play.subscription.set({ status: 'active' })
      play.sub('subscription.updated')
      play.complete(renewal)
    },
  },
  {
    name: 'past-due-canceled',
    summary: 'the renewal charge is declined (past due), dunning gives up after 30 days and cancels',
    from: ACTIVE,
    play: (play) => {
      const renewal = play.failedRenewal()
      play.later(30 * 86_400)
      play.cancelNow()
      renewal.set({ status: 'canceled' })
      play.txn(renewal, 'transaction.updated', 'transaction.canceled')
    },
  },
  {
    name: 'pause-resume',
    summary: 'a pause scheduled for the period end takes effect; a week later the customer resumes and is billed',
    from: ACTIVE,
    play: (play) => {
      const end = play.periodEnd
      play.scheduleChange('pause', end)
      play.at(end)
      play.subscription.set({ status: 'paused', paused_at: play.now, current_billing_period: null, next_billed_at: null, scheduled_change: null })
      play.sub('subscription.updated', 'subscription.paused')
      play.later(7 * 86_400)
      play.subscription.set({ status: 'active', paused_at: null })
      play.collect(play.startPeriod('subscription.updated', 'subscription.resumed'))
    },
  },
  {
    name: 'cancel-scheduled-removed',
    summary: 'a cancellation is scheduled for the period end, then removed an hour later',
    from: ACTIVE,
    play: (play) => {
      play.scheduleChange('cancel', play.periodEnd)
      play.later(3600)
      play.subscription.set({ scheduled_change: null })
      play.sub('subscription.updated')
    },
  },
  {
    name: 'cancel-effective',
    summary: 'a cancellation is scheduled for the period end and takes effect then',
    from: ACTIVE,
    play: (play) => {
      const end = play.periodEnd
      play.scheduleChange('cancel', end)
      play.at(end)
      play.cancelNow()
    },
  },
  {
    name: 'plan-upgrade',
    summary: 'one more of the first item (a seat), prorated and charged at once',
    from: ACTIVE,
    play: (play) => {
      const [first, ...rest] = play.subscription.items
      if (first === undefined) throw new UsageError(`${play.stored.id} has no items to upgrade`)
      play.changeItems([{ ...first, quantity: first.quantity + 1 }, ...rest])
    },
  },
  {
    name: 'plan-downgrade',
    summary: 'one fewer of the first item (or the last item removed), prorated: a credit to the balance',
    from: ACTIVE,
    play: (play) => {
      const [first, ...rest] = play.subscription.items
      if (first !== undefined && first.quantity > 1) play.changeItems([{ ...first, quantity: first.quantity - 1 }, ...rest])
      else if (first !== undefined && rest.length > 0) play.changeItems(play.subscription.items.slice(0, -1))
      else throw new UsageError(`${play.stored.id} has one item of quantity 1: nothing to downgrade (play plan-upgrade first)`)
    },
  },
  {
    name: 'refund',
    summary: 'a full refund of its latest completed transaction is requested, then approved ten minutes later',
    from: ['active', 'past_due', 'paused', 'canceled', 'trialing'],
    play: async (play) => {
      const refunded = await latestCompletedTransaction(play)
      play.at(null)
      const adjustment = refundAdjustment({
        transactionId: refunded.id,
        subscriptionId: play.stored.id,
        customerId: play.subscription.customerId,
        currency: refunded.currencyCode ?? play.subscription.currency,
        total: refunded.totals.total ?? '0',
        at: play.now,
      })
      play.emit('adjustment.created', structuredClone(adjustment))
      play.later(600)
      play.emit('adjustment.updated', { ...adjustment, status: 'approved', updated_at: play.now })
    },
  },
  {
    name: 'trial-to-active',
    summary: 'the trial ends, Paddle bills the first period and the subscription becomes active',
    from: TRIALING,
    play: (play) => {
      play.at(play.stored.trialEndsAt ?? play.periodEnd)
      play.subscription.set({ status: 'active', first_billed_at: play.now })
      play.collect(play.startPeriod('subscription.updated', 'subscription.activated'))
    },
  },
  {
    name: 'trial-expires',
    summary: 'the customer cancels during the trial: it is canceled when the trial ends, never billed',
    from: TRIALING,
    play: (play) => {
      const end = play.stored.trialEndsAt ?? play.periodEnd
      play.scheduleChange('cancel', end)
      play.at(end)
      play.cancelNow()
    },
  },
]

async function latestCompletedTransaction (play: Play) {
  const timeline = await play.api.timeline(play.stored.id)
  const ids = [...new Set((timeline?.events ?? []).filter((event) => event.entityType === 'transaction' && event.entityId !== null)
    .map((event) => event.entityId as string))].reverse()
  for (const id of ids) {
    const transaction = await play.api.transaction(id)
    if (transaction?.status === 'completed') return transaction
  }
  throw new UsageError(`${play.stored.id} has no completed transaction to refund`)
}

/**
 * The subscription as the service holds it: its state (GET /internal/subscriptions/:id) over the
 * genuine subscription fixture, with the prices, billing cycles and trial dates of the last
 * projection it stored (GET /internal/admin/events/:id), and the instant the play may start at.
 */
export async function loadPlay (api: ServiceApi, subscriptionId: string, accountKey: string, lifecycle: Lifecycle): Promise<Play> {
  const stored = await api.subscription(subscriptionId)
  if (stored === null) throw new UsageError(`the service has no subscription ${subscriptionId}`)
  if (!lifecycle.from.includes(stored.status)) {
    throw new UsageError(`${lifecycle.name} plays on a subscription that is ${lifecycle.from.join(' or ')}; ${subscriptionId} is ${stored.status}`)
  }
  const timeline = await api.timeline(subscriptionId)
  const events = timeline?.events ?? []
  let projection: JsonObject | null = null
  for (const event of [...events].reverse()) {
    if (event.entityType !== 'subscription' || event.outcome !== 'applied') continue
    projection = (await api.event(event.eventId))?.payload ?? null
    if (projection !== null) break
  }

  const data = fixtureData('subscription.updated')
  const projected = (key: string) => projection?.[key] ?? null
  const customData = isObject(projection?.custom_data)
    ? projection.custom_data
    : stored.accountId === null ? null : { [accountKey]: stored.accountId }
  Object.assign(data, {
    id: stored.id,
    status: stored.status,
    customer_id: stored.customerId,
    business_id: null,
    currency_code: stored.currencyCode ?? 'USD',
    collection_mode: projected('collection_mode') ?? 'automatic',
    created_at: projected('created_at') ?? stored.startedAt,
    started_at: stored.startedAt,
    first_billed_at: stored.firstBilledAt,
    next_billed_at: stored.nextBilledAt,
    paused_at: stored.pausedAt,
    canceled_at: stored.canceledAt,
    current_billing_period: stored.currentBillingPeriod === null
      ? null
      : { starts_at: stored.currentBillingPeriod.startsAt, ends_at: stored.currentBillingPeriod.endsAt },
    billing_cycle: stored.billingCycle ?? projected('billing_cycle') ?? { interval: 'month', frequency: 1 },
    scheduled_change: stored.scheduledChange === null
      ? null
      : { action: stored.scheduledChange.action, effective_at: stored.scheduledChange.effectiveAt, resume_at: stored.scheduledChange.resumeAt },
    discount: projected('discount'),
    import_meta: projected('import_meta'),
    billing_details: null,
    custom_data: customData,
    items: [],
  })

  const projectedItems = Array.isArray(projection?.items) ? projection.items.filter(isObject) : []
  const fallbackPrice = (fixtureData('subscription.updated').items as JsonObject[])[0]?.price as JsonObject
  const items: Item[] = stored.items.map((item) => {
    const known = projectedItems.find((candidate) => candidate.price_id === item.priceId)
    const unitPrice = isObject(known?.unit_price) ? known.unit_price : isObject(fallbackPrice.unit_price) ? fallbackPrice.unit_price : {}
    const cycle = isObject(known?.billing_cycle) ? known.billing_cycle : stored.billingCycle
    const trialDates = isObject(known?.trial_dates) ? known.trial_dates : null
    return {
      priceId: item.priceId,
      productId: item.productId,
      quantity: item.quantity,
      amount: typeof unitPrice.amount === 'string' ? unitPrice.amount : '0',
      cycle: isObject(cycle) && typeof cycle.interval === 'string' && typeof cycle.frequency === 'number' ? { interval: cycle.interval, frequency: cycle.frequency } : null,
      trialEndsAt: typeof trialDates?.ends_at === 'string' ? trialDates.ends_at : stored.status === 'trialing' ? stored.trialEndsAt : null,
    }
  })

  // Not before now, and after everything the service holds of the subscription.
  const instants = [BigInt(Date.now()) * 1000n, ...[stored.updatedAt, ...events.map((event) => event.occurredAt)]
    .filter((at): at is string => at !== null).map((at) => micros(at) + 1000n)]
  const start = instants.reduce((latest, at) => at > latest ? at : latest)
  return new Play(new SubscriptionDraft(data, items), stored, customData, api, start - start % 1000n + 1000n)
}
