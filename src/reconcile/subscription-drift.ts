/**
 * Drift report and resync: compares our subscriptions with Paddle's (status, items, next billing
 * date, scheduled change) and, unless it is a dry run, applies Paddle's current state through the
 * same path as every event: a `subscription.updated` put into the inbox with `origin: reconcile`,
 * applied by the worker under the same version rule. A Paddle entity older than ours is therefore
 * `stale` and changes nothing: a resync never moves state backwards.
 *
 * The resync event's id is derived from the subscription and Paddle's updated_at, so asking twice
 * about the same version of a subscription stores one event; its occurred_at is that updated_at,
 * so the email age rule judges the change by when it happened, not by when we noticed it.
 */
import { findSubscriptions } from '../billing/billing.queries.js'
import { subscriptionItemsOf, type SubscriptionState } from '../billing/subscriptions.apply.js'
import type { DatabaseHandle } from '../db/client.js'
import type { InboxRow, InboxWriter } from '../intake/inbox-writer.js'
import { projectSubscription, type ProjectedSubscription } from '../paddle/projection.js'
import type { PaddleApi } from './paddle-api.js'
import { findInboxEvents, findSubscriptionsOtherThan } from './reconcile.repository.js'

export type DriftField = 'status' | 'items' | 'nextBilledAt' | 'scheduledChange'

export interface ScheduledChange { action: string | null, effectiveAt: string | null, resumeAt: string | null }
export interface ItemQuantity { priceId: string, quantity: number }

/** The fields compared, on either side. */
export interface SubscriptionSnapshot {
  id: string
  status: string | null
  items: ItemQuantity[]
  nextBilledAt: string | null
  scheduledChange: ScheduledChange | null
  updatedAt: string | null
}

export interface FieldDifference { field: DriftField, local: unknown, paddle: unknown }

/**
 * - `applied`: Paddle's state is now ours.
 * - `stale`: ours is as new as Paddle's or newer (an event arrived after Paddle listed it): kept.
 * - `queued`: in the inbox, not applied yet (no worker finished it in time).
 * - `failed`: the worker could not apply it; see GET /internal/admin/events.
 */
export type ResyncResult = 'applied' | 'stale' | 'queued' | 'failed'

export interface SubscriptionDrift {
  subscriptionId: string
  /** `unknown_to_paddle`: ours only (another environment's, or a test's); reported, never changed. */
  kind: 'differs' | 'missing_locally' | 'unknown_to_paddle'
  differences: FieldDifference[]
  localUpdatedAt: string | null
  paddleUpdatedAt: string | null
  result?: ResyncResult
  resyncEventId?: string
}

export interface DriftReport {
  dryRun: boolean
  /** Subscriptions Paddle listed. */
  checked: number
  drifted: number
  /** At most `maxReported` of them; `truncated` says there were more. */
  subscriptions: SubscriptionDrift[]
  truncated: boolean
}

export interface ReconcileDependencies {
  database: DatabaseHandle
  api: PaddleApi
  writer: InboxWriter
  customDataKeys: readonly string[]
  /** Wakes the workers after resync events were stored. */
  onStored?: () => void
  /** How long to wait for the workers to apply the resync events before answering `queued`. */
  applyWaitMs?: number
  maxReported?: number
}

/**
 * Compares every subscription Paddle has (or only `ids`) with ours. With `ids`, only those are
 * looked at; without, our subscriptions Paddle does not list are reported too.
 */
export async function reconcileSubscriptions (
  dependencies: ReconcileDependencies,
  options: { dryRun: boolean, ids?: string[] }
): Promise<DriftReport> {
  const { database, api } = dependencies
  const maxReported = dependencies.maxReported ?? 1000
  const report: DriftReport = { dryRun: options.dryRun, checked: 0, drifted: 0, subscriptions: [], truncated: false }
  const seen: string[] = []
  const queued: Array<{ drift: SubscriptionDrift, row: InboxRow }> = []
  const record = (drift: SubscriptionDrift): void => {
    report.drifted += 1
    if (report.subscriptions.length < maxReported) report.subscriptions.push(drift)
    else report.truncated = true
  }

  const pages = options.ids === undefined ? api.subscriptionPages() : api.subscriptionPages({ ids: options.ids })
  for await (const page of pages) {
    const projected = page.map((raw) => projectSubscription(raw, { customDataKeys: dependencies.customDataKeys }))
      .filter((subscription): subscription is ProjectedSubscription & { id: string } => subscription.id !== null)
    report.checked += projected.length
    const ids = projected.map((subscription) => subscription.id)
    seen.push(...ids)
    const locals = new Map((await findSubscriptions(database.db, { ids })).map((state) => [state.id, localSnapshot(state)]))
    for (const subscription of projected) {
      const local = locals.get(subscription.id) ?? null
      const paddle = paddleSnapshot(subscription)
      const differences = compareSnapshots(local, paddle)
      if (local !== null && differences.length === 0) continue
      const drift: SubscriptionDrift = {
        subscriptionId: subscription.id,
        kind: local === null ? 'missing_locally' : 'differs',
        differences,
        localUpdatedAt: local?.updatedAt ?? null,
        paddleUpdatedAt: paddle.updatedAt,
      }
      record(drift)
      if (!options.dryRun) queued.push({ drift, row: resyncEvent(subscription) })
    }
  }
  if (options.ids === undefined) {
    for (const local of await findSubscriptionsOtherThan(database.db, seen)) {
      record({ subscriptionId: local.id, kind: 'unknown_to_paddle', differences: [], localUpdatedAt: local.paddleUpdatedAt, paddleUpdatedAt: null })
    }
  }
  if (queued.length > 0) await applyResyncEvents(dependencies, queued)
  return report
}

