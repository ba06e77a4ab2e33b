import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ConflictError, InvalidRequestError, NotFoundError } from '../platform/errors.js'
import { errorResponses, ErrorResponse } from '../platform/schemas.js'
import { EmailEvent, EMAIL_EVENT_SCHEMAS } from './email-event.schemas.js'
import { decodeCursor, encodeCursor, FEED_START, readFeed, redeliver } from './email-events.repository.js'

const Feed = Type.Object({
  events: Type.Array(EmailEvent),
  nextCursor: Type.String({ description: 'Pass as `after` next time; the same cursor again when there was nothing new' }),
})

export const emailEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of EMAIL_EVENT_SCHEMAS) app.addSchema(schema)

  app.get('/email-events', {
    schema: {
      tags: ['email events'],
      summary: 'The email events, in a stable order, from a cursor',
      description: 'Resume where you stopped with the last nextCursor. Events about changes older than ' +
        'EMAIL_EVENT_MAX_AGE_HOURS (suppressed) are not in the feed. Send one email per idempotencyKey.',
      querystring: Type.Object({
        after: Type.Optional(Type.String({ maxLength: 100, description: 'nextCursor of the previous call; omitted: from the start' })),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
      }, { additionalProperties: false }),
      response: { 200: Feed, ...errorResponses },
    },
  }, async (request, reply) => {
    const { after, limit } = request.query
    const cursor = after === undefined ? FEED_START : decodeCursor(after)
    if (cursor === null) throw new InvalidRequestError('after is not a cursor this API returned')
    const feed = await readFeed(app.database, cursor, limit)
    // Each event's schema is chosen by its type; the union would make the serializer try every one.
    const json: unknown = JSON.stringify({ events: feed.events, nextCursor: encodeCursor(feed.next) })
    return await reply.type('application/json; charset=utf-8').send(json as Static<typeof Feed>)
  })

  app.post('/email-events/:id/redeliver', {
    schema: {
      tags: ['email events'],
      summary: 'Put a dead email event back in the delivery queue',
      params: Type.Object({ id: Type.String({ pattern: '^eml_[a-z0-9]{1,64}$' }) }),
      response: { 202: Type.Object({ id: Type.String(), status: Type.Literal('pending') }), 409: ErrorResponse, ...errorResponses },
    },
  }, async (request, reply) => {
    const result = await redeliver(app.database, request.params.id)
    if (result === 'not_found') throw new NotFoundError('Email event')
    if (result === 'not_dead') throw new ConflictError('only a dead email event can be redelivered')
    request.log.info({ email_event_id: request.params.id }, 'email event put back for delivery')
    return await reply.status(202).send({ id: request.params.id, status: 'pending' })
  })
}
