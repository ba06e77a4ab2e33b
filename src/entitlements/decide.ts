/**
 * Is this account paid up? A pure function of the account's subscriptions, the policy and the time,
 * so that a scheduled cancellation takes effect at its date without waiting for a webhook.
 */
import { addDays } from '../platform/timestamps.js'

export interface EntitlementPolicy {
  pastDueGraceDays: number
  pausedAccess: boolean
  trialAccess: boolean
}

export type Access = 'granted' | 'grace' | 'denied'
export type EntitlementReason =
  | 'active' | 'trialing' | 'past_due_grace' | 'cancel_scheduled' | 'pause_scheduled'
  | 'past_due' | 'paused' | 'canceled' | 'no_subscription'

/** The subscription fields the decision reads (canonical timestamps). */
export interface EntitlementSubscription {
  id: string
  status: string
  currentPeriodStartsAt: string | null
  currentPeriodEndsAt: string | null
  nextBilledAt: string | null
  trialEndsAt: string | null
  scheduledChangeAction: string | null
  scheduledChangeEffectiveAt: string | null
  scheduledChangeResumeAt: string | null
}

export interface Decision<S extends EntitlementSubscription = EntitlementSubscription> {
  access: Access
  reason: EntitlementReason
  /** When this answer stops holding, or null when nothing scheduled ends it. */
  until: string | null
  subscription: S | null
}

export function decideEntitlement<S extends EntitlementSubscription> (subscriptions: readonly S[], policy: EntitlementPolicy, now: string): Decision<S> {
  let best: Decision<S> | null = null
  for (const subscription of subscriptions) {
    const decision = { ...decideOne(subscription, policy, now), subscription }
    if (best === null || isMoreGenerous(decision, best)) best = decision
  }
  return best ?? { access: 'denied', reason: 'no_subscription', until: null, subscription: null }
}

type OneDecision = Omit<Decision, 'subscription'>

function decideOne (subscription: EntitlementSubscription, policy: EntitlementPolicy, now: string): OneDecision {
  if (subscription.status === 'canceled') return canceled()
  // A scheduled change whose date has passed has happened, webhook or not.
  const scheduled = scheduledChange(subscription, now)
  if (scheduled?.due === true) return scheduled.action === 'cancel' ? canceled() : paused(subscription, policy)
  switch (subscription.status) {
    case 'active': {
      if (scheduled?.action === 'cancel') return { access: 'granted', reason: 'cancel_scheduled', until: scheduled.effectiveAt }
      if (scheduled?.action === 'pause') return { access: 'granted', reason: 'pause_scheduled', until: scheduled.effectiveAt }
      const periodEnd = subscription.currentPeriodEndsAt ?? subscription.nextBilledAt
      // Paddle renews at the period's end and says so at once; a period that ended without word of the
      // renewal (a lost webhook) gets the past-due grace rather than a lockout or access forever.
      if (periodEnd !== null && now >= periodEnd) return graceFrom(periodEnd, policy, now)
      return { access: 'granted', reason: 'active', until: periodEnd }
    }
    case 'trialing': {
      const trialEnd = subscription.trialEndsAt ?? subscription.currentPeriodEndsAt ?? subscription.nextBilledAt
      // The trial is over and Paddle has not said yet whether the first charge went through:
      // the same grace as a failed renewal, counted from the trial's end.
      if (trialEnd !== null && now >= trialEnd) return graceFrom(trialEnd, policy, now)
      if (!policy.trialAccess) return { access: 'denied', reason: 'trialing', until: trialEnd }
      if (scheduled?.action === 'cancel') return { access: 'granted', reason: 'cancel_scheduled', until: scheduled.effectiveAt }
      if (scheduled?.action === 'pause') return { access: 'granted', reason: 'pause_scheduled', until: scheduled.effectiveAt }
      return { access: 'granted', reason: 'trialing', until: trialEnd }
    }
    case 'past_due':
      // Paddle moves the billing period on when it tries to renew: the paid period ended where this one starts.
      return graceFrom(subscription.currentPeriodStartsAt ?? subscription.currentPeriodEndsAt, policy, now)
    case 'paused':
      return paused(subscription, policy)
    default:
      // Not a status Paddle documents; the apply step refuses those, so this is only a safe default.
      return canceled()
  }
}

function graceFrom (paidUntil: string | null, policy: EntitlementPolicy, now: string): OneDecision {
  if (paidUntil === null) return { access: 'denied', reason: 'past_due', until: null }
  const graceEnd = addDays(paidUntil, policy.pastDueGraceDays)
  return now < graceEnd
    ? { access: 'grace', reason: 'past_due_grace', until: graceEnd }
    : { access: 'denied', reason: 'past_due', until: null }
}

function paused (subscription: EntitlementSubscription, policy: EntitlementPolicy): OneDecision {
  const resumeAt = subscription.scheduledChangeAction === 'resume' ? subscription.scheduledChangeEffectiveAt : subscription.scheduledChangeResumeAt
  return { access: policy.pausedAccess ? 'granted' : 'denied', reason: 'paused', until: resumeAt }
}

function canceled (): OneDecision {
  return { access: 'denied', reason: 'canceled', until: null }
}

function scheduledChange (subscription: EntitlementSubscription, now: string): { action: string, effectiveAt: string | null, due: boolean } | null {
  const action = subscription.scheduledChangeAction
  if (action !== 'cancel' && action !== 'pause') return null
  const effectiveAt = subscription.scheduledChangeEffectiveAt
  return { action, effectiveAt, due: effectiveAt !== null && now >= effectiveAt }
}

const ACCESS_RANK: Record<Access, number> = { granted: 2, grace: 1, denied: 0 }

/** Most access first; then the answer that holds longest (no end beats any end); then a stable order. */
function isMoreGenerous (candidate: Decision, current: Decision): boolean {
  const rank = ACCESS_RANK[candidate.access] - ACCESS_RANK[current.access]
  if (rank !== 0) return rank > 0
  if (candidate.access !== 'denied' && candidate.until !== current.until) {
    if (candidate.until === null) return true
    if (current.until === null) return false
    return candidate.until > current.until
  }
  return (candidate.subscription?.id ?? '') < (current.subscription?.id ?? '')
}
