import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decideEntitlement, type Access, type EntitlementPolicy, type EntitlementSubscription } from '#src/entitlements/decide.js'
import { addDays, addSeconds } from '#src/platform/timestamps.js'

const START = '2026-03-01T09:00:00.000000Z'
const END = addDays(START, 30)
const MICROSECOND = 0.000001
const before = (instant: string): string => addSeconds(instant, -MICROSECOND)

const POLICY: EntitlementPolicy = { pastDueGraceDays: 14, pausedAccess: false, trialAccess: true }
const GRACE_END = addDays(START, POLICY.pastDueGraceDays)

function subscription (fields: Partial<EntitlementSubscription> = {}): EntitlementSubscription {
  return {
    id: 'sub_01a',
    status: 'active',
    currentPeriodStartsAt: START,
    currentPeriodEndsAt: END,
    nextBilledAt: END,
    trialEndsAt: null,
    scheduledChangeAction: null,
    scheduledChangeEffectiveAt: null,
    scheduledChangeResumeAt: null,
    ...fields,
  }
}

/** The decision for one subscription, without the subscription (checked separately). */
function decideOne (fields: Partial<EntitlementSubscription>, now: string, policy: Partial<EntitlementPolicy> = {}) {
  const only = subscription(fields)
  const { subscription: decidedBy, ...decision } = decideEntitlement([only], { ...POLICY, ...policy }, now)
  expect(decidedBy).toBe(only)
  return decision
}

