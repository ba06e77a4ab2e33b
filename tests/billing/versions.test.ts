import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { applyInboxEvent, type InboxEvent } from '#src/billing/apply-event.js'
import { compareVersions, entityVersion } from '#src/billing/version.js'
import { paddleInboxTable, subscriptionsTable } from '#src/db/schema.js'
import { useHarness } from '../helpers/harness.js'
import { at, DAY, freshIds, subscriptionEvent } from '../helpers/scenarios.js'

describe('version order', () => {
  it('orders by entity updated_at, then occurred_at, then event id', () => {
    const v = (updated: string, occurred: string, id: string) => entityVersion(updated, occurred, id)
    expect(compareVersions(v(at(2), at(1), 'evt_a'), v(at(1), at(9), 'evt_z'))).toBe('newer')
    expect(compareVersions(v(at(1), at(2), 'evt_a'), v(at(1), at(1), 'evt_z'))).toBe('newer')
    expect(compareVersions(v(at(1), at(1), 'evt_b'), v(at(1), at(1), 'evt_a'))).toBe('newer')
    expect(compareVersions(v(at(1), at(1), 'evt_a'), v(at(1), at(1), 'evt_a'))).toBe('same')
    expect(compareVersions(v(at(1), at(1), 'evt_a'), v(at(1), at(1), 'evt_b'))).toBe('older')
    expect(compareVersions(v(at(1), at(1), 'evt_a'), null)).toBe('newer')
    // A missing updated_at sorts before every real one.
    expect(compareVersions(entityVersion(null, at(5), 'evt_a'), v(at(1), at(1), 'evt_a'))).toBe('older')
  })

  it('compares microseconds that a JS Date would lose', () => {
    const earlier = entityVersion('2024-04-12T10:18:49.738971Z', at(0), 'evt_a')
    const later = entityVersion('2024-04-12T10:18:49.738972Z', at(0), 'evt_a')
    expect(compareVersions(later, earlier)).toBe('newer')
  })
})

describe('applying versions', () => {
  const harness = useHarness({ now: Date.parse(at(100 * DAY)) })
  const subscription = async (id: string) =>
    (await harness.database.handle.db.select().from(subscriptionsTable).where(eq(subscriptionsTable.id, id)))[0]
  const inboxRow = async (eventId: string) =>
    (await harness.database.handle.db.select().from(paddleInboxTable).where(eq(paddleInboxTable.eventId, eventId)))[0]

  it('lets an older event change nothing, and still marks it processed with a note', async () => {
    const ids = freshIds()
    const newer = subscriptionEvent('subscription.updated', ids, { status: 'past_due', time: 2 * DAY })
    const older = subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY })
    await harness.send(newer)
    const before = await subscription(ids.subscription)
    await harness.send(older)
    expect(await subscription(ids.subscription)).toEqual(before)
    expect(before?.status).toBe('past_due')
    expect(await inboxRow(older.event_id)).toMatchObject({ status: 'processed', outcome: 'stale', note: expect.stringContaining('older than the stored version') })
  })

  it('applies an equal version idempotently: same state, no transition', async () => {
    const ids = freshIds()
    const event = subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY })
    await harness.send(event)
    const stored = await subscription(ids.subscription)
    // What a redrive of an already processed event does: apply the same version again.
    const inboxEvent: InboxEvent | undefined = await inboxRow(event.event_id)
    if (inboxEvent === undefined) throw new Error('the event was not stored')
    const again = await harness.database.handle.transaction(async (tx) =>
      await applyInboxEvent(tx, inboxEvent, { accountIdKey: 'account_id' }))
    expect(again).toEqual({ outcome: 'applied', note: 'this version is already applied', transition: null, entitlementAccounts: [], relinked: null })
    expect(await subscription(ids.subscription)).toEqual(stored)
  })

  it('moves a canceled subscription out of canceled only for a strictly newer entity version', async () => {
    const ids = freshIds()
    await harness.send(subscriptionEvent('subscription.canceled', ids, { status: 'canceled', time: 10 * DAY, period: null, canceledAt: 10 * DAY }))
    // Same entity updated_at, later occurred_at: a re-sent fan-out, not a newer subscription.
    const sameEntity = subscriptionEvent('subscription.updated', ids, { status: 'active', time: 10 * DAY, occurredDelay: 60 })
    await harness.send(sameEntity)
    expect((await subscription(ids.subscription))?.status).toBe('canceled')
    expect(await inboxRow(sameEntity.event_id)).toMatchObject({ outcome: 'stale', note: expect.stringContaining('canceled') })

    const strictlyNewer = subscriptionEvent('subscription.updated', ids, { status: 'active', time: 11 * DAY })
    await harness.send(strictlyNewer)
    expect((await subscription(ids.subscription))?.status).toBe('active')
    expect(await inboxRow(strictlyNewer.event_id)).toMatchObject({ outcome: 'applied' })
  })

  it('keeps the checkout transaction named only by subscription.created, even when that event lost the version race', async () => {
    const ids = freshIds()
    const activated = subscriptionEvent('subscription.activated', ids, { status: 'active', time: DAY, occurredDelay: 1 })
    const created = subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY, transactionId: ids.checkout })
    await harness.send(activated)
    await harness.send(created)
    expect(await inboxRow(created.event_id)).toMatchObject({ outcome: 'stale' })
    expect((await subscription(ids.subscription))?.originTransactionId).toBe(ids.checkout)
  })
})
