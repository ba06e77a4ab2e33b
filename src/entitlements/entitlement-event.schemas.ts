/**
 * The contract with the receivers of entitlement.changed: served in the OpenAPI document and written
 * out as docs/entitlement-events.schema.json by `npm run entitlement-events:schema`.
 */
import { Type } from '@sinclair/typebox'
import { Nullable, Timestamp } from '../platform/schemas.js'
import { AccessSchema, Entitlement, ReasonSchema } from './entitlements.routes.js'

export const EntitlementChangedEvent = Type.Object({
  id: Type.String({ description: 'Unique per event; the Standard Webhooks webhook-id' }),
  type: Type.Literal('entitlement.changed'),
  idempotencyKey: Type.String({ description: 'entitlement.changed:<accountId>:<sequence>: the same change always has the same key' }),
  occurredAt: Timestamp,
  accountId: Type.String(),
  customerId: Type.Null(),
  subscriptionId: Nullable(Type.String({ description: 'The deciding subscription, if any' })),
  transactionId: Type.Null(),
  data: Type.Object({
    sequence: Type.Integer({ minimum: 1, description: 'Counts this account\'s changes: a receiver keeps the answer with the highest sequence and ignores older ones' }),
    entitlement: Entitlement,
    previous: Type.Object({ access: AccessSchema, reason: ReasonSchema }, { description: 'The answer before (denied / no_subscription for an account never told about)' }),
  }),
}, { $id: 'EntitlementEvent.entitlement.changed', title: 'entitlement.changed', description: 'An account\'s entitlement answer changed (GET /internal/accounts/:accountId/entitlement would now answer data.entitlement)' })

/** One standalone JSON Schema document. */
export function entitlementEventsJsonSchema (): Record<string, unknown> {
  const { $id: _id, ...event } = JSON.parse(JSON.stringify(EntitlementChangedEvent)) as Record<string, unknown>
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://tracksera.example/schemas/billing/entitlement-events.schema.json',
    ...event,
    title: 'TrackSera billing entitlement events',
    description: 'What GET /internal/entitlement-events serves and what is pushed to ENTITLEMENT_EVENTS_URL (Standard Webhooks). ' +
      'Apply the event with the highest data.sequence per account; deliveries may repeat (same idempotencyKey). Timestamps are RFC 3339 in UTC with microseconds.',
  }
}