describe('decideEntitlement', () => {
  describe('an active subscription', () => {
    it('is granted until the end of the current billing period', () => {
      expect(decideOne({}, addDays(START, 3))).toEqual({ access: 'granted', reason: 'active', until: END })
    })

    it('is granted until the next billing date when Paddle sent no current period', () => {
      const nextBilledAt = addDays(START, 31)
      expect(decideOne({ currentPeriodStartsAt: null, currentPeriodEndsAt: null, nextBilledAt }, START))
        .toEqual({ access: 'granted', reason: 'active', until: nextBilledAt })
    })

    it('gets the past-due grace, counted from the period end, when the period ended without word of the renewal', () => {
      expect(decideOne({}, before(END))).toEqual({ access: 'granted', reason: 'active', until: END })
      expect(decideOne({}, END)).toEqual({ access: 'grace', reason: 'past_due_grace', until: addDays(END, 14) })
      expect(decideOne({}, addDays(END, 14))).toEqual({ access: 'denied', reason: 'past_due', until: null })
    })
  })

  describe('a past-due subscription', () => {
    it('is in grace, counted from the start of the current period, until one microsecond before the grace ends', () => {
      expect(decideOne({ status: 'past_due' }, before(GRACE_END)))
        .toEqual({ access: 'grace', reason: 'past_due_grace', until: GRACE_END })
    })

    it('is denied from the exact end of the grace, although the current period runs on', () => {
      expect(decideOne({ status: 'past_due' }, GRACE_END)).toEqual({ access: 'denied', reason: 'past_due', until: null })
      expect(decideOne({ status: 'past_due' }, before(END))).toEqual({ access: 'denied', reason: 'past_due', until: null })
    })

    it('has no grace at all with pastDueGraceDays 0', () => {
      expect(decideOne({ status: 'past_due' }, START, { pastDueGraceDays: 0 }))
        .toEqual({ access: 'denied', reason: 'past_due', until: null })
    })

    it('is denied when Paddle sent no billing period to count the grace from', () => {
      expect(decideOne({ status: 'past_due', currentPeriodStartsAt: null, currentPeriodEndsAt: null }, START))
        .toEqual({ access: 'denied', reason: 'past_due', until: null })
    })
  })

  describe('a trialing subscription', () => {
    const TRIAL_END = addDays(START, 14)
    const TRIAL_GRACE_END = addDays(TRIAL_END, POLICY.pastDueGraceDays)
    const trialing = { status: 'trialing', currentPeriodEndsAt: TRIAL_END, nextBilledAt: TRIAL_END, trialEndsAt: TRIAL_END }

    it('is granted until the trial ends', () => {
      expect(decideOne(trialing, before(TRIAL_END))).toEqual({ access: 'granted', reason: 'trialing', until: TRIAL_END })
    })

    it('takes the trial end from the current period when the items carry no trial dates', () => {
      expect(decideOne({ ...trialing, trialEndsAt: null, currentPeriodEndsAt: END }, START))
        .toEqual({ access: 'granted', reason: 'trialing', until: END })
    })

    it('gets the past-due grace, counted from the trial end, when no newer event came at the trial end', () => {
      expect(decideOne(trialing, TRIAL_END)).toEqual({ access: 'grace', reason: 'past_due_grace', until: TRIAL_GRACE_END })
      expect(decideOne(trialing, before(TRIAL_GRACE_END))).toEqual({ access: 'grace', reason: 'past_due_grace', until: TRIAL_GRACE_END })
    })

    it('is denied once that grace is over', () => {
      expect(decideOne(trialing, TRIAL_GRACE_END)).toEqual({ access: 'denied', reason: 'past_due', until: null })
    })

    it('is denied with TRIAL_ACCESS false', () => {
      expect(decideOne(trialing, START, { trialAccess: false })).toMatchObject({ access: 'denied', reason: 'trialing' })
    })

    it('honours a cancellation scheduled during the trial', () => {
      const canceling = { ...trialing, scheduledChangeAction: 'cancel', scheduledChangeEffectiveAt: TRIAL_END }
      expect(decideOne(canceling, before(TRIAL_END))).toEqual({ access: 'granted', reason: 'cancel_scheduled', until: TRIAL_END })
      expect(decideOne(canceling, TRIAL_END)).toEqual({ access: 'denied', reason: 'canceled', until: null })
    })
  })

  describe('a scheduled cancellation', () => {
    const EFFECTIVE = END
    const canceling = { scheduledChangeAction: 'cancel', scheduledChangeEffectiveAt: EFFECTIVE }

    it('keeps access until its effective date', () => {
      expect(decideOne(canceling, before(EFFECTIVE))).toEqual({ access: 'granted', reason: 'cancel_scheduled', until: EFFECTIVE })
    })

    it('denies from its effective date on, while the status is still active (no webhook yet)', () => {
      expect(decideOne(canceling, EFFECTIVE)).toEqual({ access: 'denied', reason: 'canceled', until: null })
      expect(decideOne(canceling, addDays(EFFECTIVE, 2))).toEqual({ access: 'denied', reason: 'canceled', until: null })
    })
  })

  describe('a scheduled pause', () => {
    const EFFECTIVE = END
    const RESUME = addDays(END, 20)
    const pausing = { scheduledChangeAction: 'pause', scheduledChangeEffectiveAt: EFFECTIVE, scheduledChangeResumeAt: RESUME }

    it('keeps access until its effective date', () => {
      expect(decideOne(pausing, before(EFFECTIVE))).toEqual({ access: 'granted', reason: 'pause_scheduled', until: EFFECTIVE })
    })

    it('follows the paused rules from its effective date on, while the status is still active', () => {
      expect(decideOne(pausing, EFFECTIVE)).toEqual({ access: 'denied', reason: 'paused', until: RESUME })
      expect(decideOne(pausing, EFFECTIVE, { pausedAccess: true })).toEqual({ access: 'granted', reason: 'paused', until: RESUME })
      expect(decideOne({ ...pausing, scheduledChangeResumeAt: null }, EFFECTIVE)).toEqual({ access: 'denied', reason: 'paused', until: null })
    })
  })

  describe('a paused subscription', () => {
    const paused = { status: 'paused', currentPeriodStartsAt: null, currentPeriodEndsAt: null, nextBilledAt: null }
    const RESUME = addDays(START, 10)

    it('is denied with PAUSED_ACCESS false, with no end when no resume is scheduled', () => {
      expect(decideOne(paused, START)).toEqual({ access: 'denied', reason: 'paused', until: null })
    })

    it('is granted with PAUSED_ACCESS true', () => {
      expect(decideOne(paused, START, { pausedAccess: true })).toEqual({ access: 'granted', reason: 'paused', until: null })
    })

    it('holds until a scheduled resume', () => {
      const resuming = { ...paused, scheduledChangeAction: 'resume', scheduledChangeEffectiveAt: RESUME }
      expect(decideOne(resuming, START)).toEqual({ access: 'denied', reason: 'paused', until: RESUME })
      expect(decideOne(resuming, START, { pausedAccess: true })).toEqual({ access: 'granted', reason: 'paused', until: RESUME })
    })
  })

  it('denies a canceled subscription', () => {
    const canceled = { status: 'canceled', currentPeriodStartsAt: null, currentPeriodEndsAt: null, nextBilledAt: null }
    expect(decideOne(canceled, START)).toEqual({ access: 'denied', reason: 'canceled', until: null })
  })

  it('denies an account without subscriptions: no_subscription, no subscription, no end', () => {
    expect(decideEntitlement([], POLICY, START)).toEqual({ access: 'denied', reason: 'no_subscription', until: null, subscription: null })
  })

  describe('several subscriptions', () => {
    const granted = subscription({ id: 'sub_01c' })
    const grace = subscription({ id: 'sub_01a', status: 'past_due' })
    const denied = subscription({ id: 'sub_01b', status: 'canceled' })

    it('grants when any one grants, and names that one', () => {
      for (const order of [[granted, grace, denied], [denied, grace, granted], [grace, granted, denied]]) {
        expect(decideEntitlement(order, POLICY, START)).toEqual({ access: 'granted', reason: 'active', until: END, subscription: granted })
      }
    })

    it('prefers grace to denied', () => {
      for (const order of [[grace, denied], [denied, grace]]) {
        expect(decideEntitlement(order, POLICY, START)).toMatchObject({ access: 'grace', reason: 'past_due_grace' })
        expect(decideEntitlement(order, POLICY, START).subscription).toBe(grace)
      }
    })

    it('among equal access, prefers the later until', () => {
      const canceling = subscription({ id: 'sub_01a', scheduledChangeAction: 'cancel', scheduledChangeEffectiveAt: addDays(END, 1) })
      for (const order of [[granted, canceling], [canceling, granted]]) {
        expect(decideEntitlement(order, POLICY, START)).toEqual({ access: 'granted', reason: 'cancel_scheduled', until: addDays(END, 1), subscription: canceling })
      }
    })

    it('among equal access, prefers no end to any end', () => {
      const paused = subscription({ id: 'sub_01z', status: 'paused' })
      for (const order of [[granted, paused], [paused, granted]]) {
        expect(decideEntitlement(order, { ...POLICY, pausedAccess: true }, START))
          .toEqual({ access: 'granted', reason: 'paused', until: null, subscription: paused })
      }
    })
  })

  describe('properties', () => {
    const RANK: Record<Access, number> = { denied: 0, grace: 1, granted: 2 }
    // A few anchor instants, so that untils and nows often coincide (the ties are where order could leak in).
    const anchors = [-40, -14, -1, 0, 1, 14, 30, 44].map((days) => addDays(START, days))
    const instant = fc.oneof(
      fc.constantFrom(...anchors),
      fc.integer({ min: -60 * 86_400, max: 90 * 86_400 }).map((seconds) => addSeconds(START, seconds))
    )
    const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null })
    const subscriptionArbitrary = fc.record({
      id: fc.integer({ min: 0, max: 30 }).map((n) => `sub_${n}`),
      status: fc.constantFrom('active', 'trialing', 'past_due', 'paused', 'canceled'),
      currentPeriodStartsAt: maybe(instant),
      currentPeriodEndsAt: maybe(instant),
      nextBilledAt: maybe(instant),
      trialEndsAt: maybe(instant),
      scheduledChangeAction: maybe(fc.constantFrom('cancel', 'pause', 'resume')),
      scheduledChangeEffectiveAt: maybe(instant),
      scheduledChangeResumeAt: maybe(instant),
    })
    const policyArbitrary = fc.record({
      pastDueGraceDays: fc.constantFrom(0, 1, 14, 30),
      pausedAccess: fc.boolean(),
      trialAccess: fc.boolean(),
    })
    const input = fc.uniqueArray(subscriptionArbitrary, { selector: (s) => s.id, maxLength: 6 }).chain((subscriptions) =>
      fc.tuple(fc.constant(subscriptions), fc.shuffledSubarray(subscriptions, { minLength: subscriptions.length }), policyArbitrary, instant))

    it('does not depend on the order of the subscriptions', () => {
      fc.assert(fc.property(input, ([subscriptions, shuffled, policy, now]) => {
        expect(decideEntitlement(shuffled, policy, now)).toEqual(decideEntitlement(subscriptions, policy, now))
      }), { numRuns: 2000 })
    })

    it('is at least as generous as each subscription alone, and is the deciding subscription\'s own decision', () => {
      fc.assert(fc.property(input, ([subscriptions, , policy, now]) => {
        const decision = decideEntitlement(subscriptions, policy, now)
        for (const one of subscriptions) {
          expect(RANK[decision.access]).toBeGreaterThanOrEqual(RANK[decideEntitlement([one], policy, now).access])
        }
        if (decision.subscription !== null) expect(decideEntitlement([decision.subscription], policy, now)).toEqual(decision)
      }), { numRuns: 2000 })
    })
  })
})
