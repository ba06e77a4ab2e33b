import { EventName } from '@paddle/paddle-node-sdk'

/** The entities whose events change billing state. Events of every other entity are recorded, not acted on. */
export const TRACKED_ENTITY_TYPES = ['subscription', 'transaction', 'customer', 'adjustment'] as const
export type TrackedEntityType = typeof TRACKED_ENTITY_TYPES[number]

/** Every event type Paddle's SDK knows; anything else is still accepted and recorded. */
export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(EventName))

/** `subscription.past_due` -> `subscription`; `api_key_exposure.created` -> `api_key_exposure`. */
export function entityTypeOf (eventType: string): string {
  const dot = eventType.indexOf('.')
  return dot === -1 ? eventType : eventType.slice(0, dot)
}

export function isTrackedEntityType (entityType: string): entityType is TrackedEntityType {
  return (TRACKED_ENTITY_TYPES as readonly string[]).includes(entityType)
}
