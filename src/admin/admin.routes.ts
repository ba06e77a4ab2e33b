/**
 * For operators: the inbox's dead, failed and pending events, a redrive, and a subscription's
 * timeline ("why does this customer have that status?" in one call).
 */
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ConflictError, NotFoundError } from '../platform/errors.js'
import { errorResponses, ErrorResponse, Nullable, NullableTimestamp, paddleId, Timestamp } from '../platform/schemas.js'
import { listEvents, redrive, subscriptionTimeline } from './admin.repository.js'
import { findInboxEvent } from './inbox-event.repository.js'

const InboxEvent = Type.Object({
  eventId: Type.String(),
  eventType: Type.String(),
  entityType: Type.String(),
  entityId: Nullable(Type.String()),
  customerId: Nullable(Type.String()),
  subscriptionId: Nullable(Type.String()),
  origin: Type.String({ description: 'webhook, reconcile or backfill' }),
  occurredAt: Timestamp,
  receivedAt: Timestamp,
  status: Type.String({ description: 'pending, failed (a retry is scheduled), processed, ignored or dead' }),
  outcome: Nullable(Type.String({ description: 'applied, stale or ignored' })),
  note: Nullable(Type.String()),
  attempts: Type.Integer(),
  nextAttemptAt: NullableTimestamp,
  lastError: Nullable(Type.String()),
  processedAt: NullableTimestamp,
})

const EventId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$' })

export interface AdminRoutesOptions {
  /** Wakes the workers after a redrive. */
  onRedrive?: () => void
}

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRoutesOptions> = async (app, options) => {
  const { database } = app

  app.get('/admin/events', {
    schema: {
      tags: ['admin'],
      summary: 'Inbox events by status, newest first',
      querystring: Type.Object({
        status: Type.Union([Type.Literal('dead'), Type.Literal('failed'), Type.Literal('pending')]),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ events: Type.Array(InboxEvent) }), ...errorResponses },
    },
  }, async (request) => ({ events: await listEvents(database, request.query.status, request.query.limit) }))

  app.get('/admin/events/:eventId', {
    schema: {
      tags: ['admin'],
      summary: 'One inbox event, with the allow-listed projection the service kept of it',
      description: '`payload` is the projection (never the body as received), or null for an entity type the service does not act on ' +
        'and once the payload is past INBOX_PAYLOAD_RETENTION_DAYS. Customer events\' projections hold the name and email (erasable).',
      params: Type.Object({ eventId: EventId }),
      response: {
        200: Type.Intersect([InboxEvent, Type.Object({
          notificationId: Nullable(Type.String()),
          payload: Nullable(Type.Record(Type.String(), Type.Unknown())),
        })]),
        ...errorResponses,
      },
    },
  }, async (request) => {
    const event = await findInboxEvent(database, request.params.eventId)
    if (event === null) throw new NotFoundError('Event')
    return event
  })

  app.post('/admin/events/:eventId/redrive', {
    schema: {
      tags: ['admin'],
      summary: 'Apply a dead or failed event again, now',
      params: Type.Object({ eventId: EventId }),
      response: { 202: Type.Object({ eventId: Type.String(), status: Type.Literal('pending') }), 409: ErrorResponse, ...errorResponses },
    },
  }, async (request, reply) => {
    const result = await redrive(database, request.params.eventId)
    if (result === 'not_found') throw new NotFoundError('Event')
    if (result === 'not_redrivable') throw new ConflictError('only a dead or failed event can be redriven')
    if (result === 'payload_gone') throw new ConflictError('the event\'s payload is past its retention and cannot be applied again')
    options.onRedrive?.()
    request.log.info({ event_id: request.params.eventId }, 'paddle event redriven')
    return await reply.status(202).send({ eventId: request.params.eventId, status: 'pending' })
  })

  app.get('/subscriptions/:subscriptionId/timeline', {
    schema: {
      tags: ['admin'],
      summary: 'Every Paddle event that touched a subscription, in order, with what it did and why',
      description: 'The subscription\'s own events and those of its transactions (including its checkout) and adjustments, ' +
        'each with its status, outcome (applied, stale, ignored) and note, and the email events it produced.',
      params: Type.Object({ subscriptionId: paddleId('sub', 'Paddle subscription id') }),
      response: {
        200: Type.Object({
          subscription: Nullable(Type.Object({ id: Type.String(), status: Type.String(), version: Type.String(), accountId: Nullable(Type.String()) })),
          events: Type.Array(Type.Intersect([InboxEvent, Type.Object({
            emailEvents: Type.Array(Type.Object({ id: Type.String(), type: Type.String(), status: Type.String() })),
          })])),
        }),
        ...errorResponses,
      },
    },
  }, async (request) => {
    const timeline = await subscriptionTimeline(database, request.params.subscriptionId)
    if (timeline.subscription === null && timeline.events.length === 0) throw new NotFoundError('Subscription')
    return timeline
  })
}