async function applyResyncEvents (dependencies: ReconcileDependencies, queued: Array<{ drift: SubscriptionDrift, row: InboxRow }>): Promise<void> {
  const { database, writer } = dependencies
  await Promise.all(queued.map(async ({ row }) => await writer.insert(row)))
  dependencies.onStored?.()
  const eventIds = queued.map(({ row }) => row.eventId)
  const deadline = Date.now() + (dependencies.applyWaitMs ?? 10_000)
  let outcomes = new Map<string, ResyncResult>()
  for (;;) {
    outcomes = new Map((await findInboxEvents(database.db, eventIds)).map((row) => [row.eventId, resultOf(row.status, row.outcome)]))
    const waiting = [...outcomes.values()].some((result) => result === 'queued')
    if (!waiting || Date.now() >= deadline) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  for (const { drift, row } of queued) {
    drift.resyncEventId = row.eventId
    drift.result = outcomes.get(row.eventId) ?? 'queued'
  }
}

function resultOf (status: string, outcome: string | null): ResyncResult {
  if (status === 'processed') return outcome === 'stale' ? 'stale' : 'applied'
  if (status === 'dead') return 'failed'
  // pending, or failed with a retry scheduled
  return 'queued'
}

/** Paddle's current subscription as an inbox event (see the module comment). */
export function resyncEvent (subscription: ProjectedSubscription & { id: string }): InboxRow {
  const version = subscription.updated_at ?? subscription.created_at ?? '1970-01-01T00:00:00.000000Z'
  return {
    eventId: `resync_${subscription.id}_${version.replace(/\D/g, '')}`,
    notificationId: null,
    eventType: 'subscription.updated',
    entityType: 'subscription',
    entityId: subscription.id,
    customerId: subscription.customer_id,
    subscriptionId: subscription.id,
    occurredAt: version,
    origin: 'reconcile',
    payload: subscription,
  }
}

export function compareSnapshots (local: SubscriptionSnapshot | null, paddle: SubscriptionSnapshot): FieldDifference[] {
  const differences: FieldDifference[] = []
  const compare = (field: DriftField, ours: unknown, theirs: unknown): void => {
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) differences.push({ field, local: ours, paddle: theirs })
  }
  compare('status', local?.status ?? null, paddle.status)
  compare('items', local?.items ?? [], paddle.items)
  compare('nextBilledAt', local?.nextBilledAt ?? null, paddle.nextBilledAt)
  compare('scheduledChange', local?.scheduledChange ?? null, paddle.scheduledChange)
  return differences
}

export function paddleSnapshot (subscription: ProjectedSubscription & { id: string }): SubscriptionSnapshot {
  const change = subscription.scheduled_change
  return {
    id: subscription.id,
    status: subscription.status,
    // As the worker stores them.
    items: subscriptionItemsOf(subscription.id, subscription.items).map(({ priceId, quantity }) => ({ priceId, quantity })),
    nextBilledAt: subscription.next_billed_at,
    scheduledChange: change === null || change.action === null
      ? null
      : { action: change.action, effectiveAt: change.effective_at, resumeAt: change.resume_at },
    updatedAt: subscription.updated_at,
  }
}

/** Ours, compared the same way: items as the worker stored them (subscriptionItemsOf), in price order. */
function localSnapshot (state: SubscriptionState): SubscriptionSnapshot {
  return {
    id: state.id,
    status: state.status,
    items: state.items.map(({ priceId, quantity }) => ({ priceId, quantity })),
    nextBilledAt: state.nextBilledAt,
    scheduledChange: state.scheduledChangeAction === null
      ? null
      : { action: state.scheduledChangeAction, effectiveAt: state.scheduledChangeEffectiveAt, resumeAt: state.scheduledChangeResumeAt },
    updatedAt: state.paddleUpdatedAt,
  }
}
