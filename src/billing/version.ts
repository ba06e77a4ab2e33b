/**
 * Paddle delivers events late, twice and out of order. Every state row records the version it was
 * built from, and an event older than that version changes nothing.
 *
 * Version = (entity updated_at, event occurred_at, event_id), compared as a tuple. The entity's own
 * updated_at comes first because it is the truest clock (occurred_at ties happen: Paddle's
 * subscription.created and .activated share one). Encoded as one fixed-width string, so byte order
 * is tuple order, in TypeScript and in PostgreSQL (the column is COLLATE "C").
 */
const NO_TIMESTAMP = '0000-00-00T00:00:00.000000Z'

export function entityVersion (entityUpdatedAt: string | null, occurredAt: string, eventId: string): string {
  return `${entityUpdatedAt ?? NO_TIMESTAMP}|${occurredAt}|${eventId}`
}

export type VersionOrder = 'newer' | 'same' | 'older'

/** How an incoming version relates to the stored one (none stored: newer). */
export function compareVersions (incoming: string, stored: string | null | undefined): VersionOrder {
  if (stored === null || stored === undefined || stored === '') return 'newer'
  if (incoming === stored) return 'same'
  return incoming > stored ? 'newer' : 'older'
}

/** The entity updated_at part of a version. */
export function entityUpdatedAtOf (version: string): string {
  return version.slice(0, NO_TIMESTAMP.length)
}
